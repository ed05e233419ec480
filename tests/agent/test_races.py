"""The race catalog: every start-up race and later change, with real files and real inotify.

Each test asserts the transitions and the files, and (through the harness's guard) that no
invalid content ever arrived under our output name and that the agent never wrote it in place.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from chainfsm.cli.demo import write_in_place
from chainfsm.core.states import State, Trigger
from tests.support.constants import AZURE, OUTPUT
from tests.support.counted_looks import CountedConfDir
from tests.support.guarded_agent import SLOW, plugin_types, running, write_by_rename
from tests.support.primaries import golden, primary_bytes
from tests.support.seams import InstantBackoff


async def test_primary_written_in_place_after_the_agent_started_is_chained(net_dir: Path) -> None:
    async with running(net_dir, **SLOW) as run:
        assert run.agent.state is State.WaitingPrimary
        write_in_place(net_dir / AZURE, primary_bytes())
        found = await run.until(Trigger.PRIMARY_FOUND)
        assert found.primary == AZURE
        await run.until(Trigger.OUTPUT_VERIFIED)
        assert run.output.read_bytes() == golden()
        assert run.guard.in_place_writes == 0


async def test_primary_renamed_into_place_after_the_agent_started_is_chained(
    net_dir: Path,
) -> None:
    async with running(net_dir, **SLOW) as run:
        write_by_rename(net_dir / AZURE, primary_bytes())
        await run.until(Trigger.OUTPUT_VERIFIED)
        assert run.output.read_bytes() == golden()
    assert [r.trigger for r in run.seen] == [
        Trigger.PRIMARY_FOUND,
        Trigger.PRIMARY_VALID,
        Trigger.OUTPUT_VERIFIED,
    ]


@pytest.mark.parametrize(
    ("content", "rule_words"),
    [(b"", "is empty"), (b"  \n\t ", "only whitespace"), (b"{}", 'has no "name"')],
)
async def test_primary_invalid_for_a_while_keeps_validating_and_writes_nothing(
    net_dir: Path, content: bytes, rule_words: str
) -> None:
    async with running(net_dir, **SLOW) as run:
        write_in_place(net_dir / AZURE, content)
        invalid = await run.until(Trigger.PRIMARY_INVALID)
        assert rule_words in invalid.reason
        assert AZURE in invalid.reason
        await run.guard.barrier()
        assert not run.output.exists()
        assert run.agent.state is State.Validating
        write_in_place(net_dir / AZURE, primary_bytes())
        await run.until(Trigger.OUTPUT_VERIFIED)
        assert run.output.read_bytes() == golden()


async def test_primary_written_in_two_steps_is_chained_only_when_complete(net_dir: Path) -> None:
    full = primary_bytes()
    async with running(net_dir, **SLOW) as run:
        write_in_place(net_dir / AZURE, full[: len(full) // 2])
        half = await run.until(Trigger.PRIMARY_INVALID)
        assert "truncated" in half.reason
        await run.guard.barrier()
        assert not run.output.exists()
        with open(net_dir / AZURE, "ab") as handle:  # noqa: ASYNC230 - a writer racing the agent
            handle.write(full[len(full) // 2 :])
        await run.until(Trigger.OUTPUT_VERIFIED)
        assert run.output.read_bytes() == golden()
    assert run.guard.arrivals == 1


async def test_invalid_output_left_from_before_is_removed_before_anything_else(
    net_dir: Path,
) -> None:
    (net_dir / OUTPUT).write_bytes(b"")
    async with running(net_dir, **SLOW) as run:
        # Ready means start-up is done: the blocking file is already gone.
        assert not run.output.exists()
        assert run.agent.state is State.WaitingPrimary
        write_by_rename(net_dir / AZURE, primary_bytes())
        await run.until(Trigger.OUTPUT_VERIFIED)
        assert run.output.read_bytes() == golden()


async def test_valid_output_left_from_before_is_kept_without_a_write(net_dir: Path) -> None:
    (net_dir / AZURE).write_bytes(primary_bytes())
    (net_dir / OUTPUT).write_bytes(golden())
    async with running(net_dir, **SLOW) as run:
        verified = await run.until(Trigger.OUTPUT_VERIFIED)
        assert "already current" in verified.reason
        assert run.agent.status().writes == 0
    assert run.guard.arrivals == 0


async def test_primary_renamed_from_10_to_15_is_followed_without_withdrawing(
    net_dir: Path,
) -> None:
    (net_dir / AZURE).write_bytes(primary_bytes())
    async with running(net_dir, **SLOW) as run:
        await run.until(Trigger.OUTPUT_VERIFIED)
        (net_dir / AZURE).rename(net_dir / "15-azure-overlay.conflist")
        changed = await run.until(Trigger.CHANGE_DETECTED)
        assert "15-azure-overlay.conflist" in changed.reason
        await run.until(Trigger.OUTPUT_VERIFIED)
        assert run.agent.status().primary == "15-azure-overlay.conflist"
        assert run.output.read_bytes() == golden()
    assert run.guard.removals == 0


async def test_primary_updated_is_rechained(net_dir: Path) -> None:
    (net_dir / AZURE).write_bytes(primary_bytes())
    async with running(net_dir, **SLOW) as run:
        await run.until(Trigger.OUTPUT_VERIFIED)
        doc = json.loads(primary_bytes())
        doc["plugins"].insert(1, {"type": "bandwidth", "capabilities": {"bandwidth": True}})
        write_by_rename(net_dir / AZURE, json.dumps(doc).encode())
        await run.until(Trigger.OUTPUT_VERIFIED)
        assert plugin_types(run.output) == ["azure-vnet", "bandwidth", "portmap", "antrea"]


@pytest.mark.parametrize("tamper", ["delete", "truncate", "truncate-syscall", "edit"])
async def test_output_deleted_truncated_or_edited_is_restored(net_dir: Path, tamper: str) -> None:
    (net_dir / AZURE).write_bytes(primary_bytes())
    async with running(net_dir, **SLOW) as run:
        await run.until(Trigger.OUTPUT_VERIFIED)
        if tamper == "delete":
            run.output.unlink()
        elif tamper == "truncate":
            write_in_place(run.output, b"")
        elif tamper == "truncate-syscall":
            os.truncate(run.output, 0)  # no open, no close: only IN_MODIFY says so
        else:
            write_in_place(run.output, primary_bytes())  # someone drops our plugin
        changed = await run.until(Trigger.CHANGE_DETECTED)
        assert f"{OUTPUT} was changed by someone else" in changed.reason
        await run.until(Trigger.OUTPUT_VERIFIED)
        assert run.output.read_bytes() == golden()
    assert run.guard.in_place_writes == (1 if tamper in ("truncate", "edit") else 0)


async def test_primary_deleted_withdraws_our_output(net_dir: Path) -> None:
    (net_dir / AZURE).write_bytes(primary_bytes())
    async with running(net_dir, **SLOW) as run:
        await run.until(Trigger.OUTPUT_VERIFIED)
        (net_dir / AZURE).unlink()
        lost = await run.until(Trigger.PRIMARY_LOST, State.WaitingPrimary)
        assert f"{AZURE} is gone" in lost.reason
        await run.guard.barrier()
        assert run.guard.removals == 1
        assert not run.output.exists()
        # And it comes back with the primary.
        write_by_rename(net_dir / AZURE, primary_bytes())
        await run.until(Trigger.OUTPUT_VERIFIED)
        assert run.output.read_bytes() == golden()


async def test_primary_deleted_keeps_our_output_when_asked(net_dir: Path) -> None:
    (net_dir / AZURE).write_bytes(primary_bytes())
    async with running(net_dir, keep_on_primary_loss=True, **SLOW) as run:
        await run.until(Trigger.OUTPUT_VERIFIED)
        (net_dir / AZURE).unlink()
        await run.until(Trigger.PRIMARY_LOST, State.WaitingPrimary)
        await run.guard.barrier()
        assert run.output.read_bytes() == golden()
    assert run.guard.removals == 0


async def test_other_writers_leftovers_are_never_the_primary_and_never_wake_it(
    net_dir: Path,
) -> None:
    (net_dir / AZURE).write_bytes(primary_bytes())
    async with running(net_dir, **SLOW) as run:
        await run.until(Trigger.OUTPUT_VERIFIED)
        await run.settle()
        port = run.agent.confdir
        assert isinstance(port, CountedConfDir)
        looks, seen = port.looks, len(run.seen)
        (net_dir / "10-azure.conflist8412.tmp").write_bytes(b"{")
        (net_dir / "10-azure.conflist-old").write_bytes(b"")
        (net_dir / "05-antrea.conflist.cilium_bak").write_bytes(b"")
        await run.settle()
        assert port.looks == looks  # not even a look: the agent never woke
        assert len(run.seen) == seen
        assert run.agent.state is State.Verified
        assert run.agent.status().primary == AZURE


async def test_single_plugin_conf_primary_becomes_a_list_keeping_its_version(
    net_dir: Path,
) -> None:
    async with running(net_dir, **SLOW) as run:
        write_by_rename(net_dir / "10-bridge.conf", primary_bytes("single-plugin.10-bridge.conf"))
        await run.until(Trigger.OUTPUT_VERIFIED)
        assert run.output.read_bytes() == golden("single-plugin.10-bridge.conf")
        chained = json.loads(run.output.read_bytes())
        assert chained["cniVersion"] == "0.4.0"


async def test_primary_rewritten_hundreds_of_times_converges_without_a_write_each(
    net_dir: Path,
) -> None:
    (net_dir / AZURE).write_bytes(primary_bytes())
    rewrites = 300
    async with running(net_dir, **SLOW) as run:
        await run.until(Trigger.OUTPUT_VERIFIED)
        doc = json.loads(primary_bytes())

        def churn() -> None:
            for n in range(rewrites):
                doc["plugins"][0]["mtu"] = 1400 + n
                write_in_place(net_dir / AZURE, json.dumps(doc).encode())

        await asyncio.to_thread(churn)
        last_mtu = 1400 + rewrites - 1
        await run.until(
            lambda r: (
                r.trigger == Trigger.OUTPUT_VERIFIED
                and json.loads(run.output.read_bytes())["plugins"][0].get("mtu") == last_mtu
            )
        )
        # A write per rewrite would be 300; coalescing reads the dir once per burst.
        assert run.agent.status().writes < rewrites // 2


async def test_valid_config_of_someone_else_sorting_first_is_reported_as_shadowing(
    net_dir: Path,
) -> None:
    (net_dir / AZURE).write_bytes(primary_bytes())
    async with running(net_dir, primary=AZURE, **SLOW) as run:
        await run.until(Trigger.OUTPUT_VERIFIED)
        write_by_rename(net_dir / "01-other.conflist", primary_bytes("flannel.10-flannel.conflist"))
        failed = await run.until(Trigger.VERIFY_FAILED)
        assert "01-other.conflist sorts before 05-antrea.conflist" in failed.reason
        assert "remove 01-other.conflist" in failed.reason
        # Removing the shadowing file is a change: back to Verified without a timer.
        (net_dir / "01-other.conflist").unlink()
        await run.until(Trigger.OUTPUT_VERIFIED)


async def test_invalid_config_sorting_first_is_reported_as_blocking_the_runtime(
    net_dir: Path,
) -> None:
    (net_dir / AZURE).write_bytes(primary_bytes())
    async with running(net_dir, primary=AZURE, **SLOW) as run:
        await run.until(Trigger.OUTPUT_VERIFIED)
        write_in_place(net_dir / "01-broken.conflist", b"")
        failed = await run.until(Trigger.VERIFY_FAILED)
        assert "01-broken.conflist sorts before 05-antrea.conflist and is invalid" in failed.reason
        assert "runtime loads nothing" in failed.reason


async def test_invalid_primary_spends_the_budget_then_recovers_on_a_change(
    net_dir: Path,
) -> None:
    (net_dir / AZURE).write_bytes(b"{")
    async with running(net_dir, backoff=InstantBackoff(), retry_attempts=3) as run:
        spent = await run.until(Trigger.BUDGET_SPENT, State.Failed)
        assert "after 3 attempts" in spent.reason
        assert "fix or replace the primary" in spent.reason
        write_by_rename(net_dir / AZURE, primary_bytes())
        await run.until(Trigger.OUTPUT_VERIFIED)
        assert run.output.read_bytes() == golden()


async def test_once_mode_ends_in_failed_when_the_budget_is_spent(net_dir: Path) -> None:
    (net_dir / AZURE).write_bytes(b"null")
    async with running(net_dir, backoff=InstantBackoff(), once=True, retry_attempts=2) as run:
        assert run.task is not None
        assert await asyncio.wait_for(run.task, 30) == 1
        assert run.agent.state is State.Failed
        assert not run.output.exists()


async def test_another_writer_reverting_our_output_is_named_instead_of_fought(
    net_dir: Path,
) -> None:
    (net_dir / AZURE).write_bytes(primary_bytes())
    async with running(net_dir, revert_limit=3, revert_window=600.0, **SLOW) as run:
        await run.until(Trigger.OUTPUT_VERIFIED)
        for _ in range(2):
            write_by_rename(run.output, primary_bytes())  # the other installer's version
            await run.until(Trigger.OUTPUT_VERIFIED)
        write_by_rename(run.output, primary_bytes())
        reverted = await run.until(Trigger.REVERT_DETECTED, State.Failed)
        assert "another writer replaced 05-antrea.conflist 3 times" in reverted.reason
        assert "[azure-vnet, portmap]" in reverted.reason
        writes = run.agent.status().writes
        # Backing off: the other writer's next write does not make us write again.
        write_by_rename(run.output, primary_bytes())
        await run.settle()
        assert run.agent.status().writes == writes
        assert run.agent.state is State.Failed


async def test_an_invalid_file_from_the_other_writer_ends_the_back_off_at_once(
    net_dir: Path,
) -> None:
    (net_dir / AZURE).write_bytes(primary_bytes())
    async with running(net_dir, revert_limit=2, revert_window=600.0, **SLOW) as run:
        await run.until(Trigger.OUTPUT_VERIFIED)
        write_by_rename(run.output, primary_bytes())
        await run.until(Trigger.OUTPUT_VERIFIED)
        write_by_rename(run.output, primary_bytes())
        await run.until(Trigger.REVERT_DETECTED, State.Failed)
        # An empty file under our name leaves the runtime loading nothing: no waiting it out.
        write_in_place(run.output, b"")
        changed = await run.until(Trigger.CHANGE_DETECTED, State.Validating)
        assert "now holds a config that is empty (0 bytes)" in changed.reason
        await run.until(Trigger.OUTPUT_VERIFIED)
        assert run.output.read_bytes() == golden()


async def test_empty_content_from_another_writer_is_replaced_not_counted_as_a_revert(
    net_dir: Path,
) -> None:
    (net_dir / AZURE).write_bytes(primary_bytes())
    async with running(net_dir, revert_limit=2, **SLOW) as run:
        await run.until(Trigger.OUTPUT_VERIFIED)
        for _ in range(3):
            write_in_place(run.output, b"")
            await run.until(Trigger.OUTPUT_VERIFIED)
        assert run.output.read_bytes() == golden()
    assert all(r.trigger != Trigger.REVERT_DETECTED for r in run.seen)


async def test_a_primary_mounted_from_a_configmap_is_followed_through_its_data_swap(
    net_dir: Path,
) -> None:
    # kubelet's atomic writer: the file is a symlink through "..data", and an update renames
    # a new "..data" symlink over the old one; nothing happens under the primary's own name.
    first = net_dir / "..2026_11_26_01"
    first.mkdir()
    (first / AZURE).write_bytes(primary_bytes())
    (net_dir / "..data").symlink_to(first.name)
    (net_dir / AZURE).symlink_to(f"..data/{AZURE}")
    async with running(net_dir, **SLOW) as run:
        await run.until(Trigger.OUTPUT_VERIFIED)
        doc = json.loads(primary_bytes())
        doc["plugins"].insert(1, {"type": "bandwidth", "capabilities": {"bandwidth": True}})
        second = net_dir / "..2026_11_26_02"
        second.mkdir()
        (second / AZURE).write_bytes(json.dumps(doc).encode())
        (net_dir / "..data_tmp").symlink_to(second.name)
        (net_dir / "..data_tmp").replace(net_dir / "..data")
        await run.until(Trigger.OUTPUT_VERIFIED)
        assert plugin_types(run.output) == ["azure-vnet", "bandwidth", "portmap", "antrea"]
