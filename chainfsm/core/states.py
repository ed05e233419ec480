"""The agent's states and transitions, declared once: this table drives the machine, the log
lines and the diagrams."""

from __future__ import annotations

import enum
from typing import Any, NamedTuple


class State(enum.Enum):
    WaitingPrimary = "WaitingPrimary"
    """No primary config yet: sleeping until the kernel reports a change in the conf dir."""
    Validating = "Validating"
    """A primary exists: checking it by the runtime's rules, retrying while it is not ready."""
    Writing = "Writing"
    """Writing the chained config atomically (or finding it already current), then verifying."""
    Verified = "Verified"
    """The runtime will load our chain first, valid, with the primary's plugins plus ours (and,
    with ``--bin-dir``, every plugin binary of the chain is installed; with ``--cri-socket``,
    the runtime itself reports it loaded our chain)."""
    Failed = "Failed"
    """Something needs an operator; in watch mode a change or a timed retry leads back."""


class Trigger(enum.StrEnum):
    PRIMARY_FOUND = "primary_found"
    PRIMARY_INVALID = "primary_invalid"
    PRIMARY_VALID = "primary_valid"
    BUDGET_SPENT = "budget_spent"
    PRIMARY_LOST = "primary_lost"
    OUTPUT_VERIFIED = "output_verified"
    WRITE_FAILED = "write_failed"
    BINARY_MISSING = "binary_missing"
    VERIFY_FAILED = "verify_failed"
    CHANGE_DETECTED = "change_detected"
    REVERT_DETECTED = "revert_detected"
    RETRY_DUE = "retry_due"
    WATCH_LOST = "watch_lost"
    RUNTIME_UNCONFIRMED = "runtime_unconfirmed"


#: The guard on leaving Failed: the machine's ``watching`` property (false under ``--once``).
WATCHING = "watching"

#: Where the agent looks at the dir and can find the primary gone.
_LOOKING = [State.Validating, State.Verified]

#: trigger, source, dest and guard of every transition, in the transitions library's terms.
TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": Trigger.PRIMARY_FOUND, "source": State.WaitingPrimary, "dest": State.Validating},
    {"trigger": Trigger.PRIMARY_INVALID, "source": State.Validating, "dest": State.Validating},
    {"trigger": Trigger.PRIMARY_VALID, "source": State.Validating, "dest": State.Writing},
    {"trigger": Trigger.BUDGET_SPENT, "source": State.Validating, "dest": State.Failed},
    {"trigger": Trigger.PRIMARY_LOST, "source": _LOOKING, "dest": State.WaitingPrimary},
    {"trigger": Trigger.OUTPUT_VERIFIED, "source": State.Writing, "dest": State.Verified},
    {"trigger": Trigger.WRITE_FAILED, "source": State.Writing, "dest": State.Failed},
    {"trigger": Trigger.VERIFY_FAILED, "source": State.Writing, "dest": State.Failed},
    # Fail closed: the chain is written (pods wait for the binary, as with Antrea's own
    # install-cni) but the node is not reported ready.
    {
        "trigger": Trigger.BINARY_MISSING,
        "source": [State.Writing, State.Verified],
        "dest": State.Failed,
    },
    # Fail closed as well: the chain is written, but the runtime does not say it runs it
    # (it loaded another file or dir, failed its load, or could not be asked).
    {"trigger": Trigger.RUNTIME_UNCONFIRMED, "source": State.Writing, "dest": State.Failed},
    {"trigger": Trigger.CHANGE_DETECTED, "source": State.Verified, "dest": State.Validating},
    # A change that came while a plugin binary was slow to answer VERSION: the conf dir first.
    {"trigger": Trigger.CHANGE_DETECTED, "source": State.Writing, "dest": State.Validating},
    {"trigger": Trigger.REVERT_DETECTED, "source": State.Verified, "dest": State.Failed},
    {
        "trigger": Trigger.CHANGE_DETECTED,
        "source": State.Failed,
        "dest": State.Validating,
        "conditions": WATCHING,
    },
    {
        "trigger": Trigger.RETRY_DUE,
        "source": State.Failed,
        "dest": State.Validating,
        "conditions": WATCHING,
    },
    {"trigger": Trigger.WATCH_LOST, "source": list(State), "dest": State.Failed},
]


def machine_arguments() -> dict[str, Any]:
    """The machine as the transitions library takes it, for the agent's machine and the
    diagram alike: the states, the table with plain strings for triggers, where it starts,
    and no ``to_<state>`` triggers of the library's own."""
    return {
        "states": State,
        "transitions": [{**row, "trigger": str(row["trigger"])} for row in TRANSITIONS],
        "initial": State.WaitingPrimary,
        "auto_transitions": False,
    }


# A NamedTuple, not a frozen dataclass: made at import, where each dataclass costs every
# start-up about half a millisecond (docs/performance.md, "Start-up in issue 21").
class Transition(NamedTuple):
    """One transition as it happened: what the log line, the dump and the metrics report."""

    time: float
    trigger: str
    source: str
    dest: str
    reason: str
    primary: str | None
    output: str
    attempt: int
    ms_in_source: float

    def fields(self) -> dict[str, Any]:
        return {
            "trigger": self.trigger,
            "source": self.source,
            "dest": self.dest,
            "reason": self.reason,
            "primary": self.primary,
            "output": self.output,
            "attempt": self.attempt,
            "ms_in_source": round(self.ms_in_source, 3),
        }
