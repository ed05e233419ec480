"""Why a plugin that is there could not be started for its VERSION check, when exec says
"No such file or directory".

The agent runs the check from its own filesystem (the image), not the host's: a plugin that is
a script (``#!/bin/sh``) names an interpreter the image may not have, and the kernel then
reports ENOENT for a file that exists. The runtime on the host runs the same plugin with the
host's interpreter, so this is not a missing binary. ``interpreter`` is pure; ``not_started``
reads the file's first line and looks for its interpreter here.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path

#: The kernel reads at most this much of a ``#!`` line (BINPRM_BUF_SIZE, Linux 5.1 on).
SHEBANG_MAX = 256


@dataclass(frozen=True, slots=True)
class Unchecked:
    """A plugin that is in place and executable, whose VERSION cannot be asked from here.

    Not a problem of the chain: the agent still reports Verified, and says this loudly (a log
    line, the dump, a gauge), because refusing it would keep a working node NotReady for
    good, with no fix but turning the whole --bin-dir check off."""

    why: str


def interpreter(head: bytes) -> str | None:
    """The interpreter a ``#!`` line names (its first word), or None: not a script. Pure."""
    if not head.startswith(b"#!"):
        return None
    line = head[2:].split(b"\n", 1)[0]
    words = line.split()
    return os.fsdecode(words[0]) if words else None


def not_started(binary: Path, err: OSError) -> tuple[str | Unchecked, bool]:
    """What to say for a plugin exec that failed with ``err``, and whether that answer lasts
    (it does when it is about the file and this filesystem, not a passing shortage)."""
    if err.errno != errno.ENOENT:
        return f"cannot be run: {err.strerror}", False
    try:
        with binary.open("rb") as file:
            head = file.read(SHEBANG_MAX)
    except OSError:
        return f"cannot be run: {err.strerror}", False  # gone meanwhile: it is missing
    script = interpreter(head)
    if script is None:
        return (
            f"cannot be run here: exec says {err.strerror} although the file is there (an ELF"
            " binary whose loader this filesystem lacks, as a dynamically linked plugin built"
            " for another libc; the check fails closed)",
            True,
        )
    if Path(script).exists():
        return f"cannot be run: {err.strerror} (its interpreter {script} is here)", False
    return (
        Unchecked(
            f"is a script for {script}, which the agent's own filesystem does not have, so"
            " its VERSION cannot be asked from here (the runtime on the host runs it with the"
            f" host's {script})"
        ),
        True,
    )
