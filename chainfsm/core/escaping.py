"""What the commands print, as bytes: any text as UTF-8 without fail (``cli.output`` writes it).

A file name that is not UTF-8 reaches us as lone surrogates (``os.fsdecode``), which UTF-8
cannot encode (configs holding a ``\\ud800`` escape are refused before anything prints their
strings). They are written as the
``\\udcff`` escapes that Python and JSON both read back, so no command crashes on what it
prints, and ``--json`` output stays valid UTF-8 JSON (the escape sits inside a JSON string).
"""

from __future__ import annotations


def encode(text: str) -> bytes:
    """``text`` as UTF-8, each lone surrogate as its ``\\uXXXX`` escape. Pure."""
    return text.encode("utf-8", "backslashreplace")
