"""Out of inotify (the uid's instances or watches used up): the agent polls instead, keeps the
chain right, says which sysctl to raise, and goes back to inotify once it can.

The arming fails through the seam in tests/support/inotify_limits.py (the real inotify,
failing with the kernel's errno); everything else is real files in temp dirs. The uid's
instances are used up for real in tests/runtime/test_inotify_limits.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
from pathlib import Path
from typing import Any

import pytest

from chainfsm.agent.agent import Agent
from chainfsm.agent.wakeups import Wakeups
from chainfsm.core import watch_limits
from chainfsm.core.states import State, Trigger
from chainfsm.edge import watching
from chainfsm.edge.changes import Changes
from chainfsm.process import http_endpoints, metrics
from chainfsm.settings import Settings
from tests.support.constants import AZURE, HANG_GUARD
from tests.support.guarded_agent import SLOW, plugin_types, running, write_by_rename
from tests.support.inotify_limits import exhaust, proc_value
from tests.support.log_queue import LogQueue
from tests.support.primaries import golden, primary_bytes
from tests.support.seams import TappedChanges

#: Polls every 10 ms, so inotify is tried again every 0.3 s.
QUICK_POLL: dict[str, Any] = {"poll_interval": 0.01}


def _gauges(agent: Agent) -> dict[str, float]:
    text = metrics.Metrics(agent.status).render().decode()
    found = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in ("chainfsm_watch_armed", "chainfsm_watch_degraded"):
            found[name] = float(value)
    return found


async def test_out_of_watches_the_agent_polls_keeps_the_chain_and_goes_back_to_inotify(
    net_dir: Path, monkeypatch: pytest.MonkeyPatch, lines: LogQueue
) -> None:
    limit = exhaust(monkeypatch, errno.ENOSPC)
    (net_dir / AZURE).write_bytes(primary_bytes())
    async with running(net_dir, **QUICK_POLL, **SLOW) as run:
        said = await lines.until("watch_degraded")
        assert said["limit"] == watch_limits.WATCHES
        assert said["value"] == proc_value(watch_limits.WATCHES)
        assert f"cannot watch {net_dir}: No space left on device" in said["reason"]
        assert "inotify watches are used up" in said["reason"]
        await run.until(Trigger.OUTPUT_VERIFIED)
        assert run.output.read_bytes() == golden()

        # Alive and watching (by polling), said by the probes and the metrics.
        status = run.agent.status()
        assert status.watch_armed
        assert status.watch_degraded == said["reason"]
        assert http_endpoints.healthz(status).status == 200
        assert _gauges(run.agent) == {"chainfsm_watch_armed": 1.0, "chainfsm_watch_degraded": 1.0}

        # The chain kept right meanwhile: a deleted output comes back from a poll.
        run.output.unlink()
        changed = await run.until(Trigger.CHANGE_DETECTED)
        assert "was changed by someone else" in changed.reason
        await run.until(Trigger.OUTPUT_VERIFIED)
        assert run.output.read_bytes() == golden()

        # A primary replaced (renamed over, as Azure CNS does): chained again from a poll.
        doc = json.loads(primary_bytes())
        doc["plugins"].insert(1, {"type": "bandwidth", "capabilities": {"bandwidth": True}})
        write_by_rename(net_dir / AZURE, json.dumps(doc).encode())
        await run.until(Trigger.OUTPUT_VERIFIED)
        assert plugin_types(run.output) == ["azure-vnet", "bandwidth", "portmap", "antrea"]
        write_by_rename(net_dir / AZURE, primary_bytes())
        await run.until(Trigger.OUTPUT_VERIFIED)
        assert run.output.read_bytes() == golden()

        # The limit freed: inotify again, polling over.
        limit.full = 0
        restored = await lines.until("watch_restored")
        assert str(net_dir) in restored["reason"]
        assert run.agent.status().watch_degraded is None
        assert _gauges(run.agent) == {"chainfsm_watch_armed": 1.0, "chainfsm_watch_degraded": 0.0}
        await run.settle()  # only inotify reads the settle name: polling ignores it
        run.output.unlink()
        await run.until(Trigger.OUTPUT_VERIFIED)
        assert run.output.read_bytes() == golden()


async def test_out_of_instances_once_waits_by_polling_and_names_the_sysctl(
    net_dir: Path, monkeypatch: pytest.MonkeyPatch, lines: LogQueue
) -> None:
    """--once arms its watch after a first look finds no primary: out of instances, it polls
    (today it exited 1 with "Too many open files")."""
    exhaust(monkeypatch, errno.EMFILE)
    agent = Agent(Settings(net_dir=net_dir, once=True, poll_interval=0.01, backoff_initial=30.0))
    task = asyncio.create_task(agent.run())
    try:
        said = await lines.until("watch_degraded")
        assert said["limit"] == watch_limits.INSTANCES
        assert said["value"] == proc_value(watch_limits.INSTANCES)
        assert "Too many open files" in said["reason"]
        assert "sysctl -w fs.inotify.max_user_instances=" in said["reason"]
        assert agent.state is State.WaitingPrimary
        (net_dir / AZURE).write_bytes(primary_bytes())
        async with asyncio.timeout(HANG_GUARD):
            assert await task == 0
        assert (net_dir / agent.settings.output).read_bytes() == golden()
    finally:
        agent.request_stop()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(task, HANG_GUARD)


async def test_a_polled_bin_dir_reports_its_changes(
    net_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lines: LogQueue
) -> None:
    exhaust(monkeypatch, errno.ENOSPC)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    changes = TappedChanges()
    wakeups = Wakeups(changes)
    watches = watching.Watches(net_dir, bin_dir, changes, 0.01)
    read: asyncio.Queue[str] = asyncio.Queue()
    changes.taps.append(read.put_nowait)
    async with contextlib.AsyncExitStack() as stack:
        assert watches.arm(stack) is None
        said = await lines.until("watch_degraded")
        assert f"cannot watch --bin-dir {bin_dir}" not in said["reason"]  # the conf dir first
        (bin_dir / "antrea").write_bytes(b"")
        async with asyncio.timeout(HANG_GUARD):
            assert await read.get() == "antrea"
        (bin_dir / "antrea").chmod(0o755)  # a mode change, as inotify's IN_ATTRIB
        async with asyncio.timeout(HANG_GUARD):
            assert await read.get() == "antrea"
        assert await wakeups.wait() is True
    assert not watches.armed


async def test_a_dir_that_cannot_be_watched_for_another_reason_is_still_why_not(
    net_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Polling is for a used-up limit only: a missing dir stays the loud exit it was."""
    exhaust(monkeypatch, 0)
    changes = Changes()
    missing = tmp_path / "missing"
    watches = watching.Watches(missing, None, changes, 0.01)
    async with contextlib.AsyncExitStack() as stack:
        assert watches.arm(stack) == f"cannot watch {missing}: No such file or directory"
    assert watches.degraded is None
    assert not watches.armed


async def test_a_polled_conf_dir_reached_through_a_repointed_symlink_is_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lines: LogQueue
) -> None:
    """Polling sees what the LinkWatch would (issue 19 item 3): the path now names another
    dir, so the agent is never Verified on the dir it no longer writes."""
    exhaust(monkeypatch, errno.EMFILE)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    link = tmp_path / "net.d"
    link.symlink_to(tmp_path / "a")
    changes = TappedChanges()
    wakeups = Wakeups(changes)
    watches = watching.Watches(link, None, changes, 0.01)
    async with contextlib.AsyncExitStack() as stack:
        assert watches.arm(stack) is None
        await lines.until("watch_degraded")
        staged = tmp_path / "net.d.new"
        staged.symlink_to(tmp_path / "b")
        staged.replace(link)
        async with asyncio.timeout(HANG_GUARD):
            assert await wakeups.wait() is False  # lost, not a change
    assert wakeups.lost_why == (
        f"{link} now leads to {tmp_path / 'b'}, not {tmp_path / 'a'}: a symlink on its way was"
        " repointed"
    )
    assert not watches.armed
