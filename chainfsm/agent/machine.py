"""The agent's state machine and its journal: every transition fired here is logged, kept in a
bounded history, told to the listeners and counted. ``status`` makes what the outside reads
(probes, metrics, the dump): one frozen ``status.Status``, taken in one go on the event loop."""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from transitions.extensions.asyncio import AsyncMachine

from chainfsm import logs
from chainfsm.core import states
from chainfsm.core.states import State, Transition, Trigger
from chainfsm.core.validation import Refusal
from chainfsm.settings import Settings

if TYPE_CHECKING:
    from chainfsm.agent.runtime_check import Check
    from chainfsm.agent.status import Status
    from chainfsm.core.taints import View


class _AsyncMachine(AsyncMachine):
    """AsyncMachine without one cost: the library gathers every callback list, empty or not,
    a future each time; our table has no callbacks, and that was ten per transition."""

    # The library's own stub ignores this override too (an async method over a sync one).
    async def callbacks(self, funcs: Iterable[Any], event_data: Any) -> None:  # type: ignore[override]
        if funcs:
            await super().callbacks(funcs, event_data)


class Machine:
    """The model of the machine (``state`` and ``trigger`` are bound by AsyncMachine), and
    the history and counters of what it went through."""

    state: State
    trigger: Callable[..., Awaitable[bool]]

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._fsm = _AsyncMachine(model=self, **states.machine_arguments())
        self.started = time.time()
        self.state_since = time.time()
        self._entered = time.monotonic()
        self.history: collections.deque[Transition] = collections.deque(maxlen=settings.history)
        #: Called with every transition, after its log line.
        self.listeners: list[Callable[[Transition], None]] = []
        #: The attempt of the validation in progress.
        self.attempt = 0
        #: Validations of a primary that was not ready yet.
        self.retries = 0
        #: Entries into Failed since the last Verified.
        self.failures = 0
        self.writes = 0
        self.last_error: str | None = None
        #: When ``last_error`` was said (Unix time): /readyz shows it only while it is newer
        #: than the last transition, so an old error is not read as the situation now.
        self.last_error_at: float | None = None
        #: The first entry into Failed since the last Verified (Unix time), and the retry
        #: budgets spent since then: what tells a stuck node from one still starting.
        self.failing_since: float | None = None
        self.budgets_spent = 0

    @property
    def watching(self) -> bool:
        """The guard on leaving Failed: false under --once, where Failed is the end."""
        return not self.settings.once

    async def fire(
        self, trigger: Trigger, reason: str, primary: str | None, level: int = logging.INFO
    ) -> bool:
        """Fire ``trigger``; when the machine takes it, log, keep, count and tell it.
        ``primary``: the primary as last seen, for the record."""
        source = self.state
        now = time.monotonic()
        if not await self.trigger(str(trigger)):
            return False
        record = Transition(
            time=time.time(),
            trigger=str(trigger),
            source=source.value,
            dest=self.state.value,
            reason=reason,
            primary=primary,
            output=self.settings.output,
            attempt=self.attempt,
            ms_in_source=(now - self._entered) * 1000,
        )
        self._entered = now
        if self.state is not source:
            self.state_since = record.time
        self.history.append(record)
        if self.state is State.Failed:
            self.last_error, self.last_error_at = reason, record.time
            self.failures += 1
            if self.failing_since is None:
                self.failing_since = record.time
            if trigger == Trigger.BUDGET_SPENT:
                self.budgets_spent += 1
        logs.event("transition", level, **record.fields())
        for listener in self.listeners:
            listener(record)
        return True

    def note_error(self, why: str) -> None:
        """Something is wrong that no transition says (a removal that failed, a --primary
        that matches nothing): the situation names it until the next Verified."""
        self.last_error, self.last_error_at = why, time.time()

    def recovered(self) -> None:
        """Verified again: the failures so far are over."""
        self.failures = 0
        self.last_error = self.last_error_at = self.failing_since = None
        self.budgets_spent = 0

    @property
    def last_trigger(self) -> str | None:
        return self.history[-1].trigger if self.history else None

    def status(
        self,
        *,
        ready: bool,
        stopping: bool,
        watch_armed: bool,
        primary: str | None,
        chained_from: tuple[str, bytes] | None,
        verified_output: bytes | None,
        binary_problems: tuple[Refusal, ...],
        binary_unchecked: tuple[str, ...] = (),
        runtime: Check | None = None,
        untaint: View | None = None,
        watch_degraded: str | None = None,
    ) -> Status:
        """This machine's part of the status, with the rest of the agent's given."""
        # Imported on first use: the class costs a millisecond to make, and a --once run
        # with no endpoints never needs it.
        from chainfsm.agent.status import Status

        return Status(
            settings=self.settings,
            state=self.state,
            state_since=self.state_since,
            started=self.started,
            ready=ready,
            stopping=stopping,
            watch_armed=watch_armed,
            primary=primary,
            last_error=self.last_error,
            attempt=self.attempt,
            retries=self.retries,
            failures=self.failures,
            writes=self.writes,
            history=tuple(self.history),
            history_capacity=self.settings.history,
            chained_from=chained_from[0] if chained_from else None,
            chained_from_data=chained_from[1] if chained_from else None,
            verified_output=verified_output,
            binary_problems=binary_problems,
            last_error_at=self.last_error_at,
            failing_since=self.failing_since,
            budgets_spent=self.budgets_spent,
            binary_unchecked=binary_unchecked,
            runtime=runtime,
            untaint=untaint,
            watch_degraded=watch_degraded,
        )
