"""The log lines' way out: whole lines with os.write, and with ``defer`` one write per turn of
the event loop (what ``chainfsm run`` uses), never a line lost or out of order."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
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


@pytest.mark.usefixtures("restore_logger")
async def test_a_warning_is_never_held_and_goes_out_after_the_lines_held_before_it(
    pipe: tuple[int, TextIO],
) -> None:
    """A loop that never turns again (blocked, or an exit stuck in an fsync) must not keep an
    error line back: no turn of the loop happens between the log calls and the check."""
    read_fd, stream = pipe
    logs.configure("json", stream, defer=True)
    logs.event("held")
    assert pending(read_fd) == []
    logs.event("warned", logging.WARNING)
    assert pending(read_fd) == ["held", "warned"]
    logs.event("failed", logging.ERROR)
    assert pending(read_fd) == ["failed"]
    await asyncio.sleep(0)  # the flush scheduled for "held" finds nothing left
    assert pending(read_fd) == []


@pytest.mark.usefixtures("restore_logger")
async def test_held_lines_that_cannot_be_written_are_reported_not_dropped_silently(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A write that fails for another reason than a reader gone (here EBADF: the log's fd is
    open for reading only) goes to logging's own error report on sys.stderr."""
    path = tmp_path / "log"
    path.touch()
    with os.fdopen(os.open(path, os.O_RDONLY), "w") as stream:
        logs.configure("json", stream, defer=True)
        logs.event("lost")
        await asyncio.sleep(0)  # the flush
    err = capsys.readouterr().err
    assert "--- Logging error ---" in err
    assert "Bad file descriptor" in err
    assert "'lost'" in err  # the first held line's record names what was lost


@pytest.mark.usefixtures("restore_logger")
async def test_held_lines_with_the_reader_gone_are_dropped_quietly(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """EPIPE: the runtime closed the log's read end; there is nobody left to tell."""
    read_fd, write_fd = os.pipe()
    with os.fdopen(write_fd, "w") as stream:
        logs.configure("json", stream, defer=True)
        logs.event("unread")
        os.close(read_fd)
        await asyncio.sleep(0)  # the flush hits EPIPE
    assert capsys.readouterr().err == ""
