"""The commands' stdout: any text written as UTF-8 bytes (``core.escaping.utf8``)."""

from __future__ import annotations

import sys
from typing import TextIO

from chainfsm.core.escaping import utf8


def out(text: str, stream: TextIO | None = None) -> None:
    """Write ``text`` to ``stream`` (stdout) as UTF-8 bytes, whatever its text encoding is."""
    stream = stream or sys.stdout
    buffer = getattr(stream, "buffer", None)
    if buffer is None:  # a text-only stream (a test's StringIO): give it the same characters
        stream.write(utf8(text).decode("utf-8"))
        return
    stream.flush()  # anything printed the ordinary way goes first
    buffer.write(utf8(text))
    buffer.flush()
