"""Running a real agent against a real temp conf dir, and watching our output name.

No mocks: the agent's own inotify sees the test's file operations; a second inotify (the
guard) sees every event on our output's name, so a test can prove that no invalid or partial
file ever sat there, not only that the final state is right.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncinotify
from asyncinotify import Mask

from chainfsm.agent import retry
from chainfsm.agent.agent import Agent
from chainfsm.core import validation
from chainfsm.core.states import State, Transition
from chainfsm.settings import Settings
from tests.support.constants import HANG_GUARD
from tests.support.counted_looks import CountedConfDir
from tests.support.seams import ObservedWakeups

#: Backoffs so long that only the kernel's change events move an agent on within a test.
SLOW: dict[str, Any] = {"backoff_initial": 30.0, "backoff_max": 60.0}


def write_by_rename(path: Path, data: bytes) -> None:
    staged = path.with_name(path.name + ".staged.tmp")
    staged.write_bytes(data)
    staged.replace(path)


def plugin_types(path: Path) -> list[str]:
    return [p["type"] for p in json.loads(path.read_bytes())["plugins"]]


@dataclass
class OutputGuard:
    """Every inotify event on our output's name, and the verdict on each content renamed in."""

    net_dir: Path
    output: str
    #: Content that arrived under our name by rename (the agent's only way to write) and was
    #: invalid: must stay empty in every test.
    invalid_arrivals: list[validation.Refusal] = field(default_factory=list)
    #: Writes in place to our name (only the tests' own tampering may cause these).
    in_place_writes: int = 0
    arrivals: int = 0
    removals: int = 0
    _barriers: dict[str, asyncio.Future[None]] = field(default_factory=dict)
    _counter: itertools.count[int] = field(default_factory=itertools.count)

    async def pump(self, inotify: asyncinotify.Inotify) -> None:
        async for event in inotify:
            name = str(event.name) if event.name is not None else None
            if name in self._barriers:
                self._barriers.pop(name).set_result(None)
            if name != self.output:
                continue
            if event.mask & (Mask.CREATE | Mask.CLOSE_WRITE):
                self.in_place_writes += 1
            if event.mask & Mask.DELETE:
                self.removals += 1
            if event.mask & Mask.MOVED_TO:
                self.arrivals += 1
                with contextlib.suppress(FileNotFoundError):
                    data = (self.net_dir / self.output).read_bytes()
                    verdict = validation.validate(self.output, data)
                    if isinstance(verdict, validation.Refusal):
                        self.invalid_arrivals.append(verdict)

    async def barrier(self) -> None:
        """Return once the guard has seen every event that happened before this call."""
        name = f".barrier-{next(self._counter)}"
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._barriers[name] = done
        (self.net_dir / name).touch()
        await asyncio.wait_for(done, HANG_GUARD)
        (self.net_dir / name).unlink()


def record(agent: Agent) -> asyncio.Queue[Transition]:
    """Every transition of ``agent`` from now on, in order."""
    queue: asyncio.Queue[Transition] = asyncio.Queue()
    agent.machine.listeners.append(queue.put_nowait)
    return queue


async def until(
    queue: asyncio.Queue[Transition], dest: str | None = None, trigger: str | None = None
) -> Transition:
    """The next transition into ``dest`` and/or by ``trigger`` (earlier ones are consumed)."""
    async with asyncio.timeout(HANG_GUARD):
        while True:
            found = await queue.get()
            if dest in (None, found.dest) and trigger in (None, found.trigger):
                return found


class Running:
    """A started agent, its transitions as they happen, and the output guard."""

    def __init__(self, agent: Agent, wakeups: ObservedWakeups, guard: OutputGuard) -> None:
        self.agent = agent
        #: The agent's wake-ups, instrumented (the agent was made with them).
        self.wakeups = wakeups
        self.guard = guard
        self.seen: list[Transition] = []
        self._queue: asyncio.Queue[Transition] = asyncio.Queue()
        agent.machine.listeners.append(self._record)
        self.task: asyncio.Task[int] | None = None
        self._settles = itertools.count()

    def _record(self, record: Transition) -> None:
        self.seen.append(record)
        self._queue.put_nowait(record)

    @property
    def net_dir(self) -> Path:
        return self.agent.settings.net_dir

    @property
    def output(self) -> Path:
        return self.net_dir / self.agent.settings.output

    async def until(
        self, match: Callable[[Transition], bool] | str, state: State | None = None
    ) -> Transition:
        """The next transition with this trigger (or matching), optionally into ``state``."""
        test = (lambda r: r.trigger == match) if isinstance(match, str) else match
        async with asyncio.timeout(HANG_GUARD):
            while True:
                if self.task is not None and self.task.done():
                    raise AssertionError(f"the agent ended early: {self.task.result()}")
                record = await self._queue.get()
                if test(record) and (state is None or record.dest == state.value):
                    return record

    async def until_state(self, state: State) -> Transition:
        return await self.until(lambda r: r.dest == state.value)

    async def settle(self) -> None:
        """Return once the agent's own watch has read every event made before this call and
        the agent waits with nothing left to handle: after it, what did not wake the agent
        did not, and a test can say so."""
        name = f".settle-{next(self._settles)}"
        read = self.wakeups.changes.read(name)
        try:
            (self.net_dir / name).touch()
            await asyncio.wait_for(read, HANG_GUARD)
        finally:
            (self.net_dir / name).unlink()
        await asyncio.wait_for(self.wakeups.quiet(), HANG_GUARD)

    async def stop(self) -> int:
        self.agent.request_stop()
        assert self.task is not None
        async with asyncio.timeout(HANG_GUARD):
            return await self.task


@contextlib.asynccontextmanager
async def running(
    net_dir: Path, *, backoff: retry.Backoff | None = None, **overrides: Any
) -> AsyncIterator[Running]:
    """Start an agent on ``net_dir`` (with ``backoff``: the retries' waits, real by default)
    and the guard; stop both on the way out, then check that no invalid content ever arrived
    under our output name."""
    settings = Settings(net_dir=net_dir, **overrides)
    guard = OutputGuard(net_dir, settings.output)
    inotify = asyncinotify.Inotify()
    inotify.add_watch(net_dir, Mask.CREATE | Mask.CLOSE_WRITE | Mask.MOVED_TO | Mask.DELETE)
    pump = asyncio.create_task(guard.pump(inotify))
    wakeups = ObservedWakeups()
    agent = Agent(settings, wakeups=wakeups, backoff=backoff, conf_dir=CountedConfDir(settings))
    run = Running(agent, wakeups, guard)
    run.task = asyncio.create_task(run.agent.run())
    try:
        async with asyncio.timeout(HANG_GUARD):
            await run.agent.ready.wait()
        yield run
        if not run.task.done():
            await run.stop()
        await guard.barrier()
    finally:
        run.agent.request_stop()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(run.task, HANG_GUARD)
        pump.cancel()
        inotify.close()
    assert guard.invalid_arrivals == [], guard.invalid_arrivals
