"""What wakes the agent: a change in a watched dir, a lost watch, a stop request or a clock.

The watches write into an edge ``Changes`` record and the signal handlers set a flag here; the
agent's one task waits on both. A burst of changes collapses into one wake-up, and every retry
backoff ends early on a change.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from chainfsm.edge.changes import Changes


class Stopping(Exception):
    """Raised out of a retry sleep when the agent is asked to stop (or its watch is lost)."""


class Wakeups:
    """The flags the agent waits on, and the waits themselves. ``changes``: the record the
    watches write into (a new one by default)."""

    def __init__(self, changes: Changes | None = None) -> None:
        self.changes = changes if changes is not None else Changes()
        self._changed = self.changes.changed
        self._stopping = asyncio.Event()
        #: Ends every wait, even one that ignores changes: a lost watch must never go unheard.
        self._lost = self.changes.lost
        #: The exit code a stop request asked for (None: none asked for one).
        self.exit_code: int | None = None
        self._arm: Callable[[], str | None] | None = None

    # -- inputs ---------------------------------------------------------------------------

    def notify_change(self, name: str | None = None) -> None:
        """A relevant change (``name`` None: rescan everything): the agent's own wake-up, as
        when the runtime says it no longer loads our chain."""
        self.changes.note(name)

    def lose(self, why: str) -> None:
        """The watch is gone (or could not be armed): every wait ends, for good."""
        self.changes.lose(why)

    def request_stop(self, exit_code: int | None = None) -> None:
        """Stop after the step in progress (a write in progress is finished, not cut)."""
        if exit_code is not None:
            self.exit_code = exit_code
        self._stopping.set()
        self.changes.woken.set()

    def arm_before_first_wait(self, arm: Callable[[], str | None]) -> None:
        """Have the first ``wait`` call ``arm`` instead of waiting (None: armed, else why not).

        For --once, which looks before it watches: a first look that ends Verified needs no
        watch. That wait returns True at once, since a change may have come before the watch:
        look again."""
        self._arm = arm

    # -- what the agent reads -------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    @property
    def ended(self) -> bool:
        """Asked to stop, or the watch is lost: no more waiting for changes."""
        return self._stopping.is_set() or self._lost.is_set()

    @property
    def lost_why(self) -> str | None:
        """Why the watch was lost (None: it was not)."""
        return self.changes.lost_why

    @property
    def pending(self) -> bool:
        """A change has come that no look has answered yet."""
        return self.changes.pending

    def only_changed(self, name: str) -> bool:
        """Whether every change since the last look was to ``name`` (True when none was)."""
        return self.changes.only_changed(name)

    def consume(self) -> None:
        """A look is about to answer every change so far."""
        self.changes.consume()

    # -- waiting --------------------------------------------------------------------------

    async def wait(self, within: float | None = None) -> bool:
        """Until a change (True), ``within`` seconds, a stop request or a lost watch (False).

        A change is consumed by the wait that reports it."""
        if self._arm is not None:
            arm, self._arm = self._arm, None
            why = arm()
            if why is not None:
                self.lose(why)
                return False
            return True
        if not (self.ended or self._changed.is_set()):
            await self._woken_within(within)
        if self.ended or not self._changed.is_set():
            return False
        self.consume()
        return True

    async def until_done(self, work: asyncio.Future[Any]) -> bool:
        """Until ``work`` is done (True), or a change, a stop request or a lost watch comes
        first (False). Consumes nothing: the change is left for the look that answers it."""
        if not (work.done() or self.ended or self._changed.is_set()):
            self.changes.woken.clear()
            waiter = asyncio.ensure_future(self.changes.woken.wait())
            try:
                await asyncio.wait([work, waiter], return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
        return work.done()

    async def _woken_within(self, within: float | None) -> None:
        """Until a change, a stop request or a lost watch, or ``within`` seconds (None: no
        limit). Called only when none is pending, so the flag is cleared first: an input
        already answered must not end this wait."""
        woken = self.changes.woken
        woken.clear()
        if within is None:
            await woken.wait()
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await woken.wait()

    async def retry_sleep(self, delay: float) -> None:
        """tenacity's sleep: a change ends the backoff early; a stop or a lost watch raises
        ``Stopping``."""
        await self.wait(delay)
        if self.ended:
            raise Stopping

    async def pause(self, delay: float) -> None:
        """Sleep ``delay`` seconds; a stop or a lost watch raises ``Stopping``. A change does
        not end it and is left for the next look (``pending`` says it came)."""
        if not self.ended:
            waiters = [asyncio.ensure_future(e.wait()) for e in (self._stopping, self._lost)]
            try:
                await asyncio.wait(waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
        if self.ended:
            raise Stopping
