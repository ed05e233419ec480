"""The conf dir as the agent sees it (confdir.ConfDir), on real files in a temp dir: the
hand-over between states, start-up cleanup, and withdrawal."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from chainfsm.agent.wakeups import Wakeups
from chainfsm.core import discovery
from chainfsm.edge import confdir, reading
from chainfsm.settings import Settings
from tests.support.constants import OUTPUT
from tests.support.primaries import primary_bytes


def conf_dir_for(
    net_dir: Path, checks: list[None] | None = None, **overrides: object
) -> tuple[confdir.ConfDir, Wakeups, list[str]]:
    wakeups, errors = Wakeups(), list[str]()
    settings = Settings(net_dir=net_dir, **overrides)  # type: ignore[arg-type]
    check = (lambda: checks.append(None)) if checks is not None else (lambda: None)
    return confdir.ConfDir(settings, wakeups, check, errors.append), wakeups, errors


async def test_a_look_is_handed_over_once_and_only_while_nothing_changed(net_dir: Path) -> None:
    (net_dir / "10-azure.conflist").write_bytes(primary_bytes())
    checks: list[None] = []
    dir_, wakeups, _ = conf_dir_for(net_dir, checks)
    snap = await dir_.look()
    assert (dir_.looks, dir_.primary) == (1, "10-azure.conflist")
    # Every look first asks whether the watched dir is still the one mounted there.
    assert len(checks) == 1
    dir_.hand_over(snap)
    assert dir_.handed_over() is snap
    assert dir_.handed_over() is None  # taken once: a retry looks afresh
    dir_.hand_over(snap)
    wakeups.notify_change("10-azure.conflist")
    assert dir_.handed_over() is None  # stale: the primary changed since
    await dir_.look()
    assert not wakeups.pending  # the look answered the change


async def test_a_look_at_a_dir_that_is_gone_loses_the_watch(tmp_path: Path) -> None:
    dir_, wakeups, _ = conf_dir_for(tmp_path / "gone")
    with pytest.raises(confdir.Lost):
        await dir_.look()
    assert wakeups.lost_why is not None
    assert wakeups.lost_why.startswith(f"cannot list {tmp_path / 'gone'}: ")
    assert await dir_.startup() is False


async def test_startup_clears_our_temp_files_and_an_invalid_output_only(
    net_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ours = discovery.temp_name(OUTPUT, "abc123")
    theirs = "10-azure.conflist8412.tmp"
    for name in (ours, theirs, OUTPUT):
        (net_dir / name).write_bytes(b"")
    dir_, _, _ = conf_dir_for(net_dir)
    with caplog.at_level(logging.INFO, logger="chainfsm"):
        assert await dir_.startup() is True
    assert reading.list_names(net_dir) == [theirs]
    removed = [r.fields["file"] for r in caplog.records if r.msg == "removed"]  # type: ignore[attr-defined]
    assert removed == [ours, OUTPUT]


async def test_put_writes_only_what_is_not_there_yet(net_dir: Path) -> None:
    dir_, _, _ = conf_dir_for(net_dir)
    assert await dir_.put(b'{"x": 1}', "10-azure.conflist") is True
    assert await dir_.put(b'{"x": 1}', "10-azure.conflist") is False
    assert (net_dir / OUTPUT).read_bytes() == b'{"x": 1}'
    # A symlink under our name holding the same bytes is replaced all the same.
    (net_dir / "elsewhere").write_bytes(b'{"x": 1}')
    (net_dir / OUTPUT).unlink()
    (net_dir / OUTPUT).symlink_to(net_dir / "elsewhere")
    assert await dir_.put(b'{"x": 1}', "10-azure.conflist") is True
    assert not (net_dir / OUTPUT).is_symlink()


async def test_withdrawal_forgets_the_verified_output_unless_kept(net_dir: Path) -> None:
    baseline = confdir.Baseline("10-azure.conflist", b"{}", OUTPUT, b"chain")
    kept, _, _ = conf_dir_for(net_dir, keep_on_primary_loss=True)
    kept.baseline = baseline
    (net_dir / OUTPUT).write_bytes(b"chain")
    assert await kept.withdraw() == f"kept {OUTPUT} (--keep-on-primary-loss)"
    assert kept.verified_output == b"chain"
    dir_, _, errors = conf_dir_for(net_dir)
    dir_.baseline = baseline
    assert await dir_.withdraw() == f"withdrew {OUTPUT} so the runtime reports the truth"
    assert dir_.verified_output is None
    assert not (net_dir / OUTPUT).exists()
    assert await dir_.withdraw() == f"{OUTPUT} was already gone"
    assert (errors, dir_.removal_failures) == ([], 0)
