"""``chainfsm status``: the running agent's state, since when and why, in one line.

The same request as ``chainfsm dump`` (SIGUSR1 to a checked pid, the fresh dump read back),
cut down to what a person or a probe asks first. Exit 0 only when the agent is Verified.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chainfsm.cli import dump_command, json_output, output
from chainfsm.core import validation
from chainfsm.core.states import State


def duration(seconds: float) -> str:
    """``seconds`` as a person reads it: ``850ms``, ``42s``, ``3m12s``, ``2h05m``. Pure."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def summary(dump: Mapping[str, Any]) -> dict[str, Any]:
    """What ``status --json`` prints, from a dump. Pure."""
    return {
        "state": dump["state"],
        "since": dump["state_since"],
        "seconds_in_state": dump["seconds_in_state"],
        "situation": dump["situation"],
        "verified": dump["state"] == State.Verified.value,
        "pid": dump["pid"],
    }


def line(status: Mapping[str, Any]) -> str:
    """The one line: ``STATE since TIME (for DURATION): WHY``. Pure."""
    took = duration(float(status["seconds_in_state"]))
    said = validation.printable(str(status["situation"]))
    return f"{status['state']} since {status['since']} (for {took}): {said}\n"


def main(pid: int | None, dump_file: Path | None, timeout: float, as_json: bool) -> int:
    try:
        status = summary(dump_command.fetch(pid, dump_file, timeout))
    except (dump_command.NoDump, OSError, ValueError, KeyError) as err:
        what = f"missing {err}" if isinstance(err, KeyError) else str(err)
        return json_output.fail("status", f"no status: {what}", 1, as_json)
    if as_json:
        json_output.document(status)
    else:
        output.out(line(status))
    return 0 if status["verified"] else 1
