"""A uid whose inotify instances are used up, for real (root: the agent runs as a uid of its
own, and helper processes of that uid hold every instance it may have).

fs.inotify.max_user_instances is per uid, so the test touches no other process's limit: not
root's (the machine's other tests), not the sysctl. The agent must still write and keep the
chain, say which sysctl to raise and its value, answer ``chainfsm dump``, and go back to inotify
once the instances are freed. The watches limit (max_user_watches, hundreds of thousands) is
not used up for real: tests/agent/test_watch_degraded.py takes it through a seam.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from chainfsm.core import watch_limits
from tests.support import gate
from tests.support.agent_process import agent_env, agent_process
from tests.support.constants import AZURE, HANG_GUARD, OUTPUT
from tests.support.inotify_limits import proc_value
from tests.support.primaries import golden, primary_bytes

#: Opens inotify instances until the kernel refuses one, says how many and why, then holds
#: them until its stdin closes.
HOLDER = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
held = []
while True:
    fd = libc.inotify_init1(os.O_CLOEXEC)
    if fd < 0:
        break
    held.append(fd)
print(len(held), os.strerror(ctypes.get_errno()), flush=True)
sys.stdin.read()
"""


def as_uid(uid: int) -> tuple[str, ...]:
    """The command that runs the rest as ``uid`` (and its gid, no other group)."""
    return ("setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--")


@pytest.fixture
def uid() -> int:
    gate.need(os.geteuid() == 0, "needs root to run the agent as a uid of its own")
    gate.need(shutil.which("setpriv"), "needs setpriv (util-linux) to run the agent as a uid")
    # One uid per test run, far above any real account; concurrent runs differ by pid.
    own = 2_100_000_000 + os.getpid() % 1_000_000
    for proc in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if proc.name.isdigit() and proc.stat().st_uid == own:
                pytest.fail(f"uid {own} is in use by process {proc.name}", pytrace=False)
    probe = [*as_uid(own), sys.executable, "-c", "import chainfsm.cli.commands, asyncinotify"]
    ran = subprocess.run(probe, capture_output=True, text=True, check=False)
    gate.need(
        ran.returncode == 0,
        f"{sys.executable} cannot run chainfsm as an unprivileged uid: {ran.stderr[-200:]}",
    )
    return own


@pytest.fixture
def home(uid: int) -> Iterator[Path]:
    """A dir of the uid's (pytest's tmp_path is root's alone): net.d and run/ go in it."""
    base = Path(tempfile.mkdtemp(prefix="chainfsm-inotify-"))
    try:
        (base / "net.d").mkdir()
        for path in (base, base / "net.d"):
            os.chown(path, uid, uid)
        base.chmod(0o755)
        yield base
    finally:
        shutil.rmtree(base)


@contextlib.contextmanager
def instances_used_up(uid: int) -> Iterator[int]:
    """Every inotify instance ``uid`` may have, held by a process of that uid until the block
    ends; yields how many."""
    holder = subprocess.Popen(
        [*as_uid(uid), sys.executable, "-c", HOLDER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        count, _, why = holder.stdout.readline().partition(" ")
        assert why.strip() == "Too many open files", why
        yield int(count)
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(HANG_GUARD)


def _write_as(path: Path, data: bytes, uid: int) -> None:
    staged = path.with_name(path.name + ".staged.tmp")
    staged.write_bytes(data)
    os.chown(staged, uid, uid)
    staged.replace(path)


async def test_out_of_instances_the_agent_chains_keeps_the_chain_and_answers_dump(
    uid: int, home: Path
) -> None:
    net_dir = home / "net.d"
    _write_as(net_dir / AZURE, primary_bytes(), uid)
    limit = proc_value(watch_limits.INSTANCES)
    with instances_used_up(uid) as held:
        assert held == limit  # the uid has none left: the agent's own inotify_init1 fails
        args = ("--poll-interval", "0.05")
        async with agent_process(net_dir, *args, exec_wrapper=as_uid(uid)) as agent:
            said = await agent.line("watch_degraded")
            assert said["limit"] == watch_limits.INSTANCES
            assert said["value"] == limit
            assert f"cannot watch {net_dir}: Too many open files" in said["reason"]
            assert "inotify instances are used up" in said["reason"]
            await agent.line("transition", trigger="output_verified")
            assert (net_dir / OUTPUT).read_bytes() == golden()

            # Deleted: back from a poll.
            after = len(agent.lines)
            (net_dir / OUTPUT).unlink()
            await agent.line("transition", after, trigger="output_verified")
            assert (net_dir / OUTPUT).read_bytes() == golden()

            # `chainfsm dump`, as the same uid: no inotify for it either.
            dump = await asyncio.create_subprocess_exec(
                *(*as_uid(uid), sys.executable, "-m", "chainfsm", "dump"),
                env=agent.env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await asyncio.wait_for(dump.communicate(), HANG_GUARD)
            assert dump.returncode == 0, err.decode()
            doc = json.loads(out)
            assert doc["state"] == "Verified"
            assert doc["watch_degraded"] == said["reason"]
        assert agent.stray == []


async def test_instances_freed_bring_inotify_back(uid: int, home: Path) -> None:
    net_dir = home / "net.d"
    _write_as(net_dir / AZURE, primary_bytes(), uid)
    with contextlib.ExitStack() as holding:
        holding.enter_context(instances_used_up(uid))
        async with agent_process(
            net_dir, "--poll-interval", "0.05", exec_wrapper=as_uid(uid)
        ) as agent:
            await agent.line("watch_degraded")
            await agent.line("transition", trigger="output_verified")
            holding.close()  # the holder exits: the uid's instances are free
            restored = await agent.line("watch_restored")
            assert str(net_dir) in restored["reason"]
            after = len(agent.lines)
            (net_dir / OUTPUT).unlink()
            await agent.line("transition", after, trigger="output_verified")
            assert (net_dir / OUTPUT).read_bytes() == golden()
        assert agent.stray == []


async def test_once_out_of_instances_waits_for_the_primary_by_polling(uid: int, home: Path) -> None:
    """--once that finds no primary at its first look needs a watch: out of instances it
    polls, and names the sysctl (it used to exit 1 with "Too many open files")."""
    net_dir = home / "net.d"
    with instances_used_up(uid):
        once = await asyncio.create_subprocess_exec(
            *(*as_uid(uid), sys.executable, "-m", "chainfsm", "run", "--once"),
            *("--log-format", "json"),
            *("--poll-interval", "0.05", "--timeout", str(HANG_GUARD)),
            env=agent_env(net_dir),
            stderr=asyncio.subprocess.PIPE,
        )
        assert once.stderr is not None
        async with asyncio.timeout(HANG_GUARD):
            while True:
                line = json.loads(await once.stderr.readline())
                if line["event"] == "watch_degraded":
                    break
        assert line["limit"] == watch_limits.INSTANCES
        assert "fs.inotify.max_user_instances" in line["reason"]
        _write_as(net_dir / AZURE, primary_bytes(), uid)
        _, err = await asyncio.wait_for(once.communicate(), HANG_GUARD)
        assert once.returncode == 0, err.decode()
    assert (net_dir / OUTPUT).read_bytes() == golden()
