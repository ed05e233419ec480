"""watching.Watches: the conf dir's and --bin-dir's inotify watches armed onto an exit stack,
with real inotify in temp dirs."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from chainfsm.agent.wakeups import Wakeups
from chainfsm.edge import watching
from chainfsm.edge.changes import Changes
from tests.support.constants import HANG_GUARD
from tests.support.seams import TappedChanges


async def test_armed_watches_report_into_the_wakeups_until_the_stack_closes(
    net_dir: Path, tmp_path: Path
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    changes = TappedChanges()
    wakeups = Wakeups(changes)
    watches = watching.Watches(net_dir, bin_dir, changes)
    read: asyncio.Queue[str] = asyncio.Queue()
    changes.taps.append(read.put_nowait)
    assert not watches.armed
    async with contextlib.AsyncExitStack() as stack:
        assert watches.arm(stack) is None
        assert watches.armed
        (net_dir / "10-azure.conflist").write_bytes(b"")
        (bin_dir / "antrea").write_bytes(b"")
        seen: set[str] = set()
        async with asyncio.timeout(HANG_GUARD):
            while seen != {"10-azure.conflist", "antrea"}:
                seen.add(await read.get())
        assert not wakeups.only_changed("10-azure.conflist")  # antrea woke it too
        assert await wakeups.wait() is True
    assert not watches.armed
    assert wakeups.lost_why is None


async def test_a_bin_dir_that_cannot_be_watched_is_why_not(net_dir: Path, tmp_path: Path) -> None:
    changes = Changes()
    missing = tmp_path / "no-bin"
    watches = watching.Watches(net_dir, missing, changes)
    async with contextlib.AsyncExitStack() as stack:
        why = watches.arm(stack)
    assert why == f"cannot watch --bin-dir {missing}: No such file or directory"
    assert not watches.armed


async def test_a_conf_dir_replaced_under_the_watch_is_lost_at_the_next_check(
    tmp_path: Path,
) -> None:
    net_dir = tmp_path / "net.d"
    net_dir.mkdir()
    changes = TappedChanges()
    wakeups = Wakeups(changes)
    watches = watching.Watches(net_dir, None, changes)
    watches.check_identity()  # not armed yet: nothing to check
    async with contextlib.AsyncExitStack() as stack:
        assert watches.arm(stack) is None
        net_dir.rename(tmp_path / "old")
        net_dir.mkdir()
        watches.check_identity()
        assert wakeups.lost_why is not None
        assert not watches.armed
