"""``--cri-socket`` on real files and sockets without root: what the agent does when the runtime
cannot be asked, keeps reporting the old config, or does not say what it loaded.

The real containerd's side is in tests/runtime/test_runtime_confirms.py. The answers a real
containerd never gives for long (a reload that does not come; CRI-O's Status, which has no
``cniconfig``) come here from a gRPC server (grpcio) on a unix socket serving CRI v1 ``Status``
with bytes written by tests/support/cri_wire.py.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from chainfsm.agent.agent import Agent
from chainfsm.core.states import State, Trigger
from chainfsm.process import http_endpoints, lifecycle, state_dump
from chainfsm.settings import Settings
from tests.support import cri_wire, primaries
from tests.support.constants import AZURE, HANG_GUARD, OUTPUT
from tests.support.fake_cri import fake_runtime
from tests.support.guarded_agent import running
from tests.support.process_imports import imported

PRIMARY = primaries.primary_bytes()


@pytest.fixture
def net_dir(tmp_path: Path) -> Path:
    path = tmp_path / "net.d"
    path.mkdir()
    (path / AZURE).write_bytes(PRIMARY)
    return path


async def test_a_missing_socket_the_chain_is_written_and_not_verified(
    net_dir: Path, tmp_path: Path
) -> None:
    socket = tmp_path / "containerd.sock"
    async with running(net_dir, cri_socket=socket) as run:
        failed = await run.until(Trigger.RUNTIME_UNCONFIRMED, State.Failed)
        status = run.agent.status()
        assert json.loads((net_dir / OUTPUT).read_bytes())["plugins"][-1] == {"type": "antrea"}
    assert failed.reason == (
        f"{OUTPUT} is written, but the runtime could not be asked: no CRI socket at {socket}:"
        " nothing there; not Verified until the runtime confirms it (--cri-socket)"
    )
    assert http_endpoints.readyz(status).status == 503
    fields = state_dump.runtime_fields(status)
    assert fields is not None
    assert fields.pop("time") is not None
    assert fields == {
        "socket": str(socket),
        "confirmed": False,
        "loaded": None,
        "verdict": "unasked",
        "detail": f"the runtime could not be asked: no CRI socket at {socket}: nothing there",
        "questions": 1,
    }


async def test_once_with_a_missing_socket_exits_1_with_the_chain_written(
    net_dir: Path, tmp_path: Path
) -> None:
    agent = Agent(Settings(net_dir=net_dir, once=True, cri_socket=tmp_path / "none.sock"))
    async with asyncio.timeout(HANG_GUARD):
        assert await agent.run() == 1
    assert agent.state is State.Failed
    assert (net_dir / OUTPUT).exists()


async def test_without_the_socket_the_dump_has_no_runtime(net_dir: Path) -> None:
    async with running(net_dir) as run:
        verified = await run.until(Trigger.OUTPUT_VERIFIED)
        status = run.agent.status()
    assert "runtime" not in verified.reason
    assert state_dump.runtime_fields(status) is None
    # One convention for every optional part: the key is there, null when its setting is off.
    doc = state_dump.snapshot(status)
    for key in ("runtime", "unchained_sandboxes", "sandboxes", "untaint"):
        assert key in doc
        assert doc[key] is None


async def test_a_runtime_that_keeps_the_primary_alone_is_asked_until_the_budget_ends(
    net_dir: Path, tmp_path: Path
) -> None:
    where = str(net_dir)  # tmp_path is resolved already
    stale = cri_wire.status_response(
        True,
        {
            "lastCNILoadStatus": "OK",
            "cniconfig": cri_wire.cniconfig(where, "azure", ["azure-vnet"], PRIMARY),
        },
    )
    async with (
        fake_runtime(tmp_path / "cri.sock", lambda: stale) as runtime,
        running(net_dir, cri_socket=runtime.socket, cri_confirm_seconds=0.2) as run,
    ):
        failed = await run.until(Trigger.RUNTIME_UNCONFIRMED, State.Failed)
        check = run.agent.status().runtime
    assert failed.reason == (
        f"{OUTPUT} is written and first in the dir, but the runtime loaded the primary {AZURE}"
        " alone, azure [azure-vnet]"
    )
    assert check is not None
    assert check.questions > 1  # a reload may be still to come: asked again, not once
    assert runtime.questions >= check.questions


async def test_a_change_met_while_asking_the_runtime_is_looked_at_not_a_failure(
    net_dir: Path, tmp_path: Path
) -> None:
    """The primary changes while the runtime still reports the old config: the agent leaves
    Writing by change_detected to judge the new primary, never by runtime_unconfirmed."""
    stale = cri_wire.status_response(
        True,
        {
            "lastCNILoadStatus": "OK",
            "cniconfig": cri_wire.cniconfig(str(net_dir), "azure", ["azure-vnet"], PRIMARY),
        },
    )
    changed = json.loads(PRIMARY)
    changed["plugins"][0]["mode"] = "transparent"

    def answer() -> bytes:
        if runtime.questions == 1:
            (net_dir / AZURE).write_text(json.dumps(changed))
        return stale

    async with (
        fake_runtime(tmp_path / "cri.sock", answer) as runtime,
        running(net_dir, cri_socket=runtime.socket, cri_confirm_seconds=1e9) as run,
    ):
        left = await run.until(lambda r: r.source == State.Writing.value)
    assert (left.trigger, left.dest) == (Trigger.CHANGE_DETECTED, State.Validating.value)
    assert left.reason.endswith("(seen while the runtime was asked to confirm the chain)")


async def test_a_wake_up_with_nothing_changed_does_not_end_the_wait_for_the_runtime(
    net_dir: Path, tmp_path: Path
) -> None:
    """Under load the event of our own rename can reach the agent after its look, while it
    asks the runtime: a look that finds nothing moved asks again, it does not fail."""
    agent: list[Agent] = []
    woken = False

    def answer() -> bytes:
        nonlocal woken
        ours = PRIMARY  # the runtime has not reloaded yet
        if woken:
            ours = (net_dir / OUTPUT).read_bytes()
        elif agent:  # asked by the agent the test holds (its first questions may come sooner)
            agent[0].wakeups.notify_change()  # a change event that changed nothing
            woken = True
        loaded = cri_wire.cniconfig(str(net_dir), "azure", ["azure-vnet", "antrea"], ours)
        return cri_wire.status_response(True, {"lastCNILoadStatus": "OK", "cniconfig": loaded})

    async with (
        fake_runtime(tmp_path / "cri.sock", answer) as runtime,
        running(net_dir, cri_socket=runtime.socket, cri_confirm_seconds=1e9) as run,
    ):
        agent.append(run.agent)
        left = await run.until(lambda r: r.source == State.Writing.value)
    assert (left.trigger, left.dest) == (Trigger.OUTPUT_VERIFIED, State.Verified.value)
    assert woken


async def test_a_stop_ends_the_wait_for_the_runtime(net_dir: Path, tmp_path: Path) -> None:
    never = cri_wire.status_response(False, reason="NetworkPluginNotReady")
    async with fake_runtime(tmp_path / "cri.sock", lambda: never) as runtime:
        agent = Agent(Settings(net_dir=net_dir, cri_socket=runtime.socket, cri_confirm_seconds=1e9))
        task = asyncio.create_task(agent.run())
        async with asyncio.timeout(HANG_GUARD):
            await runtime.asked.wait()
            agent.request_stop()
            assert await task == 0
    assert agent.state is State.Writing  # stopped while waiting: never Verified
    assert (net_dir / OUTPUT).exists()


async def test_a_runtime_that_does_not_say_what_it_loaded_is_confirmed_on_network_ready(
    net_dir: Path, tmp_path: Path
) -> None:
    crio = cri_wire.status_response(True, {"config": "{}"})  # no cniconfig, as CRI-O
    async with (
        fake_runtime(tmp_path / "cri.sock", lambda: crio) as runtime,
        running(net_dir, cri_socket=runtime.socket) as run,
    ):
        verified = await run.until(Trigger.OUTPUT_VERIFIED)
        status = run.agent.status()
    assert verified.reason.endswith(
        "the runtime reports NetworkReady but does not say which config it loaded (no"
        " cniconfig in its Status): confirmed on NetworkReady alone"
    )
    runtime_fields = state_dump.runtime_fields(status)
    assert runtime_fields is not None
    assert (runtime_fields["confirmed"], runtime_fields["loaded"]) == (True, None)
    assert http_endpoints.readyz(status).status == 200


#: What only --cri-socket needs: without it, an agent's start-up loads none of it.
CRI_MODULES = {
    "grpclib",
    "h2",
    "chainfsm.edge.cri",
    "chainfsm.core.cri_messages",
    "chainfsm.core.confirmation",
    "chainfsm.agent.runtime_check",
}


def test_run_once_without_the_socket_imports_nothing_of_the_cri(
    net_dir: Path, tmp_path: Path
) -> None:
    once = ("run", "--once", "--net-dir", str(net_dir))
    without = imported(*once, cwd=tmp_path)
    assert "chainfsm.agent.agent" in without  # it did run
    assert without & CRI_MODULES == set()
    (net_dir / OUTPUT).unlink()
    socket = str(tmp_path / "none.sock")
    with_socket = imported(
        "run", "--once", "--net-dir", str(net_dir), "--cri-socket", socket, cwd=tmp_path
    )
    assert with_socket >= CRI_MODULES


async def test_verified_leaves_when_the_sandbox_passes_hear_the_runtime_loads_something_else(
    net_dir: Path, tmp_path: Path
) -> None:
    """The conf dir stays as the agent left it (its inotify sees nothing), but the runtime's
    own view moves: a real containerd does so only when restarted on another config, so a
    stand-in gives the answers. The sandbox passes hear it; the agent leaves Verified."""
    where = str(net_dir)
    output = net_dir / OUTPUT
    said = {"ours": True}

    def answer() -> bytes:
        loaded = output.read_bytes() if said["ours"] and output.exists() else PRIMARY
        types = ["azure-vnet", "portmap", "antrea"] if loaded != PRIMARY else ["azure-vnet"]
        return cri_wire.status_response(
            True,
            {
                "lastCNILoadStatus": "OK",
                "cniconfig": cri_wire.cniconfig(where, "azure", types, loaded),
            },
        )

    async with (
        fake_runtime(tmp_path / "cri.sock", answer) as runtime,
        running(
            net_dir,
            cri_socket=runtime.socket,
            cri_confirm_seconds=0.2,
            sandbox_interval=0.05,
            record_file=tmp_path / "node" / "record.json",
        ) as run,
        lifecycle.sandboxes(run.agent, run.agent.settings) as watch,
    ):
        assert watch is not None
        await run.until(Trigger.OUTPUT_VERIFIED, State.Verified)
        assert http_endpoints.readyz(run.agent.status()).status == 200
        written = output.read_bytes()
        said["ours"] = False
        left = await run.until(Trigger.CHANGE_DETECTED, State.Validating)
        failed = await run.until(Trigger.RUNTIME_UNCONFIRMED, State.Failed)
        status = run.agent.status()
        assert output.read_bytes() == written  # the dir as the agent left it: no write
    assert left.source == State.Verified.value
    assert left.reason == (
        f"the runtime no longer loads our chain: the runtime loaded azure [azure-vnet], not"
        f" {OUTPUT} as we wrote it"
    )
    assert failed.reason == (
        f"{OUTPUT} is written and first in the dir, but the runtime loaded the primary {AZURE}"
        " alone, azure [azure-vnet]"
    )
    assert http_endpoints.readyz(status).status == 503
    runtime_field = state_dump.runtime_fields(status)
    assert runtime_field is not None
    assert runtime_field["confirmed"] is False
    assert runtime_field["loaded"] == f"the primary {AZURE} alone, azure [azure-vnet]"


async def test_an_answer_asked_before_verified_began_is_left_alone(
    net_dir: Path, tmp_path: Path
) -> None:
    """A pass that asked while the runtime had not yet reloaded our write must not undo the
    Verified that followed the reload."""
    from chainfsm.core import confirmation

    async with running(net_dir) as run:
        await run.until_state(State.Verified)
        since = run.agent.machine.state_since
        stale = confirmation.Confirmation(confirmation.Verdict.OTHER_CONFIG, "x", "the primary")
        run.agent.runtime_said(stale, since - 0.001)
        unasked = confirmation.unasked("refused")
        run.agent.runtime_said(unasked, since + 1)
        await run.settle()
        assert run.agent.state is State.Verified
        assert Trigger.CHANGE_DETECTED not in [t.trigger for t in run.seen]
        run.agent.runtime_said(stale, since + 1)
        left = await run.until(Trigger.CHANGE_DETECTED, State.Validating)
    assert left.reason == "the runtime no longer loads our chain: the primary"
