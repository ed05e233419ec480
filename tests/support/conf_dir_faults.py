"""Faults of the conf dir, injected: tmpfs conf dirs (root), a read-only switch, a tap on the
agent's log lines so a test can await a line instead of sleeping, and a bare agent whose conf
dir goes away (it must end with exit 1)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from chainfsm.agent.agent import Agent
from chainfsm.core import chaining, discovery, planning
from chainfsm.core.states import Trigger
from chainfsm.settings import Settings
from tests.support.constants import AZURE, HANG_GUARD, OUTPUT
from tests.support.gate import require_runtime
from tests.support.log_queue import attached


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


def _umount(path: Path) -> None:
    subprocess.run(["umount", "--lazy", str(path)], check=False, capture_output=True)


def require_root_mounts() -> None:
    """Mounting a tmpfs needs root (and mount(8)); skip or, under CI, fail."""
    if os.geteuid() != 0:
        require_runtime("needs root to mount a tmpfs as the conf dir")
    if subprocess.run(["mount", "--version"], capture_output=True, check=False).returncode:
        require_runtime("needs mount(8) from util-linux")


@contextlib.contextmanager
def tmpfs_conf_dir(base: Path, size: str = "1m") -> Iterator[tuple[Path, Path]]:
    """A tmpfs mounted at ``base/backing`` and bind-mounted at ``base/net.d``.

    The agent is given ``net.d``; the test writes through ``backing``, which stays writable
    when ``net.d`` is remounted read-only (inotify watches inodes, so the agent still hears
    every change). Both are unmounted on the way out, whatever happened.
    """
    require_root_mounts()
    backing, net_dir = base / "backing", base / "net.d"
    backing.mkdir()
    net_dir.mkdir()
    mounted: list[Path] = []
    try:
        mount_tmpfs(backing, size)
        mounted.append(backing)
        _mount("--bind", str(backing), str(net_dir))
        mounted.append(net_dir)
        yield net_dir, backing
    finally:
        for path in reversed(mounted):
            _umount(path)


def mount_tmpfs(path: Path, size: str = "1m") -> None:
    _mount("-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path))


def unmount(path: Path) -> None:
    _umount(path)


def set_read_only(net_dir: Path, read_only: bool) -> None:
    """Remount the bind mount at ``net_dir`` read-only or read-write (no inotify event)."""
    _mount("-o", f"remount,bind,{'ro' if read_only else 'rw'}", str(net_dir))


def fill(path: Path) -> int:
    """Write zeros to ``path`` until the filesystem is full; the bytes written."""
    written = 0
    chunk = b"\0" * 4096
    with open(path, "wb", buffering=0) as handle:
        while True:
            try:
                count = handle.write(chunk)
            except OSError:
                return written
            if not count:
                return written
            written += count


def our_temps(net_dir: Path, output: str = OUTPUT) -> list[str]:
    return sorted(p.name for p in net_dir.iterdir() if discovery.is_our_temp(p.name, output))


class LogTap(logging.Handler):
    """Every chainfsm log line as (event, fields), awaitable."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[tuple[str, dict[str, Any]]] = []
        self._queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()

    def emit(self, record: logging.LogRecord) -> None:
        fields = getattr(record, "fields", {})
        line = (str(record.msg), dict(fields) if isinstance(fields, dict) else {})
        self.lines.append(line)
        self._queue.put_nowait(line)

    async def until(
        self, event: str, match: Callable[[dict[str, Any]], bool] = lambda f: True
    ) -> dict[str, Any]:
        """The next line named ``event`` whose fields ``match``."""
        async with asyncio.timeout(HANG_GUARD):
            while True:
                name, fields = await self._queue.get()
                if name == event and match(fields):
                    return fields


@contextlib.contextmanager
def tapped() -> Iterator[LogTap]:
    """Tap chainfsm's log lines for the duration (in-process agents)."""
    tap = LogTap()
    with attached(tap, logging.INFO):
        yield tap


def chained(primary: bytes, name: str = AZURE) -> bytes:
    """What the agent must write for ``primary`` with the default settings (the core's render,
    itself pinned by the golden tests)."""
    plan = planning.plan(name, primary, chaining.DEFAULT_PLUGIN, OUTPUT, chaining.DEFAULT_REWRITES)
    assert isinstance(plan, planning.Plan), str(plan)
    return plan.rendered


async def start(net_dir: Path) -> tuple[Agent, asyncio.Task[int]]:
    agent = Agent(Settings(net_dir=net_dir, backoff_initial=30.0, backoff_max=60.0))
    task = asyncio.create_task(agent.run())
    async with asyncio.timeout(HANG_GUARD):
        await agent.ready.wait()
    return agent, task


async def ended(agent: Agent, task: asyncio.Task[int]) -> str:
    """The agent's exit code must be 1 and its last transition watch_lost; its reason."""
    async with asyncio.timeout(HANG_GUARD):
        assert await task == 1
    last = agent.status().history[-1]
    assert last.trigger == Trigger.WATCH_LOST
    assert "exiting so the kubelet restarts chainfsm" in last.reason
    return last.reason
