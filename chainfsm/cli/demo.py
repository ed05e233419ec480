"""``chainfsm demo``: the AKS start-up race, played against a real agent in a temp dir.

The agent starts first; Azure's primary config appears late, empty, then half-written, then
complete; later it is replaced. Every step is a real file operation seen through inotify.
"""

from __future__ import annotations

import asyncio
import copy
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from chainfsm import logs
from chainfsm.agent.agent import Agent
from chainfsm.core.states import State, Transition, Trigger
from chainfsm.settings import Settings

#: Azure CNI's conflist in overlay mode, as the CNS daemon writes it on AKS nodes.
AKS_PRIMARY: dict[str, Any] = {
    "cniVersion": "0.3.0",
    "name": "azure",
    "plugins": [
        {
            "type": "azure-vnet",
            "mode": "transparent",
            "ipsToRouteViaHost": ["169.254.20.10"],
            "executionMode": "v4swift",
            "ipam": {"mode": "v4overlay", "type": "azure-cns"},
            "dns": {},
            "runtimeConfig": {"dns": {}},
            "windowsSettings": {},
        },
        {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
    ],
}


def _say(text: str) -> None:
    print(f"\n>>> {text}", flush=True)


def write_in_place(path: Path, data: bytes) -> None:
    """Rewrite ``path`` in place (truncate, write, close), as a careless writer does (Azure CNS
    is seen to; the old installer did): the one way the demo, the tests and the benchmarks do
    it."""
    with open(path, "wb") as handle:
        handle.write(data)


async def _until(queue: asyncio.Queue[Transition], trigger: Trigger) -> Transition:
    while True:
        record = await asyncio.wait_for(queue.get(), timeout=30)
        if record.trigger == trigger:
            return record


async def play(net_dir: Path) -> int:
    agent = Agent(Settings(net_dir=net_dir))
    queue: asyncio.Queue[Transition] = asyncio.Queue()
    agent.machine.listeners.append(queue.put_nowait)
    task = asyncio.create_task(agent.run(), name="chainfsm-agent")
    await asyncio.wait_for(agent.ready.wait(), timeout=30)
    primary = net_dir / "10-azure.conflist"
    full = (json.dumps(AKS_PRIMARY, indent=2) + "\n").encode()
    output = net_dir / agent.settings.output

    _say(f"chainfsm watches {net_dir}; Azure CNS now creates {primary.name}, still empty")
    primary.touch()
    await _until(queue, Trigger.PRIMARY_INVALID)
    _say(f"CNS writes the first half of {primary.name}")
    write_in_place(primary, full[: len(full) // 2])
    await _until(queue, Trigger.PRIMARY_INVALID)
    _say(f"CNS finishes {primary.name}")
    write_in_place(primary, full)
    await _until(queue, Trigger.OUTPUT_VERIFIED)
    _say(f"{output.name}, which the runtime loads first:")
    print(output.read_text(), end="", flush=True)

    _say(f"CNS replaces {primary.name} (atomic rename) with a new DNS address")
    updated = copy.deepcopy(AKS_PRIMARY)
    updated["plugins"][0]["ipsToRouteViaHost"] = ["169.254.20.11"]
    staged = net_dir / "10-azure.conflist.tmp"
    staged.write_text(json.dumps(updated, indent=2) + "\n")
    staged.replace(primary)
    await _until(queue, Trigger.OUTPUT_VERIFIED)
    chained = json.loads(output.read_text())
    _say(
        f"{output.name} now routes {chained['plugins'][0]['ipsToRouteViaHost']} and ends with"
        f" {chained['plugins'][-1]}"
    )
    agent.request_stop()
    code = await task
    ok = code == 0 and agent.state is State.Verified
    _say("done: every step was a defined transition; no broken file ever sat under our name")
    return 0 if ok else 1


def main(log_format: str = "text") -> int:
    logs.configure(log_format, sys.stdout)
    with tempfile.TemporaryDirectory(prefix="chainfsm-demo-") as temp:
        return asyncio.run(play(Path(temp)))
