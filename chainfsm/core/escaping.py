"""Escaping, in one place: text made fit for where it goes, each way named for that place. Pure.

- ``one_line``: a name or a reason inside a one-line message (a refusal, a log field, stderr):
  control characters (a newline in a file name) and lone surrogates as Python escapes, so one
  message stays one line.
- ``json_string``: text in double quotes as JSON writes it (a key named in a refusal), with
  anything unprintable escaped the same way, so the message is one line of valid UTF-8.
- ``utf8``: what leaves the process as bytes (the commands' stdout, the dump, the log pipe, the
  chained file): UTF-8 without fail.
- ``has_lone_surrogate``: whether text holds one at all.

A file name that is not UTF-8 reaches us as lone surrogates (``os.fsdecode``), which UTF-8
cannot encode; so does a ``\\udXXX`` escape in JSON (configs holding one are refused before
anything prints their strings). ``utf8`` writes each as the ``\\udcff`` escape that Python and
JSON both read back, so no command crashes on what it prints, ``--json`` output stays valid
UTF-8 JSON (the escape sits inside a JSON string), and a chained string keeps the escape it
came from.
"""

from __future__ import annotations

import json
import re

#: A surrogate code point: in a str only a non-UTF-8 name or a lone ``\\udXXX`` escape makes one.
#: Compiled on first use (re caches it), not at every start: only rare input asks.
_LONE_SURROGATE = "[\ud800-\udfff]"


def one_line(text: str) -> str:
    """``text`` fit for a one-line message: unchanged when all of it is printable, else with
    every character outside printable ASCII written as its Python escape (``\\n``, ``\\xe9``)."""
    if text.isprintable():
        return text
    return text.encode("unicode_escape", "backslashreplace").decode("ascii")


def json_string(text: str) -> str:
    """``text`` as a JSON string in double quotes; when anything in it is unprintable (a
    newline, a lone surrogate), every character outside ASCII as its ``\\uXXXX`` escape."""
    return json.dumps(text, ensure_ascii=False) if text.isprintable() else json.dumps(text)


def utf8(text: str) -> bytes:
    """``text`` as UTF-8, each lone surrogate as its ``\\uXXXX`` escape."""
    return text.encode("utf-8", "backslashreplace")


def has_lone_surrogate(text: str) -> bool:
    """Whether ``text`` holds a lone surrogate (which UTF-8 cannot encode)."""
    return re.search(_LONE_SURROGATE, text) is not None
