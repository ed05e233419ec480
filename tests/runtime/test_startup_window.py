"""The start-up window, against a real containerd: pods set up before the agent's container
started (the AKS order: the node boots, the primary appears, pods are scheduled, and chainfsm
starts late). With no record of this boot and nothing under our output's name, the runtime's
first answer "the primary alone" holds since the boot: those sandboxes are unchained, exactly
those the stub never saw. With an output already there (a chain the runtime loaded, so the
sandboxes went through the stub), nothing proves how they were set up: unknown.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chainfsm.core import boot_window
from tests.support.agent_process import agent_process
from tests.support.constants import HANG_GUARD
from tests.support.containerd_daemon import wait_for
from tests.support.dump_command import dump
from tests.support.pod_sandboxes import PRIMARY_NAME, STUB, Pods

OUTPUT = "05-chain.conflist"


#: The agent's chain: the stub after the primary.
ARGS = ("--primary", PRIMARY_NAME, "--output", OUTPUT, "--plugin", json.dumps({"type": STUB}))


def watched(pods: Pods, record: Path) -> list[str]:
    return [
        *ARGS,
        *("--cri-socket", str(pods.socket), "--record-file", str(record)),
        *("--sandbox-interval", "0.2"),
    ]


def fresh_node(pods: Pods) -> None:
    """The conf dir holding only the primary, no sandbox, no stub log; the runtime running the
    primary alone."""
    pods.remove_all()
    for path in pods.conf_dir.iterdir():
        path.unlink()
    pods.stub_log.unlink(missing_ok=True)
    (pods.conf_dir / PRIMARY_NAME).write_bytes(pods.primary_bytes)
    wait_for(
        "the primary loaded alone",
        lambda: [plugins for _, plugins in pods.containerd.status().networks][-1:] == [["bridge"]],
        HANG_GUARD,
    )


def booted() -> str:
    stamp = boot_window.boot_time(Path("/proc/stat").read_text())
    assert stamp is not None
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="milliseconds")


async def test_sandboxes_from_before_the_first_agent_of_the_boot_are_unchained(
    pods: Pods,
    tmp_path: Path,
) -> None:
    fresh_node(pods)
    before = {pods.run("boot-a"), pods.run("boot-b", namespace="shop")}
    host = pods.run("boot-host", namespace="kube-system", host_network=True)
    record = tmp_path / "node" / "record.json"
    assert not record.exists()
    async with agent_process(pods.conf_dir, *watched(pods, record)) as agent:
        opened = await agent.line("record", since=booted())
        assert "not our chain since the boot" in opened["reason"]
        await agent.line("runtime_chain", chained=True)
        late = pods.run("late")
        await agent.line("sandboxes", unchained=2, chained=1, unknown=0)
        doc = dump(agent)
    # The oracle: the stub saw only the sandbox made after the chain.
    assert pods.chained() == {late}
    assert pods.ready() - pods.chained() - {host} == before
    assert {s["id"] for s in doc["unchained_sandboxes"]} == before
    assert doc["sandboxes"]["record"]["observed_since"] == booted()
    assert [s["chained"] for s in doc["sandboxes"]["record"]["spans"]] == [False, True]


def chain_once(pods: Pods) -> None:
    """``chainfsm run --once`` without the socket or the record (an init container, or a
    version before the record): our chain in the dir, and the runtime running it."""
    subprocess.run(
        [sys.executable, "-m", "chainfsm", "run", "--once", "--timeout", "30", *ARGS],
        env={**os.environ, "CHAINFSM_NET_DIR": str(pods.conf_dir)},
        check=True,
        capture_output=True,
        timeout=HANG_GUARD,
    )
    wait_for(
        "the chain loaded",
        lambda: (
            [plugins for _, plugins in pods.containerd.status().networks][-1:] == [["bridge", STUB]]
        ),
        HANG_GUARD,
    )


def loaded(pods: Pods) -> list[list[str]]:
    """The plugin types of each config the runtime reports it loaded."""
    return [plugins for _, plugins in pods.containerd.status().networks]


async def test_with_our_chain_already_there_the_earlier_sandboxes_are_unknown(
    pods: Pods, tmp_path: Path
) -> None:
    fresh_node(pods)
    chain_once(pods)
    before = {pods.run("early-a"), pods.run("early-b", namespace="shop")}
    pods.run("early-host", namespace="kube-system", host_network=True)
    # The oracle: they went through the chain, so calling them unchained would be wrong; and
    # nothing the agent can see tells how they were set up, so chained would be a guess.
    assert pods.chained() == before
    record = tmp_path / "node" / "record.json"
    async with agent_process(pods.conf_dir, *watched(pods, record)) as agent:
        await agent.line("runtime_chain", chained=True)
        await agent.line("sandboxes", unchained=0, chained=0, unknown=2)
        doc = dump(agent)
        assert not any("since the boot" in line.get("reason", "") for line in agent.lines)
    assert doc["unchained_sandboxes"] == []
    assert doc["sandboxes"]["record"]["observed_since"] != booted()


#: A primary the agent waits for and that never comes: the agent never writes, so the runtime's
#: first answer is about the dir as it was before the agent.
LATER = "30-later.conflist"


@pytest.mark.parametrize(
    ("record_of", "scene"),
    [
        ("none", "our output behind"),
        ("another boot", "our output behind"),
        ("none", "another chain"),
    ],
)
async def test_a_first_answer_not_our_chain_proves_nothing_after_a_chain(
    pods: Pods, tmp_path: Path, record_of: str, scene: str
) -> None:
    fresh_node(pods)
    if scene == "our output behind":
        # Our chain ran the earlier sandboxes; then a config without the plugin came first in
        # the runtime's order (a primary renamed, say), so the runtime's first answer is "not
        # our chain": only our output, found at the first look, says a chain may have run.
        chain_once(pods)
        before = {pods.run("early-a"), pods.run("early-b", namespace="shop")}
        (pods.conf_dir / "01-first.conflist").write_bytes(pods.primary_bytes)
    else:
        # Another tool's chain with our plugin, under another name (as Antrea's own install-cni
        # patches the primary): no output of ours, but the runtime's config runs our plugin.
        doc = json.loads(pods.primary_bytes)
        doc["plugins"].append({"type": STUB})
        (pods.conf_dir / "01-theirs.conflist").write_text(json.dumps(doc))
        wait_for("their chain loaded", lambda: loaded(pods)[-1:] == [["bridge", STUB]], HANG_GUARD)
        before = {pods.run("early-a"), pods.run("early-b", namespace="shop")}
    pods.run("early-host", namespace="kube-system", host_network=True)
    assert pods.chained() == before
    if scene == "our output behind":
        wait_for("the first file loaded", lambda: loaded(pods)[-1:] == [["bridge"]], HANG_GUARD)
    record = tmp_path / "node" / "record.json"
    if record_of == "another boot":
        record.parent.mkdir()
        record.write_text(
            json.dumps(
                {
                    "version": 1,
                    "boot_id": "an-earlier-boot",
                    "observed_since": 1.0,
                    "spans": [[False, 1.0, 2.0]],
                    "verdicts": {},
                }
            )
        )
    waits = ["--primary", LATER, *watched(pods, record)[2:]]
    async with agent_process(pods.conf_dir, *waits) as agent:
        await agent.line("runtime_chain", chained=False)
        await agent.line("sandboxes", unchained=0, chained=0, unknown=2)
        assert not any("since the boot" in line.get("reason", "") for line in agent.lines)
