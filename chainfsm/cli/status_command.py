"""``chainfsm status``: the running agent's state, since when and why, in one line.

The same request as ``chainfsm dump`` (SIGUSR1 to a checked pid, the fresh dump read back),
cut down to what a person or a probe asks first. Exit 0 only when the agent is Verified.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chainfsm.cli import dump_command, json_output, output
from chainfsm.core import escaping
from chainfsm.core.states import State
from chainfsm.core.times import duration


def summary(dump: Mapping[str, Any]) -> dict[str, Any]:
    """What ``status --json`` prints, from a dump. Pure."""
    return {
        "state": dump["state"],
        "since": dump["state_since"],
        "seconds_in_state": dump["seconds_in_state"],
        "situation": dump["situation"],
        "verified": dump["state"] == State.Verified.value,
        "pid": dump["pid"],
        # Since when the chain has been failing (null: not since the last Verified): a node
        # stuck for an hour, back in Validating on a retry, must not read like a start-up.
        "failing": dump.get("failing"),
    }


def line(status: Mapping[str, Any]) -> str:
    """The one line: ``STATE since TIME (for DURATION): WHY``. Pure."""
    took = duration(float(status["seconds_in_state"]))
    said = escaping.one_line(str(status["situation"]))
    failing = status.get("failing")
    if failing:
        spent = failing["budgets_spent"]
        said += (
            f"; failing since {failing['since']} (for {duration(float(failing['seconds']))}),"
            f" {spent} retry budget{'' if spent == 1 else 's'} spent"
        )
    return f"{status['state']} since {status['since']} (for {took}): {said}\n"


def main(pid: int | None, dump_file: Path | None, timeout: float, as_json: bool) -> int:
    try:
        status = summary(dump_command.fetch(pid, dump_file, timeout, "status"))
    except (dump_command.NoDump, OSError, ValueError, KeyError) as err:
        what = f"missing {err}" if isinstance(err, KeyError) else str(err)
        return json_output.fail("status", f"no status: {what}", 1, as_json)
    if as_json:
        json_output.document(status)
    else:
        output.out(line(status))
    return 0 if status["verified"] else 1
