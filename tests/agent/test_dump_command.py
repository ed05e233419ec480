"""``chainfsm dump`` signals only a chainfsm agent: a stale pid file naming another process
(the agent gone, its number handed on) leaves that process alone, in one line and exit 1."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from chainfsm.cli import commands
from chainfsm.edge import pids
from chainfsm.process import state_dump
from tests.support.agent_process import agent_process
from tests.support.constants import HANG_GUARD
from tests.support.primaries import primary_bytes

#: A bystander: SIGUSR1's default action would kill it. It answers each line on stdin, so a
#: reply after the dump command returned proves no signal reached it (a pending signal is
#: delivered before its read returns).
ECHO = "import sys\nfor line in sys.stdin:\n    print(line.strip(), flush=True)\n"


@pytest.mark.parametrize(
    ("argv", "agent"),
    [
        (["/opt/venv/bin/python3", "/opt/venv/bin/chainfsm", "run"], True),
        (["/usr/local/bin/chainfsm", "run", "--once"], True),
        (["/usr/bin/python3", "-m", "chainfsm", "run", "--listen", "127.0.0.1:9808"], True),
        (["/usr/local/bin/chainfsm", "dump"], False),
        (["/usr/bin/python3", "-m", "chainfsm", "explain"], False),
        (["sleep", "1000"], False),
        (["/usr/bin/python3", "-c", "pass", "chainfsm", "run"], False),
        (["/bin/sh", "-c", "chainfsm run"], False),
        ([], False),
    ],
)
def test_only_chainfsm_run_is_an_agent(argv: list[str], agent: bool) -> None:
    assert pids.is_agent(argv) is agent


def test_start_time_names_this_process() -> None:
    mine = pids.start_time(os.getpid())
    assert mine is not None
    assert mine == pids.start_time(os.getpid())
    # A wrong field of /proc/PID/stat would read 0 or a size, not ticks that grow with time.
    init = pids.start_time(1)
    assert init is not None
    assert 0 <= init <= mine
    assert mine > 0
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        later = pids.start_time(child.pid)
    finally:
        child.communicate(b"")
    assert later is not None
    assert later >= mine
    assert pids.start_time(2**22 + 1) is None  # above pid_max: no such process


@pytest.fixture
def bystander() -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", ECHO, "chainfsm", "run"],  # looks like an agent to a grep
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    yield proc
    proc.kill()
    proc.wait(HANG_GUARD)


def _still_alive(proc: subprocess.Popen[str]) -> bool:
    assert proc.stdin is not None
    assert proc.stdout is not None
    proc.stdin.write("ping\n")
    proc.stdin.flush()
    return proc.stdout.readline() == "ping\n"


def _dump(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = commands.main(["dump", "--timeout", "2", *args])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("with_start_time", [False, True])
def test_a_stale_pid_file_naming_another_process_leaves_it_alive(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    bystander: subprocess.Popen[str],
    with_start_time: bool,
) -> None:
    dump_file = tmp_path / "dump.json"
    started = f" {pids.start_time(bystander.pid)}" if with_start_time else ""
    state_dump.pid_file(dump_file).write_text(f"{bystander.pid}{started}\n")
    code, err = _dump(capsys, "--dump-file", str(dump_file))
    assert code == 1
    assert err.count("\n") == 1
    assert err.startswith(f"chainfsm: no dump: process {bystander.pid} (from {dump_file}.pid)")
    assert "not a chainfsm agent; not signalling it" in err
    assert _still_alive(bystander)


def test_an_explicit_pid_of_another_process_is_refused_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bystander: subprocess.Popen[str]
) -> None:
    code, err = _dump(capsys, "--dump-file", str(tmp_path / "d.json"), "--pid", str(bystander.pid))
    assert code == 1
    assert f"process {bystander.pid} (from --pid)" in err
    assert _still_alive(bystander)


def test_a_pid_file_of_a_gone_process_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(HANG_GUARD)
    dump_file = tmp_path / "dump.json"
    state_dump.pid_file(dump_file).write_text(f"{gone.pid}\n")
    code, err = _dump(capsys, "--dump-file", str(dump_file))
    assert (code, err) == (
        1,
        f"chainfsm: no dump: no process {gone.pid} (from {dump_file}.pid): the agent is not"
        " running\n",
    )


async def test_a_later_agent_under_the_same_pid_is_not_the_one_the_file_names(
    net_dir: Path,
) -> None:
    """The start time in the pid file tells the agent that wrote it from any other process
    holding that number later, a chainfsm agent included."""
    async with agent_process(net_dir) as agent:
        dump_file = Path(agent.env["CHAINFSM_DUMP_FILE"])
        (net_dir / "10-azure.conflist").write_bytes(primary_bytes())

        async def dump(*args: str) -> tuple[int | None, bytes, bytes]:
            proc = await asyncio.create_subprocess_exec(
                *(sys.executable, "-m", "chainfsm", "dump", *args),
                env=agent.env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await asyncio.wait_for(proc.communicate(), HANG_GUARD)
            return proc.returncode, out, err

        # By --pid: the command line is checked (it is chainfsm run), there is no start time.
        code, out, _ = await dump("--pid", str(agent.proc.pid))
        assert code == 0
        assert json.loads(out)["pid"] == agent.proc.pid
        # A dump served means the pid file is written (the dump task writes it first).
        pid, started = state_dump.pid_file(dump_file).read_text().split()
        assert int(pid) == agent.proc.pid
        assert int(started) == pids.start_time(agent.proc.pid)
        code, out, _ = await dump()
        assert code == 0
        assert json.loads(out)["pid"] == agent.proc.pid

        state_dump.pid_file(dump_file).write_text(f"{pid} {int(started) + 1}\n")
        code, out, err = await dump()
        assert code == 1
        assert json.loads(out)["error"] in err.decode()  # stdout stays one JSON document
        assert err.decode().endswith(
            "started after that pid file was written: the file is stale; not signalling it\n"
        )
        assert await agent.stop() == 0
