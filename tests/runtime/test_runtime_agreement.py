"""Agreement with the real runtime: the reference CNI plugins run a chain we rendered, and
answer VERSION as the agent's binary check reads it.

Needs root, iproute2 and the reference plugins (Debian's containernetworking-plugins); skipped
without them, failed instead with CHAINFSM_REQUIRE_RUNTIME=1 (see support/gate.py). Each test
uses its own network namespace, bridge name, subnet (198.18.0.0/15 is reserved for such tests) and
host-local data dir, and removes them even when it fails. ``ipMasq`` is off so no NAT rule is
left on the host.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from chainfsm.cli import commands
from chainfsm.core import validation
from chainfsm.core.validation import NetworkList
from tests.support import cni_runner, gate, primaries
from tests.support.constants import OUTPUT
from tests.support.plugin_checks import chain, refusal

TUNING_KEY = "net.ipv4.conf.eth0.rp_filter"
TUNING = {"type": "tuning", "sysctl": {TUNING_KEY: "2"}}
BANDWIDTH = {
    "type": "bandwidth",
    "ingressRate": 8_000_000,
    "ingressBurst": 800_000,
    "egressRate": 8_000_000,
    "egressBurst": 800_000,
}


class Lab:
    """One test's own bridge, subnet, host-local dir and network namespace."""

    def __init__(self, tmp_path: Path, netns: str) -> None:
        token = secrets.token_hex(4)
        self.bridge = f"cfsm{token}"
        self.prefix = f"198.{18 + secrets.randbelow(2)}.{secrets.randbelow(256)}"
        self.data_dir = tmp_path / "host-local"
        self.net_dir = tmp_path / "net.d"
        self.netns = netns
        self.attachment = cni_runner.Attachment(
            container_id=f"chainfsm-{token}", netns=cni_runner.netns_path(netns)
        )
        self.runner = cni_runner.CniRunner(gate.CNI_BIN_DIR, self.attachment)

    def write_primary(self) -> Path:
        """The runnable bridge fixture without portmap, made this test's own."""
        doc = json.loads(primaries.fixture("runnable").read_bytes())
        doc["plugins"] = [p for p in doc["plugins"] if p["type"] != "portmap"]
        bridge = doc["plugins"][0]
        bridge["bridge"] = self.bridge
        bridge["ipMasq"] = False
        bridge["ipam"]["ranges"] = [[{"subnet": f"{self.prefix}.0/24"}]]
        bridge["ipam"]["dataDir"] = str(self.data_dir)
        self.net_dir.mkdir()
        path = self.net_dir / "10-bridge.conflist"
        path.write_text(json.dumps(doc, indent=2))
        return path

    def leased_addresses(self, network: str) -> list[str]:
        leases = self.data_dir / network
        if not leases.is_dir():
            return []
        return sorted(p.name for p in leases.iterdir() if p.name.startswith(self.prefix))


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    gate.require_cni_plugins("bridge", "host-local", "tuning", "bandwidth")
    with cni_runner.network_namespace() as netns:
        made = Lab(tmp_path, netns)
        try:
            yield made
        finally:
            cni_runner.delete_link(made.bridge)


def _rendered_chain(
    lab: Lab, plugin: dict[str, Any], capsysbinary: pytest.CaptureFixture[bytes]
) -> dict[str, Any]:
    """What ``chainfsm render`` prints for the lab's conf dir, checked valid, as a document."""
    lab.write_primary()
    argv = ["render", "--net-dir", str(lab.net_dir), "--plugin", json.dumps(plugin)]
    assert commands.main(argv) == 0
    rendered = capsysbinary.readouterr().out
    verdict = validation.validate(OUTPUT, rendered)
    assert isinstance(verdict, NetworkList), str(verdict)
    assert verdict.plugin_types == ("bridge", plugin["type"])
    chain: dict[str, Any] = json.loads(rendered)
    return chain


def _tc(*args: str) -> str:
    return subprocess.run(["tc", "-json", *args], capture_output=True, text=True, check=True).stdout


def _container_addresses(netns: str) -> list[str]:
    links = cni_runner.ip_json("-n", netns, "-4", "address", "show", "dev", "eth0")
    return [f"{a['local']}/{a['prefixlen']}" for link in links for a in link["addr_info"]]


def _run_add_check_del(
    lab: Lab, chain: dict[str, Any], inspect: Callable[[dict[str, Any]], None] | None = None
) -> dict[str, Any]:
    """ADD, CHECK and DEL the chain, checking the attachment after ADD (and with ``inspect``)
    and that DEL undid it; the ADD result."""
    result: dict[str, Any] | None = None
    try:
        result = lab.runner.add(chain)
        assert isinstance(result, dict)
        assert result["cniVersion"] == chain["cniVersion"]
        (address,) = (ip["address"] for ip in result["ips"])
        assert address == f"{lab.prefix}.2/24"  # the first address after the gateway's
        assert _container_addresses(lab.netns) == [address]
        assert cni_runner.link_exists(lab.bridge)
        assert lab.leased_addresses(chain["name"]) == [f"{lab.prefix}.2"]
        if inspect is not None:
            inspect(result)
        lab.runner.check(chain, result)
        return result
    finally:
        lab.runner.delete(chain, result)
        assert not cni_runner.link_exists("eth0", lab.netns)
        assert lab.leased_addresses(chain["name"]) == []


def test_reference_plugins_add_check_and_del_a_rendered_bridge_chain_with_tuning(
    lab: Lab, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    chain = _rendered_chain(lab, TUNING, capsysbinary)

    def tuned(_: dict[str, Any]) -> None:
        sysctl = cni_runner.ip("netns", "exec", lab.netns, "sysctl", "-n", TUNING_KEY)
        assert sysctl.strip() == "2"

    _run_add_check_del(lab, chain, tuned)


def test_reference_plugins_add_check_and_del_a_rendered_bridge_chain_with_bandwidth(
    lab: Lab, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    chain = _rendered_chain(lab, BANDWIDTH, capsysbinary)
    host_links: list[str] = []

    def shaped(result: dict[str, Any]) -> None:
        host = [i["name"] for i in result["interfaces"] if "sandbox" not in i]
        (veth,) = (name for name in host if name.startswith("veth"))
        (ifb,) = (name for name in host if name not in (veth, lab.bridge))
        host_links.extend((veth, ifb))
        # Ingress is shaped by a token bucket on the host side of the pair, egress via an ifb.
        for link in (veth, ifb):
            kinds = [q["kind"] for q in json.loads(_tc("qdisc", "show", "dev", link))]
            assert "tbf" in kinds, (link, kinds)

    _run_add_check_del(lab, chain, shaped)
    assert len(host_links) == 2
    # DEL removed the host side of the pair and the ifb with the container's side.
    assert [link for link in host_links if cni_runner.link_exists(link)] == []


def test_the_chained_plugin_receives_the_primary_plugins_result_as_prev_result(
    lab: Lab, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    chain = _rendered_chain(lab, TUNING, capsysbinary)
    first_stdin = cni_runner.plugin_stdin(chain, chain["plugins"][0])
    assert "prevResult" not in first_stdin
    assert (first_stdin["name"], first_stdin["cniVersion"]) == ("testnet", "1.0.0")
    result: Any = None
    try:
        bridge_result = lab.runner.run_plugin("ADD", first_stdin)
        result = lab.runner.run_plugin(
            "ADD", cni_runner.plugin_stdin(chain, chain["plugins"][1], bridge_result)
        )
        # tuning passes its prevResult through: the chain's result is the bridge's.
        assert result == bridge_result
    finally:
        lab.runner.delete(chain, result)


async def test_the_reference_plugins_answer_version() -> None:
    gate.require_cni_plugins("bridge", "host-local", "portmap", "tuning", "bandwidth")
    doc = chain("1.0.0", "bridge", "portmap", "tuning", "bandwidth")
    doc["plugins"][0]["ipam"] = {"type": "host-local"}
    assert await refusal(gate.CNI_BIN_DIR, doc) is None
    found = await refusal(gate.CNI_BIN_DIR, chain("0.2.0", "tuning", "bandwidth"))
    assert found is not None
    assert found.detail.startswith('plugin "bandwidth" supports cniVersion 0.3.0-')
