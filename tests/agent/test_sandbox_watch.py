"""The sandbox passes when the runtime or the record's place fails them: one line, the chain
work goes on, the dump says why. Against a real runtime: runtime/test_unchained_sandboxes.py."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from chainfsm.core import cri_messages
from chainfsm.core.states import State, Transition, Trigger
from chainfsm.edge.cri import CriError
from chainfsm.process import sandbox_metrics, sandbox_watch
from chainfsm.settings import Settings
from tests.support import cri_wire
from tests.support.agent_process import agent_process
from tests.support.constants import AZURE, HANG_GUARD, OUTPUT
from tests.support.dump_command import dump
from tests.support.log_queue import LogQueue
from tests.support.primaries import primary_bytes


async def test_a_missing_socket_is_one_line_and_the_chain_is_still_written(
    tmp_path: Path,
) -> None:
    net_dir = tmp_path / "net.d"
    net_dir.mkdir()
    (net_dir / AZURE).write_bytes(primary_bytes())
    socket, record = tmp_path / "none.sock", tmp_path / "node" / "record.json"
    args = ("--cri-socket", str(socket), "--record-file", str(record))
    async with agent_process(net_dir, *args, "--sandbox-interval", "0.05") as agent:
        line = await agent.line("sandboxes", level="warning")
        assert line["reason"] == f"no CRI socket at {socket}: nothing there"
        await agent.line("written")
        doc = dump(agent)
        assert doc["sandboxes"]["error"] == line["reason"]
        assert doc["unchained_sandboxes"] == []
        # Said once, not on every pass.
        await agent.line("transition")
        assert agent.count("sandboxes") == 1
    assert (net_dir / OUTPUT).exists()
    # The record still names this boot, with nothing observed.
    kept = json.loads(record.read_text())
    assert kept["observed_since"] is None
    assert kept["spans"] == []


async def test_a_record_that_cannot_be_written_is_named(tmp_path: Path) -> None:
    net_dir = tmp_path / "net.d"
    net_dir.mkdir()
    (tmp_path / "a-file").write_text("")
    record = tmp_path / "a-file" / "record.json"
    args = ("--cri-socket", str(tmp_path / "none.sock"), "--record-file", str(record))
    async with agent_process(net_dir, *args, "--sandbox-interval", "0.05") as agent:
        first = await agent.line("sandboxes", level="warning")
        assert first["reason"].startswith(f"cannot read record {record}: Not a directory; ")
        # Every pass after: the runtime cannot be asked, and the record cannot be written.
        later = await agent.line("sandboxes", after=agent.lines.index(first) + 1)
        assert later["reason"].endswith(
            f"; cannot write record {record}: {record.parent} is not a directory"
        )
        doc = dump(agent)
        assert doc["sandboxes"]["record"]["file"] == str(record)
        assert doc["sandboxes"]["error"] == later["reason"]


class StandInClient:
    """The CRI calls of a pass, answered from memory: sandboxes on the pod network, and the
    runtime's Status as the test sets it."""

    def __init__(self, answer: cri_messages.RuntimeStatus) -> None:
        self.answer = answer
        self.sandboxes: list[cri_messages.Sandbox] = []
        #: Sandbox ids whose status fails, with the gRPC status the runtime answers.
        self.failing: dict[str, str] = {}

    async def list_sandboxes(self) -> tuple[cri_messages.Sandbox, ...]:
        return tuple(self.sandboxes)

    async def sandbox_status(self, sandbox_id: str) -> cri_messages.SandboxStatus:
        if sandbox_id in self.failing:
            code = self.failing[sandbox_id]
            raise CriError(f"CRI PodSandboxStatus at x.sock: {code}: {sandbox_id}", code)
        found = next(s for s in self.sandboxes if s.id == sandbox_id)
        return cri_messages.SandboxStatus(found, cri_messages.NamespaceMode.POD)

    async def status(self) -> cri_messages.RuntimeStatus:
        return self.answer

    def close(self) -> None:
        pass


@pytest.mark.parametrize(
    ("transition", "proves"),
    [
        (None, True),
        # On the way to a write: the runtime may load our chain, and lose it again, before
        # the next answer.
        ((Trigger.PRIMARY_VALID, State.Validating, State.Writing), False),
        ((Trigger.CHANGE_DETECTED, State.Verified, State.Validating), False),
        # Into Verified: the runtime has just confirmed, nothing changed since Writing.
        ((Trigger.OUTPUT_VERIFIED, State.Writing, State.Verified), True),
    ],
)
async def test_a_transition_between_two_answers_ends_the_span(
    tmp_path: Path,
    transition: tuple[Trigger, State, State] | None,
    proves: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Two answers "not our chain" with a transition of the agent between them that may
    change what the runtime loads prove nothing for a sandbox set up between them."""
    caplog.set_level(logging.INFO, "chainfsm")
    net_dir = tmp_path / "net.d"
    net_dir.mkdir()
    (net_dir / AZURE).write_bytes(primary_bytes())
    (net_dir / OUTPUT).write_bytes(b"{}")  # no start-up window: the spans alone decide
    settings = Settings(
        net_dir=net_dir, cri_socket=tmp_path / "none.sock", record_file=tmp_path / "record.json"
    )
    primary_alone = cri_wire.cniconfig(str(net_dir), "azure", ["azure-vnet"], primary_bytes())
    answer = cri_messages.decode_status_response(
        cri_wire.status_response(True, {"lastCNILoadStatus": "OK", "cniconfig": primary_alone})
    )
    now = [100.0]
    watch = sandbox_watch.SandboxWatch(
        settings, settings.cri_socket or Path(), ours, clock=lambda: now[0]
    )
    client = StandInClient(answer)
    watch.client = client  # type: ignore[assignment]
    await watch.pass_once()
    now[0] = 110.0
    await watch.pass_once()
    if transition is not None:
        trigger, source, dest = transition
        watch.observe(
            Transition(111.0, trigger, source.value, dest.value, "", AZURE, OUTPUT, 0, 1.0)
        )
    client.sandboxes.append(
        cri_messages.Sandbox(
            "s1", "web", "u1", "shop", cri_messages.SandboxState.READY, 112 * 10**9
        )
    )
    now[0] = 120.0
    report = await watch.pass_once()
    assert report.error is None
    counts = (len(report.verdicts.unchained), report.verdicts.unknown)
    assert counts == ((1, 0) if proves else (0, 1))
    # The runtime's verdict never turned: one runtime_chain line, whatever the spans.
    assert [r.msg for r in caplog.records].count("runtime_chain") == 1


def ours() -> bytes | None:
    return b"{}"


def primary_alone(net_dir: Path) -> cri_messages.RuntimeStatus:
    loaded = cri_wire.cniconfig(str(net_dir), "azure", ["azure-vnet"], primary_bytes())
    return cri_messages.decode_status_response(
        cri_wire.status_response(True, {"lastCNILoadStatus": "OK", "cniconfig": loaded})
    )


@pytest.mark.parametrize(("code", "fails"), [("NOT_FOUND", False), ("UNAVAILABLE", True)])
async def test_a_sandbox_gone_between_the_listing_and_its_status_is_left_out(
    tmp_path: Path, code: str, fails: bool
) -> None:
    """Pods come and go: one removed after the listing is not a failed pass. Any other
    failure of its status still is (the pass proves nothing then)."""
    net_dir = tmp_path / "net.d"
    net_dir.mkdir()
    settings = Settings(
        net_dir=net_dir, cri_socket=tmp_path / "none.sock", record_file=tmp_path / "record.json"
    )
    watch = sandbox_watch.SandboxWatch(settings, tmp_path / "none.sock", ours)
    client = StandInClient(primary_alone(net_dir))
    ready = cri_messages.SandboxState.READY
    client.sandboxes = [
        cri_messages.Sandbox("gone", "a", "u1", "shop", ready, 1),
        cri_messages.Sandbox("here", "b", "u2", "shop", ready, 2),
    ]
    client.failing["gone"] = code
    watch.client = client  # type: ignore[assignment]
    report = await watch.pass_once()
    if fails:
        assert report.error is not None
        assert f"{code}: gone" in report.error
    else:
        assert report.error is None
        assert (
            report.verdicts.unknown + report.verdicts.chained + len(report.verdicts.unchained) == 1
        )


async def test_passes_that_crash_say_so_where_the_last_pass_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lines: LogQueue
) -> None:
    """An unexpected error ends the passes for good: one crashed line, the gauge of a failed
    pass and the dump's error say it (the last figures must not look current), and the agent's
    first write is not held back waiting for a pass that will never come."""

    async def broken(self: sandbox_watch.SandboxWatch) -> sandbox_watch.Report:
        raise RuntimeError("a bug")

    monkeypatch.setattr(sandbox_watch.SandboxWatch, "pass_once", broken)
    settings = Settings(
        net_dir=tmp_path, record_file=tmp_path / "record.json", cri_confirm_seconds=1e9
    )
    async with sandbox_watch.watching(settings, tmp_path / "none.sock", ours) as watch:
        assert watch is not None
        crashed = await lines.until("crashed")
        async with asyncio.timeout(HANG_GUARD):  # released, not left to its bound
            await watch.startup_done()
        report = watch.report
        failed = {
            m.name: m.samples[0].value
            for m in sandbox_metrics.SandboxCollector(lambda: watch.report).collect()
        }["chainfsm_sandbox_pass_failed"]
    assert crashed == {"task": "chainfsm-sandboxes", "reason": "RuntimeError('a bug')"}
    assert failed == 1.0
    assert report is not None
    assert report.error == (
        "the passes over the sandboxes stopped: RuntimeError('a bug'); restart the container"
    )
