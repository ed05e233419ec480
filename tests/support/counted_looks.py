"""The conf dir's port with its looks counted: passed to an agent (``conf_dir=``), it shows a
test that something did not even make the agent look."""

from __future__ import annotations

from chainfsm.core.snapshot import Snapshot
from chainfsm.edge.confdir import ConfDir


class CountedConfDir(ConfDir):
    """``ConfDir`` counting its looks, full (``look``) and after a write (``recheck``)."""

    looks = 0
    rechecks = 0

    def look(self) -> Snapshot:
        self.looks += 1
        return super().look()

    def recheck(self, before: Snapshot) -> Snapshot:
        self.looks += 1
        self.rechecks += 1
        return super().recheck(before)
