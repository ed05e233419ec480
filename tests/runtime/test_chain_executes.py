"""The chain the agent wrote, run by the reference CNI plugins inside a network namespace.

ADD, CHECK and DEL go through the whole list (bridge + host-local, then a real plugin standing
in for ours) in namespaces this test creates and removes. Needs root and
containernetworking-plugins.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chainfsm.core.states import Trigger
from tests.support import cni_runner, gate
from tests.support.cni_runner import Attachment, CniRunner
from tests.support.constants import OUTPUT, PRIMARIES_DIR, RUNNABLE_FIXTURE
from tests.support.guarded_agent import running

#: tuning stands in for Antrea; its sysctl is visible inside the namespace after ADD.
PLUGIN: dict[str, Any] = {"type": "tuning", "sysctl": {"net.ipv4.conf.eth0.rp_filter": "2"}}


@pytest.fixture
def netns() -> Iterator[str]:
    gate.require_cni_plugins("bridge", "host-local", "tuning")
    with cni_runner.network_namespace() as name:
        yield name


@pytest.fixture
def primary(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The runnable primary, made private: its own bridge, subnet and host-local lease dir, and
    without portmap (its CHECK fails on IPv4-only networks in plugins 1.1.1)."""
    doc = json.loads((PRIMARIES_DIR / RUNNABLE_FIXTURE).read_bytes())
    bridge = doc["plugins"][0]
    bridge["bridge"] = f"cfsm{secrets.token_hex(3)}"
    bridge["ipMasq"] = False  # no iptables rules to leave behind
    bridge["ipam"]["dataDir"] = str(tmp_path / "leases")
    bridge["ipam"]["ranges"] = [[{"subnet": "10.251.93.0/24"}]]
    doc["plugins"] = [bridge]
    try:
        yield doc
    finally:
        cni_runner.delete_link(bridge["bridge"])  # the bridge plugin never deletes it


@pytest.fixture
async def chain(tmp_path: Path, primary: dict[str, Any]) -> dict[str, Any]:
    """What the agent wrote for the primary: the list the runtime would run."""
    net_dir = tmp_path / "net.d"
    net_dir.mkdir()
    (net_dir / "10-bridge.conflist").write_text(json.dumps(primary))
    async with running(net_dir, output=OUTPUT, plugin=PLUGIN) as run:
        await run.until(Trigger.OUTPUT_VERIFIED)
    written: dict[str, Any] = json.loads((net_dir / OUTPUT).read_bytes())
    return written


def test_the_written_chain_runs_add_check_del(
    tmp_path: Path, netns: str, chain: dict[str, Any]
) -> None:
    assert [p["type"] for p in chain["plugins"]] == ["bridge", "tuning"]

    runner = CniRunner(gate.CNI_BIN_DIR, Attachment(f"cfsm-{netns}", cni_runner.netns_path(netns)))
    result = runner.add(chain)
    assert result["cniVersion"] == chain["cniVersion"]
    (address,) = [a["address"] for a in result["ips"]]
    assert address.startswith("10.251.93.")
    lease = tmp_path / "leases" / chain["name"] / address.split("/")[0]
    assert lease.exists()

    (eth0,) = cni_runner.ip_json("-n", netns, "addr", "show", "eth0")
    assert eth0["operstate"] == "UP"
    assert [
        f"{a['local']}/{a['prefixlen']}" for a in eth0["addr_info"] if a["family"] == "inet"
    ] == [address]
    routes = cni_runner.ip_json("-n", netns, "route", "show", "default")
    assert [r["gateway"] for r in routes] == ["10.251.93.1"]
    rp_filter = subprocess.run(
        ["ip", "netns", "exec", netns, "cat", "/proc/sys/net/ipv4/conf/eth0/rp_filter"],
        capture_output=True,
        check=True,
        text=True,
    )
    assert rp_filter.stdout.strip() == "2"  # tuning, the last plugin of the chain, ran

    runner.check(chain, result)

    runner.delete(chain, result)
    assert [link["ifname"] for link in cni_runner.ip_json("-n", netns, "link", "show")] == ["lo"]
    assert not lease.exists()  # host-local released the address
