"""The sandbox passes when the runtime or the record's place fails them: one line, the chain
work goes on, the dump says why. Against a real runtime: runtime/test_unchained_sandboxes.py."""

from __future__ import annotations

import json
from pathlib import Path

from chainfsm.core.confirmation import Verdict
from chainfsm.process import sandbox_watch
from tests.support.agent_process import agent_process
from tests.support.constants import AZURE, OUTPUT
from tests.support.dump_command import dump
from tests.support.primaries import primary_bytes


def test_only_the_runtime_running_our_chain_proves_chained_and_unsaid_proves_nothing() -> None:
    assert set(sandbox_watch.PROVES) == set(Verdict)
    assert [v for v, proves in sandbox_watch.PROVES.items() if proves] == [Verdict.CONFIRMED]
    # Fail closed for repair: a verdict that could hide our chain proves no "unchained".
    for verdict in (Verdict.READY_UNSAID, Verdict.OTHER_DIR, Verdict.UNASKED):
        assert sandbox_watch.PROVES[verdict] is None


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
