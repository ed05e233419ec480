"""``chainfsm explain --cri-socket``'s part on pods: the sandboxes the record on the host proves
were networked without the chain.

It reads the record the agent keeps (``--record-file``) and asks the runtime for its sandboxes;
it proves nothing new (only a running agent watches the runtime's config over time): a sandbox
the record has no proof for is ``unknown``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chainfsm.core import sandbox_verdicts, times
from chainfsm.core.chain_record import Record
from chainfsm.core.sandbox_verdicts import Verdicts
from chainfsm.edge import cri, record_file
from chainfsm.process import sandbox_watch


@dataclass(frozen=True, slots=True)
class Pods:
    record_file: Path
    record: Record | None
    verdicts: Verdicts | None
    #: Why the record was not kept or the runtime could not be asked (None: all went well).
    trouble: str | None

    def as_json(self) -> dict[str, Any]:
        verdicts = self.verdicts
        return {
            "record_file": str(self.record_file),
            "observed_since": _when(self.record.observed_since if self.record else None),
            "unchained_sandboxes": (
                [sandbox_watch.sandbox_fields(s) for s in verdicts.unchained] if verdicts else None
            ),
            "counts": (
                {
                    "unchained": len(verdicts.unchained),
                    "chained": verdicts.chained,
                    "unknown": verdicts.unknown,
                }
                if verdicts
                else None
            ),
            "trouble": self.trouble,
        }


def _when(stamp: float | None) -> str | None:
    return None if stamp is None else times.iso(stamp)


async def _look(socket: Path, path: Path) -> Pods:
    try:
        record, why = await record_file.load(path, record_file.boot_id())
    except record_file.RecordError as err:
        return Pods(path, None, None, str(err))
    try:
        async with cri.CriClient(socket) as client:
            seen = await sandbox_watch.look(client, {})
    except cri.CriError as err:
        return Pods(path, record, None, str(err))
    _, verdicts = sandbox_verdicts.classify(record, seen, None)
    return Pods(path, record, verdicts, None if why is None else f"record {path}: {why}")


def look(socket: Path, path: Path) -> Pods:
    return asyncio.run(_look(socket, path))


def text(pods: Pods) -> str:
    """The lines ``explain`` prints after its own verdict."""
    lines = [f"pods networked without the chain (record {pods.record_file}):"]
    if pods.trouble is not None:
        lines.append(f"  {pods.trouble}")
    verdicts = pods.verdicts
    if verdicts is None:
        return "\n".join(lines) + "\n"
    if pods.record is None or pods.record.observed_since is None:
        lines.append("  no agent has watched the runtime on this boot: nothing is proven")
    else:
        lines.append(f"  watched since {_when(pods.record.observed_since)} (this boot)")
    for sandbox in verdicts.unchained:
        lines.append(
            f"  unchained  {sandbox.pod}  created {times.iso(sandbox.created)}"
            f"  sandbox {sandbox.id}"
        )
    lines.append(
        f"  {len(verdicts.unchained)} unchained, {verdicts.chained} chained,"
        f" {verdicts.unknown} unknown (set up when nothing proves either)"
    )
    if verdicts.unchained:
        lines.append(
            "  each runs without the chained plugin until its sandbox is recreated:"
            " delete the pod, or crictl stopp SANDBOX, or run the agent with"
            " --repair-unchained stop (docs/operations.md, ChainfsmUnchainedSandboxes)"
        )
    return "\n".join(lines) + "\n"
