"""The structured lines an in-process agent logs, awaited one by one as they come."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from chainfsm import logs
from tests.support.constants import HANG_GUARD


class LogQueue(logging.Handler):
    """Every structured line the agent logs, as (event, fields), in order."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()

    def emit(self, record: logging.LogRecord) -> None:
        self.queue.put_nowait((str(record.msg), getattr(record, "fields", {})))

    async def until(self, event: str) -> dict[str, Any]:
        """The fields of the next line named ``event`` (the lines before it are consumed)."""
        async with asyncio.timeout(HANG_GUARD):
            while True:
                name, fields = await self.queue.get()
                if name == event:
                    return fields


@contextlib.contextmanager
def attached(handler: logging.Handler, level: int) -> Iterator[None]:
    """``handler`` on chainfsm's logger, set to ``level``, for the block; both undone after."""
    logs.log.addHandler(handler)
    before = logs.log.level
    logs.log.setLevel(level)
    try:
        yield
    finally:
        logs.log.removeHandler(handler)
        logs.log.setLevel(before)


@contextlib.contextmanager
def listening() -> Iterator[LogQueue]:
    """A LogQueue on chainfsm's logger, every level, for the block (tests/conftest.py's
    ``lines`` fixture)."""
    handler = LogQueue()
    with attached(handler, logging.DEBUG):
        yield handler
