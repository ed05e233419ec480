"""The harness of the pod tests, on its own: the private containerd runs real pod sandboxes, and
the stub's log says exactly which went through the chain. No chainfsm here: the chain is written
by the test, so these facts hold whatever the agent does.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from chainfsm.core.cri_messages import NamespaceMode
from tests.support import cri_client
from tests.support.containerd_daemon import Sampler, sampling
from tests.support.pod_sandboxes import PRIMARY, PRIMARY_NAME, STUB, Pods


def chain_loaded(status: cri_client.Status) -> bool:
    return status.network_ready and (PRIMARY["name"], ["bridge", STUB]) in status.networks


def primary_loaded(status: cri_client.Status) -> bool:
    return status.network_ready and (PRIMARY["name"], ["bridge"]) in status.networks


@pytest.fixture
async def sampler(pods: Pods) -> AsyncIterator[Sampler]:
    """The primary alone loaded, no sandbox left from another test."""
    pods.remove_all()
    for path in pods.conf_dir.iterdir():
        path.unlink()
    (pods.conf_dir / PRIMARY_NAME).write_bytes(pods.primary_bytes)
    async with sampling(pods.containerd) as sampler:
        await sampler.until("the primary alone", primary_loaded)
        yield sampler


def write_chain(pods: Pods) -> None:
    primary = json.loads(pods.primary_bytes)
    chain = {**primary, "plugins": [*primary["plugins"], {"type": STUB}]}
    (pods.conf_dir / "05-chain.conflist").write_text(json.dumps(chain))


async def test_the_stub_sees_exactly_the_sandboxes_run_through_the_chain(
    pods: Pods, sampler: Sampler
) -> None:
    before = pods.run("before")
    write_chain(pods)
    await sampler.until("the chain", chain_loaded)
    after = pods.run("after")
    assert pods.chained() == {after}
    assert pods.ready() >= {before, after}


async def test_a_host_network_sandbox_is_in_the_node_namespace_and_runs_no_cni(
    pods: Pods, sampler: Sampler
) -> None:
    write_chain(pods)
    await sampler.until("the chain", chain_loaded)
    host = pods.run("host", host_network=True)
    pod = pods.run("pod")
    assert pods.client.sandbox_network_mode(host) == NamespaceMode.NODE
    assert pods.client.sandbox_network_mode(pod) == NamespaceMode.POD
    assert host not in pods.chained()
    assert pod in pods.chained()


async def test_stop_leaves_a_sandbox_not_ready_and_remove_all_clears_them(
    pods: Pods, sampler: Sampler
) -> None:
    kept, stopped = pods.run("kept"), pods.run("stopped")
    pods.client.stop_pod_sandbox(stopped)
    assert kept in pods.ready()
    assert stopped not in pods.ready()
    pods.remove_all()
    assert pods.client.list_pod_sandboxes() == ()
