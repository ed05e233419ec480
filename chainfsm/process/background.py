"""The process's background tasks: each named, its crash said at once (not at exit), and
cancelled and awaited when the process leaves its context."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from chainfsm import logs


@contextlib.asynccontextmanager
async def task(
    work: Coroutine[Any, Any, None],
    name: str,
    on_crash: Callable[[BaseException], None] | None = None,
) -> AsyncIterator[asyncio.Task[None]]:
    """Run ``work`` as the task ``name`` while the context lasts. A crash is one ``crashed``
    line, then ``on_crash``: what the task kept up to date must not go on looking current."""
    running = asyncio.create_task(work, name=name)

    def report(done: asyncio.Task[None]) -> None:
        if done.cancelled() or (error := done.exception()) is None:
            return
        logs.event("crashed", logging.ERROR, task=name, reason=repr(error))
        if on_crash is not None:
            on_crash(error)

    running.add_done_callback(report)
    try:
        yield running
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
