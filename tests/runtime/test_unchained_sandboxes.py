"""Pods networked without the chain, against a real containerd running real pod sandboxes.

The scenario of every test: the runtime has loaded a primary the agent does not take (its
``--primary`` names another file), so sandboxes run through the primary alone while the agent
watches; then the primary the agent waits for appears, it chains, the runtime loads the chain
and new sandboxes run through it. The stub chained plugin's log is the oracle: the agent must
name as unchained exactly the sandboxes the stub never saw, and never a host-network one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.agent_process import AgentProcess, agent_process
from tests.support.dump_command import dump
from tests.support.loopback_http import http_get
from tests.support.pod_sandboxes import PRIMARY_NAME, STUB, Pods

OUTPUT = "05-chain.conflist"
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
#: A name the agent's --primary does not match: the runtime loads it, the agent waits.
EARLY = "20-early.conflist"


@dataclass
class Scene:
    pods: Pods
    record: Path
    unchained: set[str]
    chained: set[str]
    host: str

    def args(self, *more: str) -> list[str]:
        return [
            *("--primary", PRIMARY_NAME, "--output", OUTPUT),
            *("--plugin", json.dumps({"type": STUB})),
            *("--cri-socket", str(self.pods.socket), "--record-file", str(self.record)),
            *("--sandbox-interval", "0.2", "--listen", "127.0.0.1:0"),
            *more,
        ]


@pytest.fixture
async def scene(pods: Pods, tmp_path: Path) -> Scene:
    """Two sandboxes set up by the primary alone while the agent watched, one host-network,
    then the chain confirmed and one sandbox through it; the agent stopped again."""
    pods.remove_all()
    for path in pods.conf_dir.iterdir():
        path.unlink()
    pods.stub_log.unlink(missing_ok=True)
    (pods.conf_dir / EARLY).write_bytes(pods.primary_bytes)
    scene = Scene(pods, tmp_path / "node" / "record.json", set(), set(), "")
    async with agent_process(pods.conf_dir, *scene.args()) as agent:
        await agent.line("runtime_chain", chained=False)
        scene.unchained = {pods.run("early-a"), pods.run("early-b", namespace="shop")}
        scene.host = pods.run("host", namespace="kube-system", host_network=True)
        await agent.line("sandboxes", unchained=2)
        (pods.conf_dir / PRIMARY_NAME).write_bytes(pods.primary_bytes)
        await agent.line("runtime_chain", chained=True)
        scene.chained = {pods.run("late")}
        await agent.line("sandboxes", unchained=2, chained=1)
    return scene


def this_boot() -> str:
    return BOOT_ID.read_text().strip()


async def gauge(agent: AgentProcess, name: str) -> float:
    _, port = agent.address("/healthz /metrics /readyz")
    _, _, body = await http_get(port, "/metrics")
    text = body.decode()
    values = [line.split()[-1] for line in text.splitlines() if line.startswith(name + " ")]
    assert len(values) == 1, text
    return float(values[0])


async def test_the_dump_and_the_gauge_name_exactly_the_sandboxes_the_stub_never_saw(
    scene: Scene,
) -> None:
    pods = scene.pods
    # The oracle: the stub saw exactly the sandbox made after the chain.
    assert pods.chained() == scene.chained
    never_through_chain = pods.ready() - pods.chained() - {scene.host}
    assert never_through_chain == scene.unchained
    async with agent_process(pods.conf_dir, *scene.args()) as agent:
        await agent.line("sandboxes", unchained=2, chained=1)
        doc = dump(agent)
        listed = doc["unchained_sandboxes"]
        assert {s["id"] for s in listed} == never_through_chain
        assert {(s["namespace"], s["name"]) for s in listed} == {
            ("default", "early-a"),
            ("shop", "early-b"),
        }
        assert doc["sandboxes"]["counts"] == {"unchained": 2, "chained": 1, "unknown": 0}
        assert await gauge(agent, "chainfsm_unchained_sandboxes") == 2
        assert await gauge(agent, "chainfsm_unknown_sandboxes") == 0


async def test_a_restarted_agent_keeps_the_record_of_the_boot(scene: Scene) -> None:
    before = json.loads(scene.record.read_text())
    assert before["boot_id"] == this_boot()
    # Not our chain, then ours (the agent's transitions may split a verdict into spans).
    kinds = [chained for chained, _, _ in before["spans"]]
    assert kinds[0] is False
    assert kinds[-1] is True
    assert kinds == sorted(kinds)
    async with agent_process(scene.pods.conf_dir, *scene.args()) as agent:
        await agent.line("sandboxes", unchained=2, chained=1)
        assert agent.count("record") == 0  # kept, not started afresh
    after = json.loads(scene.record.read_text())
    assert after["observed_since"] == before["observed_since"]
    # The gap while no agent ran is not a span: new ones start with the new run.
    kept, new = after["spans"][: len(kinds)], after["spans"][len(kinds) :]
    assert kept == before["spans"]
    assert new
    assert all(chained for chained, _, _ in new)


async def test_a_record_of_another_boot_is_started_afresh(scene: Scene) -> None:
    doc = json.loads(scene.record.read_text())
    scene.record.write_text(json.dumps({**doc, "boot_id": "an-earlier-boot"}))
    async with agent_process(scene.pods.conf_dir, *scene.args()) as agent:
        line = await agent.line("record")
        assert "another boot" in line["reason"]
        # Nothing proves how the sandboxes of before were set up: unknown, never unchained,
        # and still unknown on the later passes that prove a new one chained.
        await agent.line("sandboxes", unchained=0, unknown=3)
        scene.pods.run("after-reboot")
        await agent.line("sandboxes", unchained=0, chained=1, unknown=3)


async def test_stop_never_stops_an_unknown_sandbox(scene: Scene) -> None:
    """The record of another boot proves nothing: with stop on, every sandbox stays ready."""
    pods = scene.pods
    doc = json.loads(scene.record.read_text())
    scene.record.write_text(json.dumps({**doc, "boot_id": "an-earlier-boot"}))
    ready = pods.ready()
    args = scene.args("--repair-unchained", "stop", "--repair-exclude-namespaces", "")
    async with agent_process(pods.conf_dir, *args) as agent:
        await agent.line("sandboxes", unchained=0, unknown=3)
        # A later pass that proves a new sandbox chained still stops none of the unknown.
        late = pods.run("after-reboot")
        await agent.line("sandboxes", unchained=0, chained=1, unknown=3)
    assert agent.count("repair") == 0
    assert pods.ready() == ready | {late}


async def test_dry_run_names_each_unchained_pod_and_stops_nothing(scene: Scene) -> None:
    ready = scene.pods.ready()
    async with agent_process(
        scene.pods.conf_dir, *scene.args("--repair-unchained", "dry-run")
    ) as agent:
        await agent.line("sandboxes", unchained=2, chained=1)
        await agent.line("repair", pod="default/early-a", action="would stop")
        await agent.line("repair", pod="shop/early-b", action="would stop")
        assert scene.pods.ready() == ready
    assert stopped(agent) == scene.unchained


async def test_stop_stops_exactly_the_unchained_and_the_rest_stay_ready(scene: Scene) -> None:
    pods = scene.pods
    args = scene.args("--repair-unchained", "stop", "--repair-exclude-namespaces", "")
    async with agent_process(pods.conf_dir, *args) as agent:
        await agent.line("repair", pod="default/early-a", action="stopped")
        await agent.line("repair", pod="shop/early-b", action="stopped")
        await agent.line("sandboxes", unchained=0, chained=1)
        assert await gauge(agent, "chainfsm_sandbox_stops_total") == 2
    assert pods.ready() == scene.chained | {scene.host}
    assert stopped(agent) == scene.unchained


async def test_stop_leaves_excluded_namespaces_alone(scene: Scene) -> None:
    pods = scene.pods
    args = scene.args("--repair-unchained", "stop", "--repair-exclude-namespaces", "shop")
    async with agent_process(pods.conf_dir, *args) as agent:
        await agent.line("repair", pod="default/early-a", action="stopped")
        await agent.line("sandboxes", unchained=1, chained=1, pods="shop/early-b")
    assert [d["pod"] for d in agent.lines if d["event"] == "repair"] == ["default/early-a"]
    assert pods.ready() == scene.chained | {scene.host} | (scene.unchained - stopped(agent))


async def test_stop_keeps_to_the_rate(scene: Scene) -> None:
    pods = scene.pods
    args = scene.args(
        *("--repair-unchained", "stop", "--repair-exclude-namespaces", ""),
        *("--repair-max-per-minute", "1"),
    )
    async with agent_process(pods.conf_dir, *args) as agent:
        first = await agent.line("repair", action="stopped")
        # A later pass still sees the other one, and leaves it for the next minute.
        await agent.line("sandboxes", unchained=1, chained=1)
    assert first["pod"] == "default/early-a"  # the oldest first
    assert stopped(agent) == {first["sandbox"]}
    assert pods.ready() == scene.chained | {scene.host} | (scene.unchained - stopped(agent))


def stopped(agent: AgentProcess) -> set[str]:
    return {d["sandbox"] for d in agent.lines if d["event"] == "repair"}


def explain(scene: Scene, *more: str) -> str:
    args = [a for a in scene.args() if a not in ("--sandbox-interval", "0.2")]
    args = args[: args.index("--listen")]
    command = [sys.executable, "-m", "chainfsm", "explain", "--net-dir", str(scene.pods.conf_dir)]
    done = subprocess.run(
        [*command, *args, *more],
        capture_output=True,
        check=False,
        timeout=30,
        text=True,
    )
    assert done.stderr == ""
    return done.stdout


def test_explain_lists_the_unchained_sandboxes_from_the_record(scene: Scene) -> None:
    shown = explain(scene)
    for sandbox_id in scene.unchained:
        assert f"sandbox {sandbox_id}" in shown
    assert scene.host not in shown
    assert "2 unchained, 1 chained, 0 unknown" in shown
    doc = json.loads(explain(scene, "--json"))["pods"]
    assert {s["id"] for s in doc["unchained_sandboxes"]} == scene.unchained
    assert doc["counts"] == {"unchained": 2, "chained": 1, "unknown": 0}


def test_explain_without_a_record_proves_nothing(scene: Scene) -> None:
    scene.record.unlink()
    doc = json.loads(explain(scene, "--json"))["pods"]
    assert doc["unchained_sandboxes"] == []
    assert doc["counts"] == {"unchained": 0, "chained": 0, "unknown": 3}
    assert doc["observed_since"] is None
