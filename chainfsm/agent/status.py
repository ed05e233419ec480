"""The agent's status: what the probes, the metrics and the dump read, in one frozen value.

Made by ``Machine.status`` (``Agent.status``) at one moment on the event loop, so its fields
agree with each other. Imported on first use, not at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from chainfsm.core import discovery
from chainfsm.core.states import State, Transition
from chainfsm.core.times import duration, iso
from chainfsm.core.validation import Refusal
from chainfsm.settings import Settings

if TYPE_CHECKING:
    from chainfsm.agent.runtime_check import Check
    from chainfsm.core.taints import View


@dataclass(frozen=True, slots=True)
class Status:
    """What the agent knows at one moment, for the probes, the metrics and the dump."""

    settings: Settings
    state: State
    #: When the agent entered ``state`` and when it started (Unix time).
    state_since: float
    started: float
    #: The watch is armed (or, under --once, deferred) and the start-up cleanup is done.
    ready: bool
    stopping: bool
    #: The conf dir is watched: by inotify, or by polling while ``watch_degraded``.
    watch_armed: bool
    #: The primary as last seen in the conf dir.
    primary: str | None
    last_error: str | None
    attempt: int
    retries: int
    failures: int
    writes: int
    #: The newest transitions, oldest first, and how many are kept.
    history: tuple[Transition, ...]
    history_capacity: int
    #: The primary the current chain was made from, and its bytes.
    chained_from: str | None
    chained_from_data: bytes | None
    #: Our output as we last wrote or found it verified.
    verified_output: bytes | None
    #: --bin-dir: why each plugin binary of the chain cannot run, at the last check.
    binary_problems: tuple[Refusal, ...]
    #: When ``last_error`` was said (Unix time; None: no error).
    last_error_at: float | None
    #: The first entry into Failed since the last Verified (Unix time; None: not failing),
    #: and the retry budgets spent since then.
    failing_since: float | None
    budgets_spent: int
    #: --bin-dir: plugins in place whose VERSION cannot be asked from the agent's filesystem.
    binary_unchecked: tuple[str, ...]
    #: --cri-socket: the runtime's last answer (None: not set, or not asked yet).
    runtime: Check | None = None
    #: --untaint: what the task that lifts the start-up taint knows (None: not set).
    untaint: View | None = None
    #: Why the conf dir is polled rather than watched by inotify (None: it is not).
    watch_degraded: str | None = None

    @property
    def reason(self) -> str:
        """The last transition's reason ("starting" before the first): /readyz says it."""
        return self.history[-1].reason if self.history else "starting"

    @property
    def now(self) -> str:
        """What /readyz says after the state: an error no transition says (a --primary that
        matches nothing, a removal that fails) while it is newer than the last transition,
        else the last transition's reason ("starting" before the first)."""
        newest = self.history[-1].time if self.history else None
        said_at = self.last_error_at
        if self.last_error is not None and said_at is not None and (newest or 0.0) < said_at:
            return self.last_error
        return self.reason

    def failing(self, now: float) -> str | None:
        """Since when and how hard the chain has been failing, in words; None when it has
        not entered Failed since the last Verified (a start-up still on its way)."""
        if self.failing_since is None:
            return None
        spent = self.budgets_spent
        return (
            f"failing since {iso(self.failing_since)}, {duration(now - self.failing_since)} ago"
            f" (not Verified since): {_times(self.failures, 'entry', 'entries')} into Failed,"
            f" {_times(spent, 'retry budget', 'retry budgets')} spent"
        )

    @property
    def situation(self) -> str:
        """Why the agent is where it is, in one line: the last error, else the last
        transition's reason (never a guess such as "waiting for the primary")."""
        if self.last_error is not None:
            return self.last_error
        if self.history:
            return self.history[-1].reason
        return discovery.no_primary(self.settings.primary, self.settings.net_dir) + " yet"


def _times(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"
