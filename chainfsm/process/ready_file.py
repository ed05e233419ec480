"""``--ready-file``: a file that exists only while the agent is Verified, for exec probes
(``test -f``) where no port is wanted."""

from __future__ import annotations

import logging
from pathlib import Path

from chainfsm import logs
from chainfsm.core.states import State, Transition


class ReadyFile:
    """``observe`` goes in ``agent.machine.listeners``; ``withdraw`` on the way out."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def observe(self, record: Transition) -> None:
        # A few bytes on a tmpfs: done in the listener, so the file never lags the state.
        if record.dest == State.Verified.value:
            self._create(record.reason)
        elif record.source == State.Verified.value:
            self.withdraw()

    def _create(self, reason: str) -> None:
        temp = self.path.with_name(f".{self.path.name}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temp.write_text(reason + "\n")
            temp.replace(self.path)
        except OSError as err:
            logs.event("ready-file", logging.WARNING, file=str(self.path), reason=f"{err.strerror}")

    def withdraw(self) -> None:
        try:
            self.path.unlink(missing_ok=True)
        except OSError as err:
            logs.event("ready-file", logging.WARNING, file=str(self.path), reason=f"{err.strerror}")
