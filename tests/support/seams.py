"""Instrumented stand-ins for what the agent takes as keyword arguments (its seams): a record of
changes that also tells a test each name the watches read, wake-ups that say when the agent
waits with nothing left to handle, and a backoff with no wait. Production code holds no test
hooks; the tests pass these.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import tenacity

from chainfsm.agent import retry
from chainfsm.agent.wakeups import Wakeups
from chainfsm.edge.changes import Changes
from chainfsm.settings import Settings


class TappedChanges(Changes):
    """``Changes`` that also calls each tap with every name the watches read, relevant or not:
    a test syncs with the watch's pump on a name the agent ignores."""

    def __init__(self) -> None:
        super().__init__()
        self.taps: list[Callable[[str], None]] = []

    def heard(self, name: str, relevant: bool) -> None:
        for tap in list(self.taps):
            tap(name)
        super().heard(name, relevant)

    def read(self, name: str) -> asyncio.Future[None]:
        """Done once the watches have read ``name`` (every event before it is then noted)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def tap(seen: str) -> None:
            if seen == name and not done.done():
                done.set_result(None)
                self.taps.remove(tap)

        self.taps.append(tap)
        return done


class ObservedWakeups(Wakeups):
    """``Wakeups`` on ``TappedChanges``, and ``quiet``: the agent waits with nothing to handle."""

    changes: TappedChanges

    def __init__(self) -> None:
        super().__init__(TappedChanges())
        #: Set while a ``wait`` is under way.
        self._idle = asyncio.Event()

    async def wait(self, within: float | None = None) -> bool:
        # Set before the real wait, which runs up to its suspension with no await on the way:
        # while it is set, the agent is suspended in the wait. A wait that returns at once
        # clears it before any other task runs (``quiet`` then finds it clear again).
        self._idle.set()
        try:
            return await super().wait(within)
        finally:
            self._idle.clear()

    async def quiet(self) -> None:
        """Return once the agent waits with no change left to handle. Together with
        ``changes.read``, it shows that something did not wake the agent."""
        while True:
            await self._idle.wait()
            if self._idle.is_set() and not self.pending:
                return
            await asyncio.sleep(0)  # it is about to wake: let it leave the wait first


class InstantBackoff(retry.Backoff):
    """No wait between the agent's retries, and a hundredth of a second between the API's
    (so a test's loop of failing calls still yields to the stand-in serving them)."""

    def validation(self, settings: Settings) -> tenacity.wait.wait_base:
        return tenacity.wait_none()

    def failure(self, settings: Settings) -> tenacity.wait.wait_base:
        return tenacity.wait_none()

    def api(self) -> tenacity.wait.wait_base:
        return tenacity.wait_fixed(0.01)
