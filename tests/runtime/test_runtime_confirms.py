"""``--cri-socket`` against a real containerd: Verified only when the runtime itself reports our
chain loaded, byte for byte, from our conf dir; ``explain --cri-socket`` says both verdicts.

The agent runs in-process (tests/support/guarded_agent.py) beside a private containerd
(tests/support/containerd_daemon.py); the runtime is asked over the product's own CRI client,
and containerd's answer is read a second time over the test support's grpcio client.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from chainfsm.cli import commands
from chainfsm.core.states import State, Trigger
from chainfsm.process import http_endpoints, lifecycle, state_dump
from tests.support.constants import AZURE, HANG_GUARD, OUTPUT, PRIMARIES_DIR, RUNNABLE_FIXTURE
from tests.support.containerd_daemon import Containerd, require_containerd, wait_for
from tests.support.guarded_agent import running

#: A real reference plugin standing in for Antrea, so the chain containerd loads is runnable.
PLUGIN: dict[str, Any] = {"type": "tuning"}
PRIMARY_BYTES = (PRIMARIES_DIR / RUNNABLE_FIXTURE).read_bytes()
NETWORK = json.loads(PRIMARY_BYTES)["name"]


@pytest.fixture
def net_dir(containerd: Containerd) -> Path:
    """containerd's conf dir, holding only the primary, and containerd running the primary."""
    for path in containerd.conf_dir.iterdir():
        path.unlink()
    (containerd.conf_dir / AZURE).write_bytes(PRIMARY_BYTES)
    wait_for(
        "the primary loaded",
        lambda: containerd.status().networks[-1:] == [(NETWORK, ["bridge", "portmap"])],
        HANG_GUARD,
    )
    return containerd.conf_dir


async def test_the_agent_chains_and_the_runtime_confirms(
    containerd: Containerd, net_dir: Path
) -> None:
    async with running(net_dir, output=OUTPUT, plugin=PLUGIN, cri_socket=containerd.socket) as run:
        verified = await run.until(Trigger.OUTPUT_VERIFIED)
        status = run.agent.status()
        written = (net_dir / OUTPUT).read_bytes()
    assert f"the runtime loaded {OUTPUT} as we wrote it" in verified.reason
    runtime = state_dump.runtime_fields(status)
    assert runtime is not None
    assert runtime["confirmed"] is True
    assert runtime["verdict"] == "confirmed"
    assert runtime["loaded"] == f"{OUTPUT} as we wrote it, {NETWORK} [bridge, portmap, tuning]"
    assert http_endpoints.readyz(status).status == 200
    # containerd's own answer, read over the other client: the chain it runs is the one written.
    loaded = json.loads(containerd.status().info["cniconfig"])["Networks"][-1]["Config"]
    assert loaded["Source"].encode() == written


async def test_the_runtimes_conf_dir_is_not_ours_never_verified(
    containerd: Containerd, net_dir: Path, tmp_path: Path
) -> None:
    ours = tmp_path / "net.d"  # what a wrong hostPath gives: a dir the runtime never reads
    ours.mkdir()
    (ours / AZURE).write_bytes(PRIMARY_BYTES)
    async with running(ours, output=OUTPUT, plugin=PLUGIN, cri_socket=containerd.socket) as run:
        failed = await run.until(Trigger.RUNTIME_UNCONFIRMED, State.Failed)
        status = run.agent.status()
        assert (ours / OUTPUT).exists()  # the chain is written all the same
        assert not (net_dir / OUTPUT).exists()
    assert str(net_dir) in failed.reason
    assert str(ours) in failed.reason
    assert "is not the runtime's conf_dir" in failed.reason
    assert all(t.dest != State.Verified.value for t in run.seen)
    assert http_endpoints.readyz(status).status == 503
    runtime = state_dump.runtime_fields(status)
    assert runtime is not None
    assert runtime["confirmed"] is False
    assert runtime["verdict"] == "other-dir"


async def explain(
    net_dir: Path, socket: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[int, Any]:
    """The command as a user runs it (its own event loop, so in a thread of its own)."""
    code = await asyncio.to_thread(
        commands.main,
        [
            "explain",
            "--json",
            "--net-dir",
            str(net_dir),
            "--plugin",
            json.dumps(PLUGIN),
            "--cri-socket",
            str(socket),
        ],
    )
    return code, json.loads(capsys.readouterr().out)


async def test_explain_shows_the_runtimes_verdict_beside_ours(
    containerd: Containerd, net_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running(net_dir, output=OUTPUT, plugin=PLUGIN, cri_socket=containerd.socket) as run:
        await run.until(Trigger.OUTPUT_VERIFIED)
    code, report = await explain(net_dir, containerd.socket, capsys)
    assert (code, report["effective"], report["runtime"]["confirmed"]) == (0, True, True)
    assert report["disagreement"] is None

    # The same chain in a dir the runtime does not read: ours says effective, the runtime no.
    other = tmp_path / "net.d"
    other.mkdir()
    for name in (AZURE, OUTPUT):
        (other / name).write_bytes((net_dir / name).read_bytes())
    code, report = await explain(other, containerd.socket, capsys)
    assert (code, report["effective"], report["runtime"]["confirmed"]) == (1, True, False)
    assert f"not --net-dir {other}" in report["disagreement"]
    assert "chainfsm says" in report["disagreement"]


async def test_verified_leaves_when_containerd_restarts_on_another_conf_dir(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The conf dir stays as the agent left it (no inotify event), but containerd comes back
    from a restart reading another conf_dir (a node's containerd config changed): the sandbox
    passes hear it, and the agent leaves Verified, naming both dirs."""
    require_containerd()
    base = tmp_path_factory.mktemp("ctd")
    ours, theirs = base / "net.d", base / "other.d"
    for where in (ours, theirs):
        where.mkdir()
        (where / AZURE).write_bytes(PRIMARY_BYTES)
    first = Containerd(base, ours)
    second: Containerd | None = None
    try:
        async with (
            running(
                ours.resolve(),
                output=OUTPUT,
                plugin=PLUGIN,
                cri_socket=first.socket,
                sandbox_interval=0.05,
                record_file=base / "node" / "record.json",
            ) as run,
            lifecycle.sandboxes(run.agent, run.agent.settings) as watch,
        ):
            assert watch is not None
            await run.until(Trigger.OUTPUT_VERIFIED, State.Verified)
            written = (ours / OUTPUT).read_bytes()
            first.stop()
            second = Containerd(base, theirs)
            left = await run.until(Trigger.CHANGE_DETECTED, State.Validating)
            failed = await run.until(Trigger.RUNTIME_UNCONFIRMED, State.Failed)
            status = run.agent.status()
            assert (ours / OUTPUT).read_bytes() == written
    finally:
        first.stop()
        if second is not None:
            second.stop()
    assert left.source == State.Verified.value
    assert left.reason.startswith("the runtime no longer loads our chain: the runtime reads")
    assert f"its conf dir {theirs.resolve()}, not --net-dir {ours.resolve()}" in failed.reason
    assert http_endpoints.readyz(status).status == 503
    runtime = state_dump.runtime_fields(status)
    assert runtime is not None
    assert runtime["verdict"] == "other-dir"
