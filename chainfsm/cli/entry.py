"""The ``chainfsm`` entry point: ``run`` with plain flags goes straight to the agent; every
other command line goes through the argparse parser of ``commands``.

The container starts ``chainfsm run --flag value ...`` on every node, often on a node that is
waiting for it, and argparse with its gettext and the parser of every command cost start-up
about a tenth of the import floor (docs/performance.md, "Start-up in issue 21"). A command line
is taken here only when argparse would read it the same way: ``run``, then only ``run``'s flags
spelled out in full, each switch alone and each other flag with its value (``--flag value`` or
``--flag=value``, the value not starting with ``-``), and settings that resolve. Anything else
(``--help``, an abbreviation, an unknown word, a refused value) goes to argparse, so help,
usage errors and their wording are argparse's as before.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Sequence

from chainfsm import logs, settings
from chainfsm.settings import Settings


def plain_run(argv: Sequence[str]) -> Settings | None:
    """The settings of ``argv`` when it is ``run`` with plain flags (above), else None."""
    if not argv or argv[0] != "run":
        return None
    taken = {setting.flag: setting for setting in settings.taken_by("run")}
    flags: dict[str, object] = {}
    words = iter(argv[1:])
    for word in words:
        flag, equals, text = word.partition("=")
        setting = taken.get(flag)
        if setting is None:
            return None
        if setting.switch:
            if equals:
                return None
            flags[setting.name] = True
            continue
        if not equals:
            text = next(words, "-")  # a missing value: argparse says so
        if text.startswith("-"):
            return None
        flags[setting.name] = text
    try:
        return Settings(**settings.resolve("run", flags, os.environ))
    except settings.SettingError:
        return None


def run(chosen: Settings) -> int:
    """``chainfsm run``: the agent, to its end; the process exit code."""
    from chainfsm.process import lifecycle

    logs.configure(chosen.log_format, defer=True)
    return lifecycle.main(chosen)


def script() -> int:
    """The process: ``main`` on its command line, then an exit without the interpreter's last
    collections. They walk every object the process made to find cycles nobody will use, which
    cost an exit more time than the agent's own imports (docs/performance.md, "Start-up in issue
    21"). Frozen, the objects are left to the exit as they are: everything that must be said or
    written is by then (the loop, the files and the sockets closed, the logs flushed at exit)."""
    code = main()
    gc.freeze()
    return code


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    chosen = plain_run(argv)
    if chosen is not None:
        return run(chosen)
    from chainfsm.cli import commands

    return commands.main(argv)
