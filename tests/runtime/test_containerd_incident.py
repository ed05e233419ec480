"""The incident against the real runtime: containerd 1.6 watching the conf dir, its verdict read
through CRI ``RuntimeService/Status``.

A naive in-place installer (what the old Antrea script did) is kept as the control: the same
start-up order makes containerd blame our file, and the same check that chainfsm passes fails
for it. Needs root and Debian's containerd; see support/containerd_daemon.py.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from chainfsm.cli.demo import write_in_place
from chainfsm.core import verification
from chainfsm.core.states import State, Transition, Trigger
from tests.support import cri_client
from tests.support.constants import AZURE, OUTPUT, PRIMARIES_DIR, RUNNABLE_FIXTURE
from tests.support.containerd_daemon import Containerd, Sampler, sampling
from tests.support.guarded_agent import running

#: A real reference plugin standing in for Antrea, so the chain containerd loads is runnable.
PLUGIN: dict[str, Any] = {"type": "tuning"}
#: The runnable primary (bridge + host-local, portmap), as Azure CNS would write it late.
PRIMARY_BYTES = (PRIMARIES_DIR / RUNNABLE_FIXTURE).read_bytes()
NETWORK = json.loads(PRIMARY_BYTES)["name"]
PRIMARY_TYPES = [p["type"] for p in json.loads(PRIMARY_BYTES)["plugins"]]


# -- what containerd says, as predicates -------------------------------------------------------


def no_config(status: cri_client.Status) -> bool:
    return not status.network_ready and "no network config found" in status.cni_load_status


def blames(name: str, status: cri_client.Status) -> bool:
    """Whether containerd's last load of the dir failed on the file ``name``."""
    return status.cni_load_status != "OK" and f"/{name}:" in status.cni_load_status


def chain_loaded(status: cri_client.Status) -> bool:
    """Ready, running our chain: the primary's plugins with ours appended."""
    return status.network_ready and (NETWORK, [*PRIMARY_TYPES, PLUGIN["type"]]) in status.networks


def settled(status: cri_client.Status) -> bool:
    """containerd has made up its mind about our file: it runs our chain or it blames it."""
    return chain_loaded(status) or blames(OUTPUT, status)


def mentioning(trigger: Trigger, words: str) -> Callable[[Transition], bool]:
    return lambda record: record.trigger == trigger and words in record.reason


#: How containerd words a file that its listing named and that was gone when it read it.
_VANISHED = "no such file or directory"


def blamed_output(samples: list[cri_client.Status]) -> list[str]:
    """Every load error that named our output: the check the incident fails and chainfsm passes."""
    return [s.cni_load_status for s in samples if blames(OUTPUT, s)]


# -- the parts -------------------------------------------------------------------------------


@pytest.fixture
async def sampler(containerd: Containerd) -> AsyncIterator[Sampler]:
    """An empty conf dir that containerd has seen empty, and its status sampled throughout."""
    for path in containerd.conf_dir.iterdir():
        path.unlink()
    async with sampling(containerd) as sampler:
        await sampler.until("an empty conf dir", no_config)
        del sampler.samples[:]
        yield sampler


def naive_install(net_dir: Path) -> None:
    """The control: the old installer, ``jq '.plugins += [...]' primary > 05-antrea.conflist``.

    The shell truncates the output before jq reads the primary; when the primary is empty or
    half-written, jq fails and the empty output stays. It runs once and nothing repairs it.
    """
    with open(net_dir / OUTPUT, "wb") as out:
        try:
            doc = json.loads((net_dir / AZURE).read_bytes())
        except ValueError:
            return
        doc["plugins"].append(PLUGIN)
        out.write(json.dumps(doc).encode())


# -- the facts the incident rests on ---------------------------------------------------------


async def test_an_empty_output_beside_a_valid_primary_blocks_the_node(
    containerd: Containerd, sampler: Sampler
) -> None:
    net_dir = containerd.conf_dir
    (net_dir / OUTPUT).touch()  # a create: containerd does not reload on it
    write_in_place(net_dir / AZURE, PRIMARY_BYTES)  # a write: it reloads, and reads ours first
    status = await sampler.until(f"an error naming {OUTPUT}", lambda s: blames(OUTPUT, s))
    assert not status.network_ready
    assert status.conditions["NetworkReady"].reason == "NetworkPluginNotReady"
    # The runtime's own words, as chainfsm's verification (and explain) quote them.
    assert verification.NOT_INITIALIZED in status.conditions["NetworkReady"].message
    assert "unexpected end of JSON input" in status.cni_load_status
    # The valid primary right behind it does not help: the first invalid file aborts the load.
    (net_dir / OUTPUT).unlink()
    status = await sampler.until("the primary loaded", lambda s: s.network_ready)
    assert (NETWORK, PRIMARY_TYPES) in status.networks


# -- the incident: the agent starts first, the primary comes late and in steps ---------------


async def test_control_the_naive_installer_leaves_the_node_not_ready(
    containerd: Containerd, sampler: Sampler
) -> None:
    net_dir = containerd.conf_dir
    (net_dir / AZURE).touch()  # CNS creates its file: empty for now
    naive_install(net_dir)  # the installer sees a primary and chains it at once
    write_in_place(net_dir / AZURE, PRIMARY_BYTES[: len(PRIMARY_BYTES) // 2])
    write_in_place(net_dir / AZURE, PRIMARY_BYTES)
    final = await sampler.until("a verdict on our output", settled)
    # The check that chainfsm passes below fails here: this is the incident.
    assert blamed_output(sampler.samples)
    assert not final.network_ready
    assert (net_dir / OUTPUT).read_bytes() == b""


async def test_chainfsm_makes_the_node_ready_and_never_blocks_it(
    containerd: Containerd, sampler: Sampler
) -> None:
    net_dir = containerd.conf_dir
    async with running(net_dir, output=OUTPUT, plugin=PLUGIN) as run:
        (net_dir / AZURE).touch()
        await run.until(mentioning(Trigger.PRIMARY_INVALID, "is empty"))
        write_in_place(net_dir / AZURE, PRIMARY_BYTES[: len(PRIMARY_BYTES) // 2])
        await run.until(mentioning(Trigger.PRIMARY_INVALID, "truncated JSON"))
        assert not (net_dir / OUTPUT).exists()
        write_in_place(net_dir / AZURE, PRIMARY_BYTES)
        await run.until(Trigger.OUTPUT_VERIFIED)
        final = await sampler.until("a verdict on our output", settled)
        assert chain_loaded(final), final.describe()
        assert run.agent.state is State.Verified
    assert blamed_output(sampler.samples) == []


async def test_our_output_deleted_comes_back_and_the_chain_runs_again(
    containerd: Containerd, sampler: Sampler
) -> None:
    net_dir = containerd.conf_dir
    write_in_place(net_dir / AZURE, PRIMARY_BYTES)
    async with running(net_dir, output=OUTPUT, plugin=PLUGIN) as run:
        await run.until(Trigger.OUTPUT_VERIFIED)
        await sampler.until("our chain loaded", chain_loaded)
        (net_dir / OUTPUT).unlink()
        await run.until(Trigger.OUTPUT_VERIFIED)
        status = await sampler.until("our chain loaded again", chain_loaded)
        assert status.cni_load_status == "OK"
        assert run.agent.status().writes == 2
    assert blamed_output(sampler.samples) == []


async def test_primary_deleted_we_withdraw_and_the_runtime_says_not_ready(
    containerd: Containerd, sampler: Sampler
) -> None:
    net_dir = containerd.conf_dir
    write_in_place(net_dir / AZURE, PRIMARY_BYTES)
    async with running(net_dir, output=OUTPUT, plugin=PLUGIN) as run:
        await run.until(Trigger.OUTPUT_VERIFIED)
        await sampler.until("our chain loaded", chain_loaded)
        (net_dir / AZURE).unlink()
        await run.until(Trigger.PRIMARY_LOST)
        # Honest: with no primary the node is NotReady, not running a chain with no primary.
        await sampler.until("no network config", no_config)
        assert not (net_dir / OUTPUT).exists()
        assert run.agent.state is State.WaitingPrimary
    # A reload that listed the dir just before our withdrawal and then found the file gone
    # names it as missing ("no such file or directory"): the removal the test asks for, not a
    # file the runtime could not load. Any other blame of our output is the incident.
    assert [s for s in blamed_output(sampler.samples) if _VANISHED not in s] == []
