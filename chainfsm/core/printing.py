"""What the commands print: any text, written to stdout as UTF-8 without fail.

A file name that is not UTF-8 reaches us as lone surrogates (``os.fsdecode``), which UTF-8
cannot encode (configs holding a ``\\ud800`` escape are refused before anything prints their
strings). They are written as the
``\\udcff`` escapes that Python and JSON both read back, so no command crashes on what it
prints, and ``--json`` output stays valid UTF-8 JSON (the escape sits inside a JSON string).
"""

from __future__ import annotations

import sys
from typing import TextIO


def encode(text: str) -> bytes:
    """``text`` as UTF-8, each lone surrogate as its ``\\uXXXX`` escape. Pure."""
    return text.encode("utf-8", "backslashreplace")


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
