"""Crash consistency from the real system calls: the agent run under strace, its log audited.

A rename that is not preceded by an fsync of the renamed file, or not followed by an fsync of
the dir, can leave an empty or old file after a power cut (ext4, xfs): the seed's symptom.
Neither shows in a test that only looks at the files, so these tests read what the agent asked
the kernel, in order (``tests/support/syscall_log.py`` holds the rules and their own tests).
Every file the agent puts into the conf dir, every unlink of its output there: start-up
cleanup, a first chain, a re-chain after the primary changed, a withdrawal when the primary
went, and the removal on the way out.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import gate, syscall_log
from tests.support.agent_process import AgentProcess, agent_process
from tests.support.constants import AZURE, HANG_GUARD, OUTPUT, ROOT
from tests.support.guarded_agent import write_by_rename
from tests.support.primaries import golden, primary_bytes

#: A second primary under the same name: the re-chain must put its own golden chain in place.
OTHER = "aks-dynamic-ip.10-azure.conflist"


@pytest.fixture(autouse=True)
def _strace() -> None:
    gate.require_strace()


def audited(trace: Path, net_dir: Path) -> syscall_log.Audit:
    """The audit of the agent's trace, with no breach of the rules."""
    found = syscall_log.audit(trace.read_text(), str(net_dir), OUTPUT)
    breaches = list(syscall_log.breaches_text(found))
    assert breaches == [], "\n".join(breaches)
    return found


def placed(found: syscall_log.Audit) -> list[bytes]:
    """What each rename into the dir put there; every one of them onto our output."""
    assert {p.target for p in found.placements} <= {OUTPUT}
    return [p.data for p in found.placements]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_once_clears_what_a_crash_left_and_puts_the_chain_in_place_durably(
    net_dir: Path, tmp_path: Path
) -> None:
    (net_dir / AZURE).write_bytes(primary_bytes())
    (net_dir / OUTPUT).write_bytes(b"")  # the incident's empty file, removed at start
    leftover = f".{OUTPUT}.0123456789ab.chainfsm.tmp"
    (net_dir / leftover).write_bytes(b'{"cniVer')  # a temp file cut by a crash
    trace = tmp_path / "strace.log"
    command = [*syscall_log.strace_wrapper(str(trace)), sys.executable, "-m", "chainfsm"]
    done = subprocess.run(
        [*command, "run", "--once", "--net-dir", str(net_dir)],
        capture_output=True,
        timeout=HANG_GUARD,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    found = audited(trace, net_dir)
    assert [r.name for r in found.removals] == [leftover, OUTPUT]
    assert placed(found) == [golden()]
    assert found.removals[-1].line < found.placements[0].line
    assert (net_dir / OUTPUT).read_bytes() == golden()


async def rechained(agent: AgentProcess, net_dir: Path) -> tuple[str, str]:
    """The sha256 of the first chain, and of the chain of a second primary put in its place."""
    first = await agent.line("written")
    seen = len(agent.lines)
    write_by_rename(net_dir / AZURE, primary_bytes(OTHER))
    second = await agent.line("written", after=seen)
    return first["sha256"], second["sha256"]


async def test_a_sidecar_rechains_and_withdraws_durably(net_dir: Path, tmp_path: Path) -> None:
    (net_dir / AZURE).write_bytes(primary_bytes())
    trace = tmp_path / "strace.log"
    wrapper = syscall_log.strace_wrapper(str(trace))
    async with agent_process(net_dir, "--net-dir", str(net_dir), wrapper=wrapper) as agent:
        shas = await rechained(agent, net_dir)
        seen = len(agent.lines)
        (net_dir / AZURE).unlink()
        lost = await agent.line("transition", after=seen, trigger="primary_lost")
        assert f"withdrew {OUTPUT}" in lost["reason"]
    assert agent.proc.returncode == 0
    found = audited(trace, net_dir)
    assert placed(found) == [golden(), golden(OTHER)]
    assert [sha(data) for data in placed(found)] == list(shas)
    assert [r.name for r in found.removals] == [OUTPUT]
    assert found.placements[-1].line < found.removals[0].line
    assert not (net_dir / OUTPUT).exists()


async def test_cleanup_on_exit_removes_the_chain_durably(net_dir: Path, tmp_path: Path) -> None:
    (net_dir / AZURE).write_bytes(primary_bytes())
    trace = tmp_path / "strace.log"
    wrapper = syscall_log.strace_wrapper(str(trace))
    args = ("--net-dir", str(net_dir), "--cleanup-on-exit")
    async with agent_process(net_dir, *args, wrapper=wrapper) as agent:
        await agent.line("transition", trigger="output_verified")
    await agent.line("withdrawn")
    assert agent.proc.returncode == 0
    found = audited(trace, net_dir)
    assert placed(found) == [golden()]
    assert [r.name for r in found.removals] == [OUTPUT]
    assert not (net_dir / OUTPUT).exists()


def test_the_commands_in_the_docs_record_and_audit_a_run(net_dir: Path, tmp_path: Path) -> None:
    # docs/reliability.md: strace with the audit's --args, then the audit on the log.
    def module(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "tests.support.syscall_log", *args]
        return subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=HANG_GUARD, check=False
        )

    (net_dir / AZURE).write_bytes(primary_bytes())
    trace = tmp_path / "strace.log"
    strace_args = module("--args").stdout.split()
    agent = [sys.executable, "-m", "chainfsm", "run", "--once", "--net-dir", str(net_dir)]
    done = subprocess.run(
        ["strace", *strace_args, "-o", str(trace), *agent],
        capture_output=True,
        timeout=HANG_GUARD,
        check=False,
    )
    assert done.returncode == 0
    said = module(str(trace), str(net_dir))
    assert said.returncode == 0, said.stdout
    (line,) = said.stdout.splitlines()
    assert f"put {OUTPUT} in place from .{OUTPUT}." in line
    assert line.endswith(f"({len(golden())} bytes)")
    # A log with a rename that nothing synced: one line naming the rule, exit 1.
    temp = net_dir / f".{OUTPUT}.0123456789ab.chainfsm.tmp"
    broken = tmp_path / "broken.log"
    broken.write_text(
        f'1 openat(AT_FDCWD</>, "{temp}", O_WRONLY|O_CREAT|O_EXCL, 0644) = 3<{temp}>\n'
        f'1 rename("{temp}", "{net_dir / OUTPUT}") = 0\n'
    )
    said = module(str(broken), str(net_dir))
    assert said.returncode == 1
    assert [line.split(": ")[1] for line in said.stdout.splitlines()[1:]] == [
        "TEMP_NOT_SYNCED",
        "DIR_NOT_SYNCED_AFTER_RENAME",
    ]
