"""Structured log lines: one JSON object per line for machines, or ``key=value`` text."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from chainfsm.core.escaping import one_line, utf8

LOGGER_NAME = "chainfsm"
log = logging.getLogger(LOGGER_NAME)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "fields", None)
    return fields if isinstance(fields, dict) else {}


def _time(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


#: One encoder for every line: json.dumps with any option builds a new one per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {"time": _time(record), "level": record.levelname.lower(), "event": record.msg}
        doc.update(_fields(record))
        return _ENCODER.encode(doc)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = dict(_fields(record))
        reason = fields.pop("reason", None)
        head = f"{_time(record)} {record.levelname.lower():7} {record.msg}"
        if "source" in fields and "dest" in fields:
            head += f" {fields.pop('source')} -> {fields.pop('dest')}"
        # A name may hold a newline: escaped, one event stays one line.
        rest = " ".join(f"{k}={one_line(str(v))}" for k, v in fields.items() if v is not None)
        tail = f": {one_line(str(reason))}" if reason else ""
        return f"{head} {rest}".rstrip() + tail


class LineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes each line whole with os.write, straight to the stream's file descriptor.

    A signal (SIGUSR1 for a dump) can cut a blocking write to a full pipe short; through
    Python's buffered stderr the rest of a long line (a dump is kilobytes) was then seen to
    vanish. Writing the bytes ourselves, until all are out, keeps one line one line.

    ``defer``: info lines logged on an event loop are written together at its next turn, not
    each at once. Each write to the log pipe wakes its reader (containerd's shim), and on a busy
    node that wake-up was paid inside the agent's reaction: two transitions are logged before
    the chained file is written. Deferred, they go out while the loop waits for the fsync.
    A warning or an error is never held: it goes out at once, after the lines held before it,
    so a blocked loop or an exit that hangs cannot keep it back.
    """

    def __init__(self, stream: TextIO, defer: bool = False) -> None:
        super().__init__(stream)
        self._defer = defer
        #: Lines waiting for the flush that the event loop will run next (in order), each with
        #: its record for handleError should the write fail.
        self._held: list[tuple[logging.LogRecord, bytes]] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fd = self.stream.fileno()
        except (AttributeError, OSError, ValueError):
            super().emit(record)  # not a real file (a test's StringIO)
            return
        try:
            data = utf8(self.format(record) + "\n")
            if self._defer and record.levelno < logging.WARNING and self._flush_soon():
                self._held.append((record, data))
                return
            held, self._held = self._held, []  # emit runs under self.lock
            self.stream.flush()  # anything written to it the ordinary way goes first
            _write_all(fd, b"".join(line for _, line in held) + data)
        except Exception:
            self.handleError(record)

    def _flush_soon(self) -> bool:
        """True when a flush is due on this thread's event loop (scheduled now if need be)."""
        if self._held:
            return True  # scheduled with the first of them
        import asyncio  # only ``run`` defers, and it has asyncio loaded already

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False  # no loop in this thread: write at once
        loop.call_soon(self.flush)
        return True

    def flush(self) -> None:
        """Write the held lines in one go (logging.shutdown calls this at exit too)."""
        with self.lock or contextlib.nullcontext():
            held, self._held = self._held, []
            if held:
                try:
                    self.stream.flush()
                    _write_all(self.stream.fileno(), b"".join(line for _, line in held))
                except (BrokenPipeError, ValueError):
                    pass  # stderr's reader or stderr itself is gone: nowhere left to say it
                except OSError:
                    # Anything else (EIO, EBADF) is said, not swallowed with the lines.
                    self.handleError(held[0][0])
            super().flush()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def configure(log_format: str, stream: TextIO | None = None, defer: bool = False) -> None:
    """Send chainfsm's lines to ``stream`` (stderr) in ``log_format`` ("json" or "text");
    ``defer``: see LineHandler."""
    handler = LineHandler(stream or sys.stderr, defer)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False


def default_format(stream: TextIO | None = None) -> str:
    """json when stderr is not a terminal (a container), text for a person at a terminal."""
    return "text" if (stream or sys.stderr).isatty() else "json"


def event(name: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one structured line named ``name``.

    The record is made here rather than by ``log.log``, which walks the stack to find the
    caller's file and line: no line of ours shows them, and the walk was a tenth of a line's
    cost (three or four lines per change).
    """
    if log.isEnabledFor(level):
        log.handle(log.makeRecord(log.name, level, "", 0, name, (), None, extra={"fields": fields}))
