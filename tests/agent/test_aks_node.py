"""A simulated AKS node with the settings deploy/ ships: a temp conf dir with a CNS-managed
Azure primary, and a bin dir of plugins that answer VERSION. The chain is written as soon as
the primary is valid; while antrea is missing the agent is not Verified and every window on it
(/readyz, the metrics, the dump, `explain`, `render`) says antrea; when the binary arrives the
agent is Verified with nothing rewritten. And a --primary glob that matches nothing keeps the
chain and says so."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from chainfsm.agent.agent import Agent
from chainfsm.cli import commands
from chainfsm.core.states import State, Trigger
from chainfsm.process import lifecycle, state_dump
from chainfsm.process.http_endpoints import Server
from chainfsm.settings import Settings
from tests.support.antrea_standin import antrea_step
from tests.support.constants import AKS_FIXTURE, DEPLOY, HANG_GUARD, PRIMARIES_DIR
from tests.support.guarded_agent import record, running, until
from tests.support.seams import ObservedWakeups
from tests.support.standin_plugins import install

CNS_PRIMARY = PRIMARIES_DIR / AKS_FIXTURE
#: Where newer AKS node images put Azure's conflist (the shipped glob must match it).
PRIMARY = "15-azure-swift-overlay.conflist"
SHIPPED = ["base", "components/antrea-aks"]


def shipped_settings(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **overrides: object
) -> Settings:
    """The settings a node gets from ``deploy/<where>``'s ConfigMap literals, as the agent's own
    command line reads them, with the node's paths moved into ``tmp_path``."""
    kustomization = yaml.safe_load((DEPLOY / where / "kustomization.yaml").read_text())
    (generator,) = kustomization["configMapGenerator"]
    for literal in generator["literals"]:
        key, _, value = literal.partition("=")
        monkeypatch.setenv(key, value)
    settings = commands.settings_from(commands.build_parser().parse_args(["run"]))
    assert (str(settings.net_dir), str(settings.bin_dir)) == ("/etc/cni/net.d", "/opt/cni/bin")
    return dataclasses.replace(
        settings,
        net_dir=tmp_path / "net.d",
        bin_dir=tmp_path / "bin",
        listen="127.0.0.1:0",
        dump_file=tmp_path / "run" / "dump.json",
        ready_file=tmp_path / "run" / "ready",
        **overrides,  # type: ignore[arg-type]
    )


@contextlib.asynccontextmanager
async def node(settings: Settings) -> AsyncIterator[tuple[Agent, Server]]:
    settings.net_dir.mkdir()
    agent = Agent(settings, wakeups=ObservedWakeups())
    async with lifecycle.endpoints(agent, settings) as servers:
        server = servers[0]  # --listen's: the probes
        task = asyncio.create_task(agent.run())
        await asyncio.wait_for(agent.ready.wait(), HANG_GUARD)
        try:
            yield agent, server
        finally:
            agent.request_stop()
            await asyncio.wait_for(task, HANG_GUARD)


async def get(server: Server, path: str) -> tuple[int, str]:
    async with asyncio.timeout(HANG_GUARD):
        reader, writer = await asyncio.open_connection(*server.bound)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        raw = await reader.read()
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode()


async def gauge(server: Server, name: str, **labels: str) -> float:
    _, text = await get(server, "/metrics")
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    raise AssertionError(f"no {name}{labels} in /metrics")


async def arrives(agent: Agent, bin_dir: Path, name: str) -> None:
    """Install ``name`` and return once the agent's watch has read it and the agent has
    handled it and waits again."""
    wakeups = agent.wakeups
    assert isinstance(wakeups, ObservedWakeups)  # as ``node`` makes the agent
    read = wakeups.changes.read(name)
    install(bin_dir, name)
    await asyncio.wait_for(read, HANG_GUARD)
    await asyncio.wait_for(wakeups.quiet(), HANG_GUARD)


async def command(*argv: str) -> tuple[int, str, str]:
    """A one-shot chainfsm command, run as the operator runs it: its exit code, stdout and
    stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chainfsm",
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(HANG_GUARD):
        out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.mark.parametrize("where", SHIPPED)
async def test_a_cns_node_chains_fails_closed_and_verifies_when_antrea_arrives(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = shipped_settings(where, tmp_path, monkeypatch)
    bin_dir = install(tmp_path / "bin", "azure-vnet", "portmap")  # no azure-cns: none exists
    async with node(settings) as (agent, server):
        seen = record(agent)
        shutil.copy(CNS_PRIMARY, settings.net_dir / PRIMARY)
        missing = await until(seen, trigger=Trigger.BINARY_MISSING)
        output = settings.net_dir / settings.output

        # The chain is there, as Antrea's step means it, before the binary is.
        assert json.loads(output.read_bytes()) == antrea_step(CNS_PRIMARY.read_bytes())
        assert f'plugin "antrea" is not in {bin_dir}' in missing.reason
        assert "pods on this node cannot start until it is installed" in missing.reason
        status, body = await get(server, "/readyz")
        assert status == 503
        assert body.startswith("Failed: ")
        assert '"antrea"' in body
        assert await gauge(server, "chainfsm_chain_binaries_missing") == 1
        assert await gauge(server, "chainfsm_failures_total", reason="binary_missing") >= 1
        dump = state_dump.snapshot(agent.status())
        assert dump["binaries"]["missing"] == [f'plugin "antrea" is not in {bin_dir}']
        assert not settings.ready_file.exists()  # type: ignore[union-attr]

        flags = ["--net-dir", str(settings.net_dir), "--bin-dir", str(bin_dir)]
        flags += ["--primary", settings.primary] if settings.primary else []
        code, out, _ = await command("explain", *flags, "--json")
        report = json.loads(out)
        assert code == 1
        assert report["missing_binaries"] == [f'plugin "antrea" is not in {bin_dir}']
        assert report["ipam_not_in_bin_dir"] == ["azure-cns"]  # information, not a failure
        code, out, err = await command("render", *flags)
        assert code == 1
        assert out.encode() == output.read_bytes()
        assert err == (
            f'chainfsm: {PRIMARY}: plugin "antrea" is not in {bin_dir}: pods cannot start until'
            " it is installed\n"
        )

        # Another binary arrives while antrea is still missing (a node installs many as it
        # boots): the agent re-checks in place, with no transition and no log line.
        said = len(agent.status().history)
        await arrives(agent, bin_dir, "bandwidth")
        assert len(agent.status().history) == said
        assert agent.state is State.Failed

        # antrea arrives (Antrea's init container renames it in): Verified, nothing rewritten.
        writes, before = agent.status().writes, output.read_bytes()
        install(bin_dir, "antrea")
        await until(seen, dest=State.Verified.value)
        assert (output.read_bytes(), agent.status().writes) == (before, writes)
        assert (await get(server, "/readyz"))[0] == 200
        assert await gauge(server, "chainfsm_chain_binaries_missing") == 0
        assert (await command("explain", *flags, "--json"))[0] == 0
        assert (await command("render", *flags))[0] == 0


async def test_once_writes_the_chain_and_exits_1_naming_the_missing_binary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = shipped_settings("base", tmp_path, monkeypatch, once=True, timeout=60.0)
    install(tmp_path / "bin", "azure-vnet", "portmap")
    settings.net_dir.mkdir()
    shutil.copy(CNS_PRIMARY, settings.net_dir / PRIMARY)
    agent = Agent(settings)
    assert await asyncio.wait_for(lifecycle.serve(settings, agent), HANG_GUARD) == 1
    assert agent.status().history[-1].trigger == Trigger.BINARY_MISSING
    assert '"antrea"' in agent.status().situation
    assert (settings.net_dir / settings.output).is_file()


async def test_a_glob_that_matches_nothing_keeps_the_chain_and_says_so(tmp_path: Path) -> None:
    """A typo in --primary is an operator error, not a lost primary: the node keeps running
    our chain, and the log names the glob and the valid file it skipped."""
    shutil.copy(CNS_PRIMARY, tmp_path / "10-azure.conflist")
    async with running(tmp_path) as run:
        await run.until(Trigger.OUTPUT_VERIFIED)
        chain = run.output.read_bytes()
    async with running(tmp_path, primary="*calico*.conflist") as run:
        await run.settle()
        assert run.agent.state is State.WaitingPrimary
        assert run.output.read_bytes() == chain
        code, out, _ = await command(
            "explain", "--net-dir", str(tmp_path), "--json", "--primary", "*calico*.conflist"
        )
        assert code == 1
        assert (
            "no config file matches --primary '*calico*.conflist' while 10-azure"
            in (json.loads(out)["verdict"])
        )
        assert json.loads(out)["verdict"].endswith(
            "chainfsm keeps its chain as it is and does not report Verified"
        )
        assert run.agent.status().last_error == (
            f"no config file in {tmp_path} matches --primary '*calico*.conflist', but"
            " 10-azure.conflist is a valid config: check the glob; 05-antrea.conflist is left"
            " as it is (not withdrawn) and the agent does not report Verified"
        )


async def test_a_primary_renamed_out_of_the_glob_keeps_the_chain(tmp_path: Path) -> None:
    shutil.copy(CNS_PRIMARY, tmp_path / "10-azure.conflist")
    async with running(tmp_path, primary="*azure*.conflist") as run:
        await run.until(Trigger.OUTPUT_VERIFIED)
        chain = run.output.read_bytes()
        (tmp_path / "10-azure.conflist").rename(tmp_path / "10-cni.conflist")
        lost = await run.until(Trigger.PRIMARY_LOST)
        assert "matches --primary '*azure*.conflist', but 10-cni.conflist is a valid" in (
            lost.reason
        )
        await run.settle()
        assert run.agent.state is State.WaitingPrimary
        assert run.output.read_bytes() == chain
