"""The agent's status: what the probes, the metrics and the dump read, in one frozen value.

Made by ``Journal.status`` (``Agent.status``) at one moment on the event loop, so its fields
agree with each other. Imported on first use, not at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from chainfsm.core import discovery
from chainfsm.core.states import State, Transition
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
    def situation(self) -> str:
        """Why the agent is where it is, in one line: the last error, else the last
        transition's reason (never a guess such as "waiting for the primary")."""
        if self.last_error is not None:
            return self.last_error
        if self.history:
            return self.history[-1].reason
        return discovery.no_primary(self.settings.primary, self.settings.net_dir) + " yet"
