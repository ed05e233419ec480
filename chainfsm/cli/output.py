"""The commands' stdout: any text written as UTF-8 bytes (``core.escaping.encode``)."""

from __future__ import annotations

import sys
from typing import TextIO

from chainfsm.core.escaping import encode


def out(text: str, stream: TextIO | None = None) -> None:
    """Write ``text`` to ``stream`` (stdout) as UTF-8 bytes, whatever its text encoding is."""
    stream = stream or sys.stdout
    buffer = getattr(stream, "buffer", None)
    if buffer is None:  # a text-only stream (a test's StringIO): give it the same characters
        stream.write(encode(text).decode("utf-8"))
        return
    stream.flush()  # anything printed the ordinary way goes first
    buffer.write(encode(text))
    buffer.flush()
