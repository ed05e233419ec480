"""A plugin that never answers VERSION, the way a script does: the script waits on a child
(``sleep``) that holds its stdout. Each run reports its two pids into a directory the test
watches, so the test knows when the plugin hangs and can look at both processes, by events."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import asyncinotify
from asyncinotify import Mask

from tests.support.constants import HANG_GUARD


def stuck(runs: Path) -> str:
    """A plugin body that hangs: the script and its child ``sleep``, which keeps stdout open.
    Each run renames ``run.<pid>`` into ``runs``, holding "<script pid> <sleep pid>"."""
    staged = f'"{runs}/.run.$$"'
    return (
        "cat > /dev/null\n"
        "sleep 600 &\n"
        f'echo "$$ $!" > {staged} && mv {staged} "{runs}/run.$$"\n'
        "wait\n"
    )


class Runs:
    """The stuck plugin's runs, as they start."""

    def __init__(self, runs: Path) -> None:
        self.dir = runs
        self.pids: list[int] = []
        self._inotify = asyncinotify.Inotify()
        self._inotify.add_watch(runs, Mask.MOVED_TO | Mask.ONLYDIR)

    async def next(self) -> tuple[int, int]:
        """The pids (script, its child) of the next run to start."""
        async with asyncio.timeout(HANG_GUARD):
            async for event in self._inotify:
                if event.name is not None and str(event.name).startswith("run."):
                    words = (self.dir / event.name).read_text().split()
                    script, child = int(words[0]), int(words[1])
                    self.pids += [script, child]
                    return script, child
        raise AssertionError("the inotify on the runs ended")

    def close(self) -> None:
        # A test that failed must not leave its sleeps behind for ten minutes.
        for pid in self.pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        self._inotify.close()


@contextlib.asynccontextmanager
async def runs_of(runs: Path) -> AsyncIterator[Runs]:
    """``runs`` (made here) watched for the stuck plugin's runs."""
    await asyncio.to_thread(runs.mkdir, exist_ok=True)
    watched = Runs(runs)
    try:
        yield watched
    finally:
        watched.close()


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2 :].split()[0] != b"Z"


async def exited(pid: int) -> None:
    """Return once ``pid`` has exited: its pidfd turns readable then (zombie or reaped)."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not done.done():
            done.set_result(None)

    loop.add_reader(pidfd, readable)
    try:
        async with asyncio.timeout(HANG_GUARD):
            await done
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)
