"""lifecycle.serve makes the process's parts before the agent and gives it what it needs of
them as keyword arguments: the sandbox passes' start-up look, which the agent's first write
waits for, and --untaint's view. Real files; the sandbox watch's start-up look held by the
test."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import pytest

from chainfsm.agent.agent import Agent
from chainfsm.process import lifecycle, sandbox_watch
from chainfsm.settings import Settings
from tests.support.constants import AZURE, HANG_GUARD, OUTPUT
from tests.support.log_queue import LogQueue
from tests.support.primaries import primary_bytes


async def test_the_first_write_waits_for_the_sandbox_passes_start_up_look(
    net_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lines: LogQueue
) -> None:
    asked, release = asyncio.Event(), asyncio.Event()

    async def held(self: sandbox_watch.SandboxWatch) -> None:
        asked.set()
        await release.wait()

    monkeypatch.setattr(sandbox_watch.SandboxWatch, "startup_done", held)
    made: list[Agent] = []

    def agent(settings: Settings, **parts: Any) -> Agent:
        made.append(Agent(settings, **parts))
        return made[-1]

    monkeypatch.setattr(lifecycle, "Agent", agent)
    (net_dir / AZURE).write_bytes(primary_bytes())
    settings = Settings(
        net_dir=net_dir,
        cri_socket=tmp_path / "nothing-listens.sock",
        cri_confirm_seconds=1e9,
        record_file=tmp_path / "node" / "record.json",
    )
    task = asyncio.create_task(lifecycle.serve(settings))
    try:
        # Whichever comes first: the agent asking for the look, or a write without it.
        waiting = asyncio.ensure_future(asked.wait())
        wrote = asyncio.ensure_future(lines.until("written"))
        async with asyncio.timeout(HANG_GUARD):
            await asyncio.wait([task, waiting, wrote], return_when=asyncio.FIRST_COMPLETED)
        assert not wrote.done(), "written before the start-up look was asked for"
        assert asked.is_set(), task
        wrote.cancel()
        assert not (net_dir / OUTPUT).exists()  # held back while the look is not done
        release.set()
        written = await lines.until("written")
        assert written["file"] == OUTPUT
    finally:
        release.set()
        for each in made:
            each.request_stop()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(task, HANG_GUARD)
    assert len(made) == 1


async def test_an_agent_made_outside_serve_is_refused_the_parts_it_was_not_given(
    net_dir: Path,
) -> None:
    settings = Settings(net_dir=net_dir, untaint="chainfsm.io/chain-not-ready", node_name="n")
    with pytest.raises(ValueError, match="no untainter or start-up look"):
        await lifecycle.serve(settings, Agent(settings))
