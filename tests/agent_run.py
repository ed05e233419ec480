"""chainfsm's agent running in-process in a test, its transitions awaited as events."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from chainfsm.agent import Agent
from chainfsm.settings import Settings
from chainfsm.states import Transition, Trigger

#: A hang guard, not a timing assertion: each wait ends on an event long before this.
HANG_GUARD = 30.0


class RunningAgent:
    def __init__(self, settings: Settings) -> None:
        self.agent = Agent(settings)
        self.transitions: asyncio.Queue[Transition] = asyncio.Queue()
        self.agent.listeners.append(self.transitions.put_nowait)

    async def until(self, trigger: Trigger, mentioning: str = "") -> Transition:
        """The next transition by ``trigger`` whose reason mentions ``mentioning``."""
        async with asyncio.timeout(HANG_GUARD):
            while True:
                record = await self.transitions.get()
                if record.trigger == trigger and mentioning in record.reason:
                    return record


@contextlib.asynccontextmanager
async def running_agent(net_dir: Path, **settings: Any) -> AsyncIterator[RunningAgent]:
    """The agent on ``net_dir``, watching and ready (start-up cleanup done) when this yields."""
    running = RunningAgent(Settings(net_dir=net_dir, **settings))
    task = asyncio.create_task(running.agent.run(), name="chainfsm-agent")
    try:
        async with asyncio.timeout(HANG_GUARD):
            await running.agent.ready.wait()
        yield running
    finally:
        running.agent.request_stop()
        async with asyncio.timeout(HANG_GUARD):
            await task
