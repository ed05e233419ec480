"""What the watches have heard since the last look: the names changed, whether the watch is
lost and why, and the events a waiter waits on.

The watches (and a look that finds the dir gone) write here; the agent's ``Wakeups`` reads and
waits on it. A record, not a callback: edge holds no function of the agent.
"""

from __future__ import annotations

import asyncio


class Changes:
    """The flags the watches set. A burst of changes is one flag; the names are kept only to
    tell a change to our own output from any other."""

    def __init__(self) -> None:
        #: Set by a relevant change; cleared by the look that answers it.
        self.changed = asyncio.Event()
        #: The names reported since ``changed`` was last cleared; None: anything may have.
        self._names: set[str] | None = set()
        #: Set once the watch is gone: it ends every wait, even one that ignores changes.
        self.lost = asyncio.Event()
        #: Why the watch was lost (None: it was not).
        self.lost_why: str | None = None
        #: Set with ``changed`` (and so with ``lost``), and by whatever else ends a wait (a
        #: stop request): the one event a waiter awaits, rather than one future per event.
        self.woken = asyncio.Event()

    # -- what the watches write -----------------------------------------------------------

    def heard(self, name: str, relevant: bool) -> None:
        """A name a watch (or a poll) read: a change when ``relevant`` (what the runtime, or
        the binary check, reads)."""
        if relevant:
            self.note(name)

    def note(self, name: str | None = None) -> None:
        """A relevant change (``name`` None: rescan everything, as after an overflow)."""
        if name is None:
            self._names = None
        elif self._names is not None:
            self._names.add(name)
        self.changed.set()
        self.woken.set()

    def lose(self, why: str) -> None:
        """The watch is gone (or the dir cannot be listed): every wait ends, for good."""
        self.lost_why = why
        self.lost.set()
        self.note()

    # -- what a look reads ----------------------------------------------------------------

    @property
    def pending(self) -> bool:
        """A change has come that no look has answered yet."""
        return self.changed.is_set()

    def only_changed(self, name: str) -> bool:
        """Whether every change since the last look was to ``name`` (True when none was)."""
        names = self._names
        return names is not None and names <= {name}

    def consume(self) -> None:
        """A look is about to answer every change so far."""
        self.changed.clear()
        self._names = set()
