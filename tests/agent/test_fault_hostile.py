"""Hostile conf dirs: each thing is refused or handled with a reason naming it, and the agent
never blocks or crashes; and a conf dir that goes away (deleted, replaced, mounted over) ends
the agent with exit 1 instead of leaving it deaf."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chainfsm.agent.agent import Agent
from chainfsm.core.states import State, Trigger
from chainfsm.edge import links, watching
from chainfsm.settings import Settings
from tests.support.conf_dir_faults import ended, start
from tests.support.constants import AZURE, HANG_GUARD, OUTPUT
from tests.support.guarded_agent import SLOW, record, running, until, write_by_rename
from tests.support.plugin_checks import chain
from tests.support.primaries import golden, primary_bytes
from tests.support.seams import ObservedWakeups
from tests.support.standin_plugins import install


def nested(depth: int) -> bytes:
    return (
        b'{"name": "deep", "plugins": [{"type": "x", "a": ' + b"[" * depth + b"]" * depth + b"}]}"
    )


def sparse_huge(path: Path) -> None:
    """8 GiB that are never read: refused by their size alone."""
    with open(path, "wb") as handle:
        handle.truncate(8 << 30)


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (sparse_huge, "over the 1048576-byte cap"),
        (lambda p: p.write_bytes(nested(200_000)), "nests deeper than 64 levels"),
        (lambda p: p.write_bytes(b'{"name": "caf\xe9", "plugins": []}'), "is not UTF-8"),
        (lambda p: p.mkdir(), None),  # a directory: not a config file at all, as for libcni
        (lambda p: os.mkfifo(p), "is not a regular file"),
    ],
    ids=["huge", "deeply-nested", "invalid-utf8", "directory", "fifo"],
)
async def test_hostile_primary_is_refused_with_a_reason_and_never_blocks(
    net_dir: Path, make: Callable[[Path], object], words: str | None
) -> None:
    async with running(net_dir, **SLOW) as run:
        make(net_dir / AZURE)
        if words is None:
            await run.guard.barrier()
            assert run.agent.state is State.WaitingPrimary
            assert run.seen == []
        else:
            refused = await run.until(Trigger.PRIMARY_INVALID)
            assert f"{AZURE}: " in refused.reason
            assert words in refused.reason
            assert not run.output.exists()
        # Still alive and listening: a real primary beside it is chained.
        write_by_rename(net_dir / "15-azure.conflist", primary_bytes())
        if words is not None:
            (net_dir / AZURE).unlink()
        await run.until(Trigger.OUTPUT_VERIFIED)
        assert run.output.read_bytes() == golden()


async def test_primary_symlinked_outside_the_dir_is_followed_and_named(
    net_dir: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere.conflist"
    outside.write_bytes(primary_bytes())
    (net_dir / AZURE).symlink_to(outside)
    async with running(net_dir, **SLOW) as run:
        valid = await run.until(Trigger.PRIMARY_VALID)
        assert f"a symlink to {outside}" in valid.reason
        await run.until(Trigger.OUTPUT_VERIFIED)
        assert run.output.read_bytes() == golden()
        assert not run.output.is_symlink()
    assert outside.read_bytes() == primary_bytes()


async def test_primary_symlinked_to_a_fifo_outside_never_blocks(
    net_dir: Path, tmp_path: Path
) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    async with running(net_dir, **SLOW) as run:
        (net_dir / AZURE).symlink_to(fifo)
        refused = await run.until(Trigger.PRIMARY_INVALID)
        assert "is not a regular file" in refused.reason


async def test_our_output_replaced_by_a_symlink_is_replaced_and_its_target_left_alone(
    net_dir: Path, tmp_path: Path
) -> None:
    (net_dir / AZURE).write_bytes(primary_bytes())
    outside = tmp_path / "their.conflist"
    async with running(net_dir, **SLOW) as run:
        await run.until(Trigger.OUTPUT_VERIFIED)
        for content in (golden(), primary_bytes()):  # a copy of ours, then someone else's
            outside.write_bytes(content)
            link = net_dir / "link.tmp"
            link.symlink_to(outside)
            link.replace(run.output)
            changed = await run.until(Trigger.CHANGE_DETECTED)
            assert f"a symlink to {outside}" in changed.reason
            await run.until(Trigger.OUTPUT_VERIFIED)
            assert not run.output.is_symlink()
            assert run.output.read_bytes() == golden()
            assert outside.read_bytes() == content


async def test_a_directory_under_our_output_name_is_reported_and_then_replaced(
    net_dir: Path,
) -> None:
    (net_dir / OUTPUT).mkdir()
    (net_dir / AZURE).write_bytes(primary_bytes())
    async with running(net_dir, **SLOW) as run:
        failed = await run.until(Trigger.WRITE_FAILED, State.Failed)
        assert "Is a directory" in failed.reason
        (net_dir / OUTPUT).rmdir()
        await run.until(Trigger.OUTPUT_VERIFIED)
        assert run.output.read_bytes() == golden()


async def test_a_fifo_under_our_output_name_is_removed_at_start_without_blocking(
    net_dir: Path,
) -> None:
    os.mkfifo(net_dir / OUTPUT)
    (net_dir / AZURE).write_bytes(primary_bytes())
    async with running(net_dir, **SLOW) as run:
        await run.until(Trigger.OUTPUT_VERIFIED)
        assert run.output.read_bytes() == golden()


# -- the conf dir itself goes away ------------------------------------------------------------


def delete_dir(net_dir: Path) -> None:
    for child in net_dir.iterdir():
        # The agent may withdraw our output itself between the listing and the unlink.
        child.unlink(missing_ok=True)
    net_dir.rmdir()


def replace_dir(net_dir: Path) -> None:
    net_dir.rename(net_dir.with_name("old"))
    net_dir.mkdir()
    (net_dir / AZURE).write_bytes(primary_bytes())


async def test_conf_dir_deleted_ends_the_agent_with_exit_1(net_dir: Path) -> None:
    (net_dir / AZURE).write_bytes(primary_bytes())
    agent, task = await start(net_dir)
    delete_dir(net_dir)
    await ended(agent, task)


async def test_conf_dir_renamed_away_and_recreated_ends_the_agent(net_dir: Path) -> None:
    agent, task = await start(net_dir)
    replace_dir(net_dir)
    await ended(agent, task)


# -- a symlink on the way to a watched dir, repointed ------------------------------------------


def repoint(link: Path, target: Path, atomically: bool) -> None:
    """As `ln -sfn` does it (unlink, then a new link) or atomically (a new link renamed
    over): either way the dir the link named hears nothing."""
    if atomically:
        staged = link.with_name(link.name + ".new")
        staged.symlink_to(target)
        staged.replace(link)
    else:
        link.unlink()
        link.symlink_to(target)


async def verified_agent(**settings: Any) -> tuple[Agent, asyncio.Task[int]]:
    """An agent Verified and then quiet: every event before is answered, so what moves it
    after is the test's doing."""
    wakeups = ObservedWakeups()
    agent = Agent(Settings(**{**SLOW, **settings}), wakeups=wakeups)
    transitions = record(agent)
    task = asyncio.create_task(agent.run())
    await until(transitions, trigger=Trigger.OUTPUT_VERIFIED)
    heard = wakeups.changes.read(".settle")
    settle = agent.settings.net_dir / ".settle"
    settle.touch()
    await asyncio.wait_for(heard, HANG_GUARD)
    await asyncio.wait_for(wakeups.quiet(), HANG_GUARD)
    settle.unlink()
    return agent, task


@pytest.fixture
def no_mount_watch(monkeypatch: pytest.MonkeyPatch) -> None:
    """The mount watch off: any mount on the machine (another test's tmpfs) would make the
    agent compare its dirs, and hide whether the links' own watch did."""
    monkeypatch.setattr(watching, "MOUNTINFO", "/nonexistent/mountinfo")


@pytest.mark.usefixtures("no_mount_watch")
@pytest.mark.parametrize("atomically", [True, False], ids=["renamed-over", "ln-sfn"])
@pytest.mark.parametrize("where", ["net-dir", "parent"])
async def test_a_symlinked_conf_dir_repointed_ends_the_agent(
    tmp_path: Path, where: str, atomically: bool
) -> None:
    """--net-dir a link to A (or under a link to A's parent), repointed to B: the watch on A
    would keep the agent Verified while B, where the path now leads, has no chain."""
    old, new = tmp_path / "old", tmp_path / "new"
    for host in (old, new):
        (host / "net.d").mkdir(parents=True)
        (host / "net.d" / AZURE).write_bytes(primary_bytes())
    link = tmp_path / "link"
    if where == "net-dir":
        link.symlink_to(old / "net.d")
        net_dir, target = link, new / "net.d"
    else:
        link.symlink_to(old)
        net_dir, target = link / "net.d", new
    agent, task = await verified_agent(net_dir=net_dir)
    assert (old / "net.d" / OUTPUT).read_bytes() == golden()
    repoint(link, target, atomically)
    reason = await ended(agent, task)
    assert reason.startswith(
        f"{net_dir} now leads to {new / 'net.d'}, not {old / 'net.d'}: a symlink on its way"
        " was repointed"
    )
    assert agent.state is State.Failed
    assert not (new / "net.d" / OUTPUT).exists()  # the restarted agent chains there


@pytest.mark.usefixtures("no_mount_watch")
async def test_a_symlinked_bin_dir_repointed_ends_the_agent(tmp_path: Path) -> None:
    net_dir = tmp_path / "net.d"
    net_dir.mkdir()
    (net_dir / AZURE).write_text(json.dumps(chain("0.3.0", "azure-vnet")))
    old = install(tmp_path / "bin-old", "azure-vnet", "antrea")
    new = install(tmp_path / "bin-new", "azure-vnet")
    link = tmp_path / "bin"
    link.symlink_to(old)
    agent, task = await verified_agent(net_dir=net_dir, bin_dir=link)
    repoint(link, new, atomically=True)
    reason = await ended(agent, task)
    assert reason.startswith(f"{link} now leads to {new}, not {old}")


async def test_links_on_the_way_are_found_as_the_kernel_follows_them(tmp_path: Path) -> None:
    (tmp_path / "real" / "deep").mkdir(parents=True)
    (tmp_path / "up").symlink_to("real")  # relative
    (tmp_path / "real" / "down").symlink_to(tmp_path / "real" / "deep")  # absolute
    (tmp_path / "real" / "deep" / "back").symlink_to("..")  # a '..' leaves the link's target
    path = tmp_path / "up" / "down" / "back" / "deep"
    assert links.links_on_the_way(path) == [
        (tmp_path, "up"),
        (tmp_path / "real", "down"),
        (tmp_path / "real" / "deep", "back"),
    ]
    assert links.links_on_the_way(tmp_path / "real") == []
    (tmp_path / "loop").symlink_to("loop")
    assert len(links.links_on_the_way(tmp_path / "loop")) == links.MAX_LINKS + 1
