"""Whole numbers read from text, one way: ASCII digits and nothing else. Pure.

The agent reads numbers that the kernel writes (``/proc/stat``'s ``btime``, a process's start
time, an inotify limit), that it wrote itself (the pid file) and that an operator gives (a port,
a count). All are refused unless they are plain ASCII digits: ``str.isdigit`` also passes
``"²"``, which ``int`` then refuses with a traceback's words, and ``int`` alone passes ``"+5"``,
``"1_000"`` and other scripts' digits, which no writer of these numbers writes and Go's
``strconv`` (the runtime's, the kubelet's) refuses too.
"""

from __future__ import annotations


def whole_number(text: str | bytes) -> int | None:
    """``text`` as a whole number when it is one or more ASCII digits alone, else None."""
    if text.isdigit() and text.isascii():
        return int(text)
    return None
