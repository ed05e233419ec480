"""Test helpers: an agent's transitions as a queue, and waiting for one of them."""

from __future__ import annotations

import asyncio
from pathlib import Path

from chainfsm.agent import Agent
from chainfsm.states import Transition

TESTDATA = Path(__file__).parent / "testdata"
#: Azure CNI's overlay conflist, as AKS writes it.
PRIMARY = (TESTDATA / "primaries" / "aks-overlay.10-azure.conflist").read_bytes()
#: A hang guard, never a timing assertion.
GUARD = 30.0


def record(agent: Agent) -> asyncio.Queue[Transition]:
    """Every transition of ``agent`` from now on, in order."""
    queue: asyncio.Queue[Transition] = asyncio.Queue()
    agent.listeners.append(queue.put_nowait)
    return queue


async def until(
    queue: asyncio.Queue[Transition], dest: str | None = None, trigger: str | None = None
) -> Transition:
    """The next transition into ``dest`` and/or by ``trigger`` (earlier ones are consumed)."""
    async with asyncio.timeout(GUARD):
        while True:
            found = await queue.get()
            if dest in (None, found.dest) and trigger in (None, found.trigger):
                return found


def write_in_place(path: Path, data: bytes) -> None:
    """Write as the racy installer did: truncate, then fill, in one open."""
    with open(path, "wb") as handle:
        handle.write(data)
