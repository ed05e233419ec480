"""A real ``chainfsm run`` in a child process, and every JSON line it logs, read as it comes.

For tests that need what only a process has: its own open-file limit, a port scraped by
another program. The agent is stopped with SIGTERM by its own pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from tests.support.constants import HANG_GUARD


class AgentProcess:
    def __init__(
        self, proc: asyncio.subprocess.Process, env: dict[str, str], wrapped: bool = False
    ) -> None:
        self.proc = proc
        #: ``proc`` is a wrapper (strace) whose one child is the agent.
        self.wrapped = wrapped
        #: The agent's environment: ``chainfsm dump`` run with it finds the agent.
        self.env = env
        self.lines: list[dict[str, Any]] = []
        #: Lines that were not JSON (a traceback, say): every test wants none.
        self.stray: list[str] = []
        self._grew = asyncio.Condition()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            try:
                doc = json.loads(line)
            except ValueError:
                self.stray.append(line.decode(errors="replace"))
                continue
            async with self._grew:
                self.lines.append(doc)
                self._grew.notify_all()
        async with self._grew:
            self._grew.notify_all()

    async def line(self, event: str, after: int = 0, **match: Any) -> dict[str, Any]:
        """The first line from index ``after`` on with this event and these fields."""
        async with asyncio.timeout(HANG_GUARD), self._grew:
            while True:
                for doc in self.lines[after:]:
                    if doc["event"] == event and all(doc.get(k) == v for k, v in match.items()):
                        return doc
                if self._reader.done():
                    raise AssertionError(f"the agent exited without logging {event} {match}")
                await self._grew.wait()

    def count(self, event: str) -> int:
        return sum(1 for doc in self.lines if doc["event"] == event)

    def address(self, paths: str) -> tuple[str, int]:
        """Where the listener serving ``paths`` listens (from its ``listening`` line)."""
        wanted = set(paths.split())
        doc = next(
            d for d in self.lines if d["event"] == "listening" and set(d["paths"].split()) == wanted
        )
        host, port = doc["address"].rsplit(":", 1)
        return host, int(port)

    @property
    def pid(self) -> int:
        """The agent's own pid: a wrapper such as strace ignores SIGTERM and keeps tracing."""
        if not self.wrapped:
            return self.proc.pid
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        (child,) = children.split()
        return int(child)

    async def stop(self) -> int:
        if self.proc.returncode is None:
            # A wrapped agent that already exited has no pid to signal (ValueError): its
            # wrapper ends with it.
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(self.pid, signal.SIGTERM)
        code = await asyncio.wait_for(self.proc.wait(), HANG_GUARD)
        await asyncio.wait_for(self._reader, HANG_GUARD)
        return code


def agent_env(net_dir: Path) -> dict[str, str]:
    """The environment of an agent on ``net_dir``: its dump file (and pid file) in ``run``
    beside it."""
    return {
        **os.environ,
        "CHAINFSM_NET_DIR": str(net_dir),
        "CHAINFSM_DUMP_FILE": str(net_dir.parent / "run" / "dump.json"),
    }


@contextlib.asynccontextmanager
async def agent_process(
    net_dir: Path,
    *args: str,
    preexec_fn: Callable[[], None] | None = None,
    wrapper: Sequence[str] = (),
    exec_wrapper: Sequence[str] = (),
) -> AsyncIterator[AgentProcess]:
    """``chainfsm run --log-format json ARGS`` on ``net_dir``, until it has logged ``started``;
    under ``wrapper`` (a command that runs the agent as its one child) when given, or
    ``exec_wrapper`` (one that execs it in its own place, such as setpriv)."""
    env = agent_env(net_dir)
    proc = await asyncio.create_subprocess_exec(
        *(*wrapper, *exec_wrapper, sys.executable, "-m", "chainfsm", "run"),
        *("--log-format", "json", *args),
        env=env,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=preexec_fn,
    )
    agent = AgentProcess(proc, env, wrapped=bool(wrapper))
    try:
        await agent.line("started")
        yield agent
    finally:
        await agent.stop()
