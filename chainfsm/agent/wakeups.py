"""What wakes the agent: a change in a watched dir, a lost watch, a stop request or a clock.

The watches and the signal handlers only set flags here; the agent's one task waits on them.
A burst of changes collapses into one wake-up, and every retry backoff ends early on a change.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any


class Stopping(Exception):
    """Raised out of a retry sleep when the agent is asked to stop (or its watch is lost)."""


class Wakeups:
    """The flags the agent waits on, and the waits themselves."""

    def __init__(self) -> None:
        self._changed = asyncio.Event()
        #: The names reported since ``_changed`` was last cleared; None: anything may have.
        self._changed_names: set[str] | None = set()
        self._stopping = asyncio.Event()
        #: Ends every wait, even one that ignores changes: a lost watch must never go unheard.
        self._lost = asyncio.Event()
        #: Set while the agent waits in ``wait``: what ``quiet`` looks for.
        self._idle = asyncio.Event()
        #: Set with any of the three above: a wait awaits this one alone, as one future per
        #: event per wait (tasks started and cancelled each time) cost every change.
        self._woken = asyncio.Event()
        #: Why the watch was lost (None: it was not).
        self.lost_why: str | None = None
        #: The exit code a stop request asked for (None: none asked for one).
        self.exit_code: int | None = None
        self._arm: Callable[[], str | None] | None = None

    # -- inputs ---------------------------------------------------------------------------

    def notify_change(self, name: str | None = None) -> None:
        """A relevant change in a watched dir (``name`` None: rescan everything)."""
        if name is None:
            self._changed_names = None
        elif self._changed_names is not None:
            self._changed_names.add(name)
        self._changed.set()
        self._woken.set()

    def lose(self, why: str) -> None:
        """The watch is gone (or the dir cannot be listed): every wait ends, for good."""
        self.lost_why = why
        self._lost.set()
        self.notify_change()  # sets _woken

    def request_stop(self, exit_code: int | None = None) -> None:
        """Stop after the step in progress (a write in progress is finished, not cut)."""
        if exit_code is not None:
            self.exit_code = exit_code
        self._stopping.set()
        self._woken.set()

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
    def pending(self) -> bool:
        """A change has come that no look has answered yet."""
        return self._changed.is_set()

    def only_changed(self, name: str) -> bool:
        """Whether every change since the last look was to ``name`` (True when none was)."""
        names = self._changed_names
        return names is not None and names <= {name}

    def consume(self) -> None:
        """A look is about to answer every change so far."""
        self._changed.clear()
        self._changed_names = set()

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
            self._idle.set()
            try:
                await self._woken_within(within)
            finally:
                self._idle.clear()
        if self.ended or not self._changed.is_set():
            return False
        self.consume()
        return True

    async def until_done(self, work: asyncio.Future[Any]) -> bool:
        """Until ``work`` is done (True), or a change, a stop request or a lost watch comes
        first (False). Consumes nothing: the change is left for the look that answers it."""
        if not (work.done() or self.ended or self._changed.is_set()):
            self._woken.clear()
            waiter = asyncio.ensure_future(self._woken.wait())
            try:
                await asyncio.wait([work, waiter], return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
        return work.done()

    async def _woken_within(self, within: float | None) -> None:
        """Until an input comes, or ``within`` seconds (None: no limit). Only called when
        none is pending, so the flag is cleared first: an input already answered must not
        end this wait."""
        self._woken.clear()
        if within is None:
            await self._woken.wait()
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await self._woken.wait()

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

    async def quiet(self) -> None:
        """Return once the agent waits with no change left to handle. For tests: together
        with a tap on the watch, it shows that something did not wake the agent."""
        while True:
            await self._idle.wait()
            if not self._changed.is_set():
                return
            await asyncio.sleep(0)  # it is about to wake: let it leave the wait first
