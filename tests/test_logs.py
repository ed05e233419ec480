"""The log lines' way out: whole lines with os.write, and with ``defer`` one write per turn of
the event loop (what ``chainfsm run`` uses), never a line lost or out of order."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Iterator
from typing import TextIO

import pytest

from chainfsm import logs


@pytest.fixture
def pipe() -> Iterator[tuple[int, TextIO]]:
    """A pipe as the log goes to a container runtime: (read end, write end as a stream)."""
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    stream = os.fdopen(write_fd, "w")
    yield read_fd, stream
    stream.close()
    os.close(read_fd)


def pending(read_fd: int) -> list[str]:
    """The lines written to the pipe so far (without waiting for more)."""
    try:
        data = os.read(read_fd, 1 << 16)
    except BlockingIOError:
        return []
    return [json.loads(line)["event"] for line in data.decode().splitlines()]


@pytest.fixture
def restore_logger() -> Iterator[None]:
    handlers, level, propagate = list(logs.log.handlers), logs.log.level, logs.log.propagate
    yield
    logs.log.handlers[:] = handlers
    logs.log.setLevel(level)
    logs.log.propagate = propagate


@pytest.mark.usefixtures("restore_logger")
async def test_deferred_lines_go_out_together_at_the_next_turn_of_the_loop(
    pipe: tuple[int, TextIO],
) -> None:
    read_fd, stream = pipe
    logs.configure("json", stream, defer=True)
    for name in ("one", "two", "three"):
        logs.event(name)
    assert pending(read_fd) == []  # nothing yet: the agent's step is still running
    await asyncio.sleep(0)  # one turn of the loop, no clock involved
    assert pending(read_fd) == ["one", "two", "three"]
    logs.event("four")
    await asyncio.sleep(0)
    assert pending(read_fd) == ["four"]


@pytest.mark.usefixtures("restore_logger")
def test_deferred_lines_are_written_at_once_without_a_loop_and_held_ones_at_exit(
    pipe: tuple[int, TextIO],
) -> None:
    read_fd, stream = pipe
    logs.configure("json", stream, defer=True)
    logs.event("no loop here")
    assert pending(read_fd) == ["no loop here"]

    async def log_and_stop() -> None:
        logs.event("held")
        # The loop ends before its next turn: logging.shutdown's flush at exit writes it.
        asyncio.get_running_loop().stop()

    loop = asyncio.new_event_loop()
    try:
        task = loop.create_task(log_and_stop())
        loop.run_forever()
        assert task.done()
    finally:
        loop.close()
    assert pending(read_fd) == []
    for handler in logs.log.handlers:
        handler.flush()
    assert pending(read_fd) == ["held"]


@pytest.mark.usefixtures("restore_logger")
async def test_without_defer_each_line_is_written_at_once(pipe: tuple[int, TextIO]) -> None:
    read_fd, stream = pipe
    logs.configure("json", stream)
    logs.event("now", logging.WARNING)
    assert pending(read_fd) == ["now"]


@pytest.mark.usefixtures("restore_logger")
def test_a_text_line_stays_one_line_whatever_a_name_holds(pipe: tuple[int, TextIO]) -> None:
    read_fd, stream = pipe
    logs.configure("text", stream)
    logs.event("written", file="10-a\n\u2028b.conflist", reason="because\nof this")
    (line,) = os.read(read_fd, 1 << 16).decode().splitlines()
    assert line.endswith(r"written file=10-a\n\u2028b.conflist: because\nof this")
