"""Faults of the conf dir's filesystem (root: a real tmpfs): full, read-only, and mounted over.

The agent must never leave a partial file or a temp file, must say why in one line, stay up,
and come back by itself when the space or the write access returns, which the kernel does
not announce: a timed retry must do it. Backoffs are kept small so recovery is prompt; every
wait is on a transition or a log line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chainfsm.cli.demo import write_in_place
from chainfsm.core.states import State, Trigger
from tests.support.conf_dir_faults import (
    chained,
    ended,
    fill,
    mount_tmpfs,
    our_temps,
    require_root_mounts,
    set_read_only,
    start,
    tapped,
    tmpfs_conf_dir,
    unmount,
)
from tests.support.constants import AZURE, OUTPUT
from tests.support.guarded_agent import running
from tests.support.primaries import golden, primary_bytes

#: Small real backoffs: recovery after a remount or freed space comes from the timer.
QUICK: dict[str, Any] = {"backoff_initial": 0.01, "backoff_max": 0.05}


@pytest.fixture
def conf(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    with tmpfs_conf_dir(tmp_path, size="16k") as dirs:
        yield dirs


def second_version() -> bytes:
    doc = json.loads(primary_bytes())
    doc["plugins"][0]["mtu"] = 1337
    return json.dumps(doc).encode()


async def test_full_disk_keeps_the_old_output_says_so_and_recovers_when_space_returns(
    conf: tuple[Path, Path],
) -> None:
    net_dir, backing = conf
    (backing / AZURE).write_bytes(primary_bytes())
    with tapped() as tap:
        async with running(net_dir, **QUICK) as run:
            await run.until(Trigger.OUTPUT_VERIFIED)
            # Rewritten in place before the disk fills: same size class, so it fits its page.
            filler = backing / "filler"
            assert fill(filler) > 0
            write_in_place(backing / AZURE, second_version())
            failed = await run.until(Trigger.WRITE_FAILED, State.Failed)
            assert "No space left on device" in failed.reason
            assert "previous 05-antrea.conflist is untouched" in failed.reason
            assert run.output.read_bytes() == golden()  # the old valid content
            assert our_temps(net_dir) == []
            retried = await run.until(Trigger.RETRY_DUE)  # still full: retrying, staying up
            assert retried.dest == State.Validating.value
            # Freeing space sends no event the agent listens to: the timer must bring it back.
            filler.unlink()
            await run.until(
                lambda r: (
                    r.trigger == Trigger.OUTPUT_VERIFIED
                    and run.output.read_bytes() == chained(second_version())
                )
            )
            assert our_temps(net_dir) == []
    errors = [f for e, f in tap.lines if e == "transition" and f["trigger"] == "write_failed"]
    assert errors, "the full disk was never reported"


async def test_read_only_dir_keeps_the_agent_up_says_why_and_recovers_on_remount(
    conf: tuple[Path, Path],
) -> None:
    net_dir, backing = conf
    (backing / AZURE).write_bytes(primary_bytes())
    async with running(net_dir, **QUICK) as run:
        await run.until(Trigger.OUTPUT_VERIFIED)
        set_read_only(net_dir, True)
        try:
            write_in_place(backing / AZURE, second_version())  # the test's writer is rw
            failed = await run.until(Trigger.WRITE_FAILED, State.Failed)
            assert "Read-only file system" in failed.reason
            assert "chainfsm retries by itself" in failed.reason
            await run.until(Trigger.RETRY_DUE)
            assert run.output.read_bytes() == golden()
        finally:
            set_read_only(net_dir, False)
        await run.until(
            lambda r: (
                r.trigger == Trigger.OUTPUT_VERIFIED
                and run.output.read_bytes() == chained(second_version())
            )
        )
        assert run.task is not None
        assert not run.task.done()
    assert our_temps(net_dir) == []


async def test_read_only_dir_at_start_with_leftovers_stays_up_and_cleans_after_remount(
    conf: tuple[Path, Path],
) -> None:
    net_dir, backing = conf
    temp = f".{OUTPUT}.0123456789ab.chainfsm.tmp"
    (backing / temp).write_bytes(b"{")
    (backing / OUTPUT).write_bytes(b"")  # the old installer's empty file: blocks the runtime
    set_read_only(net_dir, True)
    try:
        with tapped() as tap:
            async with running(net_dir, **QUICK) as run:
                # Started (ready) despite both removals failing, and says why.
                stuck = await tap.until("cleanup_failed", lambda f: f["file"] == OUTPUT)
                assert "blocks the runtime" in stuck["reason"]
                assert "Read-only file system" in stuck["reason"]
                assert any(e == "cleanup_failed" and f["file"] == temp for e, f in tap.lines)
                assert run.agent.state is State.WaitingPrimary
                # Retried on a timer while read-only (no primary: as a withdrawal).
                for _ in range(2):
                    await tap.until("withdrawn", lambda f: "could not withdraw" in f["reason"])
                set_read_only(net_dir, False)
                await tap.until("withdrawn", lambda f: "withdrew" in f["reason"])
                assert not (net_dir / OUTPUT).exists()
                (backing / AZURE).write_bytes(primary_bytes())
                await run.until(Trigger.OUTPUT_VERIFIED)
                assert run.output.read_bytes() == golden()
    finally:
        set_read_only(net_dir, False)


async def test_primary_lost_on_a_read_only_dir_withdraws_once_writable(
    conf: tuple[Path, Path],
) -> None:
    net_dir, backing = conf
    (backing / AZURE).write_bytes(primary_bytes())
    with tapped() as tap:
        async with running(net_dir, **QUICK) as run:
            await run.until(Trigger.OUTPUT_VERIFIED)
            set_read_only(net_dir, True)
            try:
                (backing / AZURE).unlink()
                lost = await run.until(Trigger.PRIMARY_LOST, State.WaitingPrimary)
                assert "could not withdraw 05-antrea.conflist" in lost.reason
                assert "Read-only file system" in lost.reason
                await tap.until("withdrawn", lambda f: "could not withdraw" in f["reason"])
            finally:
                set_read_only(net_dir, False)
            await tap.until("withdrawn", lambda f: "withdrew" in f["reason"])
            assert not run.output.exists()
            assert run.agent.state is State.WaitingPrimary


async def test_a_new_mount_over_the_conf_dir_ends_the_agent(net_dir: Path) -> None:
    require_root_mounts()
    (net_dir / AZURE).write_bytes(primary_bytes())
    agent, task = await start(net_dir)
    mount_tmpfs(net_dir)
    try:
        reason = await ended(agent, task)
        assert "is now another directory" in reason
    finally:
        unmount(net_dir)
