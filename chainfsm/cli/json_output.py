"""Machine output: with ``--json`` (and always for ``dump``), stdout holds exactly one JSON
document, whether the command succeeded or not.

A failure is the object ``{"command", "error", "exit_code"}`` on stdout, and the same one line
as without ``--json`` on stderr, for the person watching. A script can then always
``json.loads`` what it read, and tell a failure by its ``error`` key and the exit code.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from chainfsm.cli import output
from chainfsm.core import escaping

FLAG = "--json"
#: The commands whose stdout is JSON without the flag.
ALWAYS = ("dump",)


def document(doc: Mapping[str, Any]) -> None:
    """Print ``doc`` as one JSON document (indented, any name printable as UTF-8)."""
    output.out(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


def error(command: str | None, message: str, exit_code: int) -> dict[str, Any]:
    """The failure object. Pure."""
    return {"command": command, "error": message, "exit_code": exit_code}


def fail(command: str, message: str, exit_code: int, as_json: bool) -> int:
    """Say ``message`` on stderr (``chainfsm: MESSAGE``) and, with ``as_json``, print the
    failure object on stdout; return ``exit_code``."""
    print(f"chainfsm: {escaping.one_line(message)}", file=sys.stderr)
    if as_json:
        document(error(command, message, exit_code))
    return exit_code


def command_of(argv: Sequence[str]) -> str | None:
    """The command word of a ``chainfsm`` argv (the first word not a flag): the root parser
    takes no flag with a value. Pure."""
    return next((word for word in argv if not word.startswith("-")), None)


def wanted(argv: Sequence[str]) -> bool:
    """Whether ``argv`` asks for machine output: ``--json`` (or an abbreviation argparse
    accepts) before any ``--``, or a command whose output is always JSON. Pure.

    Asked before argparse, so that a usage error can be a JSON document too."""
    if command_of(argv) in ALWAYS:
        return True
    for word in argv:
        if word == "--":
            return False
        if len(word) >= 3 and FLAG.startswith(word):
            return True
    return False
