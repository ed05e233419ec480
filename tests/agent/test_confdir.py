"""The conf dir's port (confdir.ConfDir), on real files in a temp dir: a look and the recheck
after our write, how many of each one change costs the agent, start-up cleanup, and
withdrawal."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
from pathlib import Path

import pytest

from chainfsm.agent.agent import Agent
from chainfsm.core import discovery, validation
from chainfsm.core.snapshot import Read
from chainfsm.core.states import Trigger
from chainfsm.edge import confdir, reading
from chainfsm.settings import Settings
from tests.support.conf_dir_faults import chained
from tests.support.constants import AZURE, HANG_GUARD, OUTPUT
from tests.support.counted_looks import CountedConfDir
from tests.support.guarded_agent import SLOW, running, write_by_rename
from tests.support.inotify_limits import exhaust
from tests.support.primaries import primary_bytes


def conf_dir_for(net_dir: Path, **overrides: object) -> confdir.ConfDir:
    settings = Settings(net_dir=net_dir, **overrides)  # type: ignore[arg-type]
    return confdir.ConfDir(settings)


def test_a_recheck_lists_afresh_and_reads_our_output_and_the_first_file_not_the_primary(
    net_dir: Path,
) -> None:
    (net_dir / AZURE).write_bytes(primary_bytes())
    (net_dir / OUTPUT).write_bytes(b"ours")
    dir_ = conf_dir_for(net_dir, primary=AZURE)  # so a file sorting first is not the primary
    before = dir_.look()
    assert (before.primary, before.first, before.output_data) == (AZURE, OUTPUT, b"ours")
    # Changed with no event the recheck is told of: the primary's bytes are kept from before
    # (a change to them wakes the next full look), what the runtime loads is read afresh.
    (net_dir / AZURE).write_bytes(b"changed")
    (net_dir / OUTPUT).write_bytes(b"ours, rewritten")
    (net_dir / "00-first.conflist").write_bytes(b"first")
    after = dir_.recheck(before)
    assert after.names == tuple(reading.list_names(net_dir))
    assert (after.primary, after.primary_data) == (AZURE, primary_bytes())
    assert after.output_data == b"ours, rewritten"
    assert (after.first, after.first_data) == ("00-first.conflist", b"first")
    assert dir_.look().primary_data == b"changed"


def test_a_recheck_reads_a_primary_that_is_another_file_than_before(net_dir: Path) -> None:
    (net_dir / AZURE).write_bytes(primary_bytes())
    dir_ = conf_dir_for(net_dir)
    before = dir_.look()
    (net_dir / AZURE).unlink()
    (net_dir / "15-other.conflist").write_bytes(b"other")
    after = dir_.recheck(before)
    assert (after.primary, after.primary_data) == ("15-other.conflist", b"other")
    assert after.output_data is None


async def test_one_change_to_the_primary_is_one_look_one_recheck_and_two_validations(
    net_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    validated: list[str] = []
    validate = validation.validate
    agent_task: list[asyncio.Task[int] | None] = [None]

    def counted(file: str, data: bytes) -> validation.Verdict:
        if asyncio.current_task() is agent_task[0]:  # not the guard's, in its own task
            validated.append(file)
        return validate(file, data)

    monkeypatch.setattr(validation, "validate", counted)
    (net_dir / AZURE).write_bytes(primary_bytes())
    async with running(net_dir, **SLOW) as run:
        await run.until(Trigger.OUTPUT_VERIFIED)
        port = run.agent.confdir
        assert isinstance(port, CountedConfDir)
        agent_task[0] = run.task
        counts: list[tuple[str, int, int, int]] = []
        run.agent.machine.listeners.append(
            lambda t: counts.append((t.trigger, port.looks, port.rechecks, len(validated)))
        )
        renamed = {**json.loads(primary_bytes()), "name": "renamed"}
        write_by_rename(net_dir / AZURE, json.dumps(renamed).encode())
        await run.until(Trigger.OUTPUT_VERIFIED)
    detected, valid, verified = counts[:3]
    assert [c[0] for c in (detected, valid, verified)] == [
        Trigger.CHANGE_DETECTED,
        Trigger.PRIMARY_VALID,
        Trigger.OUTPUT_VERIFIED,
    ]
    # Validating takes Verified's look, and validates the primary and the chain it renders.
    assert valid[1:3] == detected[1:3]
    assert validated[detected[3] : valid[3]] == [AZURE, OUTPUT]
    # Writing rechecks its own write instead of looking again, and takes the chain it reads
    # back as judged already.
    assert (verified[1] - valid[1], verified[2] - valid[2]) == (1, 1)
    assert verified[3] == valid[3]


async def test_a_look_at_a_dir_that_is_gone_is_lost(tmp_path: Path) -> None:
    dir_ = conf_dir_for(tmp_path / "gone")
    with pytest.raises(confdir.Lost, match=f"^cannot list {tmp_path / 'gone'}: "):
        dir_.look()
    with pytest.raises(confdir.Lost, match=f"^cannot list {tmp_path / 'gone'}: "):
        await dir_.startup()


async def test_startup_clears_our_temp_files_and_an_invalid_output_only(
    net_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ours = discovery.temp_name(OUTPUT, "abc123")
    theirs = "10-azure.conflist8412.tmp"
    for name in (ours, theirs, OUTPUT):
        (net_dir / name).write_bytes(b"")
    dir_ = conf_dir_for(net_dir)
    with caplog.at_level(logging.INFO, logger="chainfsm"):
        assert await dir_.startup() == confdir.Removal()
    assert reading.list_names(net_dir) == [theirs]
    removed = [r.fields["file"] for r in caplog.records if r.msg == "removed"]  # type: ignore[attr-defined]
    assert removed == [ours, OUTPUT]


async def test_put_writes_only_what_is_not_there_yet(net_dir: Path) -> None:
    dir_ = conf_dir_for(net_dir)
    assert await dir_.put(b'{"x": 1}', "10-azure.conflist", None) is True
    assert await dir_.put(b'{"x": 1}', "10-azure.conflist", dir_.read_output()) is False
    assert (net_dir / OUTPUT).read_bytes() == b'{"x": 1}'
    # A symlink under our name holding the same bytes is replaced all the same.
    (net_dir / "elsewhere").write_bytes(b'{"x": 1}')
    (net_dir / OUTPUT).unlink()
    (net_dir / OUTPUT).symlink_to(net_dir / "elsewhere")
    assert await dir_.put(b'{"x": 1}', "10-azure.conflist", dir_.read_output()) is True
    assert not (net_dir / OUTPUT).is_symlink()


async def test_withdrawal_says_what_it_came_to(net_dir: Path) -> None:
    dir_ = conf_dir_for(net_dir)
    (net_dir / OUTPUT).write_bytes(b"chain")
    withdrew = f"withdrew {OUTPUT} so the runtime reports the truth"
    assert await dir_.withdraw() == (withdrew, confdir.Removal())
    assert not (net_dir / OUTPUT).exists()
    assert await dir_.withdraw() == (f"{OUTPUT} was already gone", confdir.Removal())


class _PrimaryMovesRightAfterOurWrite(confdir.ConfDir):
    """Another writer changes the primary just after our first write, before the agent's look
    at that write."""

    def __init__(self, settings: Settings, primary: bytes) -> None:
        super().__init__(settings)
        self._primary: bytes | None = primary

    async def put(self, data: bytes, primary: str, current: Read) -> bool:
        wrote = await super().put(data, primary, current)
        if self._primary is not None:
            write_by_rename(self.settings.net_dir / AZURE, self._primary)
            self._primary = None
        return wrote


async def test_polling_a_primary_changed_with_our_write_is_not_taken_for_our_write(
    net_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Out of inotify, the poll before the look at our write reports our output and the
    primary at once: that look must leave the primary's change for the next, which chains it
    (answered there, it went unseen until the next change)."""
    exhaust(monkeypatch, errno.ENOSPC)
    (net_dir / AZURE).write_bytes(primary_bytes())
    moved = json.dumps({**json.loads(primary_bytes()), "name": "moved"}).encode()
    settings = Settings(net_dir=net_dir, poll_interval=1e6, **SLOW)
    agent = Agent(settings, conf_dir=_PrimaryMovesRightAfterOurWrite(settings, moved))
    verified = asyncio.Queue[None]()
    agent.machine.listeners.append(
        lambda t: verified.put_nowait(None) if t.trigger == Trigger.OUTPUT_VERIFIED else None
    )
    task = asyncio.create_task(agent.run())
    try:
        async with asyncio.timeout(HANG_GUARD):
            await verified.get()
            await verified.get()
        assert (net_dir / OUTPUT).read_bytes() == chained(moved)
    finally:
        agent.request_stop()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(task, HANG_GUARD)
