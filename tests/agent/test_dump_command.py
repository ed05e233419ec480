"""``chainfsm dump`` signals only a chainfsm agent: a stale pid file naming another process
(the agent gone, its number handed on) leaves that process alone, in one line and exit 1."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import asyncinotify
import pytest
from asyncinotify import Mask

from chainfsm.cli import commands
from chainfsm.edge import pids
from chainfsm.process import lifecycle, state_dump
from chainfsm.settings import Settings
from tests.support.agent_process import AgentProcess, agent_env, agent_process
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


# -- only an agent that runs owns the pid file --------------------------------------------------


async def _dumped_pid(env: dict[str, str], *args: str) -> int:
    """The pid in a dump that ``chainfsm dump`` got with ``env`` (the agent's settings)."""
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "chainfsm", "dump", *args),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), HANG_GUARD)
    assert proc.returncode == 0, err.decode()
    pid: int = json.loads(out)["pid"]
    return pid


@contextlib.asynccontextmanager
async def _second(net_dir: Path, *args: str) -> AsyncIterator[AgentProcess]:
    """Another agent on the same dump file (its conf dir beside the first's), until it has
    ended or has decided about the pid file (it is up); stopped on the way out."""
    env = agent_env(net_dir)
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "chainfsm", "run", "--log-format", "json", *args),
        env=env,
        stderr=asyncio.subprocess.PIPE,
    )
    second = AgentProcess(proc, env)
    try:
        ended = asyncio.ensure_future(proc.wait())
        decided = asyncio.ensure_future(_pid_file_line(second, env))
        await asyncio.wait([ended, decided], return_when=asyncio.FIRST_COMPLETED)
        decided.cancel()
        yield second
    finally:
        await second.stop()


async def _pid_file_line(agent: AgentProcess, env: dict[str, str]) -> None:
    """Until ``agent`` logs what it did about the pid file (or exits without a word)."""
    with contextlib.suppress(AssertionError):
        await agent.line("dump", file=f"{env['CHAINFSM_DUMP_FILE']}.pid")


@contextlib.asynccontextmanager
async def _names_written(folder: Path) -> AsyncIterator[Callable[[], Awaitable[list[str]]]]:
    """Every name created, written or renamed into ``folder`` from now on; the callable
    returns them once every event before the call is read."""
    inotify = asyncinotify.Inotify()
    inotify.add_watch(folder, Mask.CREATE | Mask.CLOSE_WRITE | Mask.MOVED_TO | Mask.ONLYDIR)
    seen: list[str] = []

    async def names() -> list[str]:
        barrier = folder / ".barrier"
        barrier.touch()
        async with asyncio.timeout(HANG_GUARD):
            async for event in inotify:
                if event.name is not None and str(event.name) == barrier.name:
                    return seen
                if event.name is not None:
                    seen.append(str(event.name))
        raise AssertionError("the inotify ended")

    with inotify:
        yield names


async def test_a_second_agent_that_fails_to_start_leaves_the_pid_file_to_the_first(
    tmp_path: Path,
) -> None:
    """It wrote its own pid there and died: `chainfsm dump` then named a dead process while the
    first agent ran. An agent that fails to start writes nothing there at all, not even for a
    moment. (A busy --listen port no longer stops an agent, issue 19 item 4: its conf dir
    missing does.)"""
    first_dir, second_dir = tmp_path / "net.d", tmp_path / "net2.d"
    first_dir.mkdir()
    async with agent_process(first_dir, "--listen", "127.0.0.1:0") as first:
        # A dump served by --pid means the first agent is up and has its pid file.
        assert await _dumped_pid(first.env, "--pid", str(first.proc.pid)) == first.proc.pid
        dump_file = Path(first.env["CHAINFSM_DUMP_FILE"])
        async with (
            _names_written(dump_file.parent) as written,
            _second(second_dir, "--listen", "127.0.0.1:0") as second,
        ):
            assert await asyncio.wait_for(second.proc.wait(), HANG_GUARD) == 1
            assert (await second.line("exit"))["reason"].startswith(f"cannot watch {second_dir}")
            assert [n for n in await written() if n.startswith(".") or ".pid" in n] == []
            assert await _dumped_pid(first.env) == first.proc.pid


async def test_an_agent_that_fails_to_start_never_writes_a_pid_file(tmp_path: Path) -> None:
    """Not even for the moment between its start and its failure: the file would name a
    process about to die, and one killed then would leave it so."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    settings = Settings(
        net_dir=tmp_path / "missing",  # fails to start (a busy port no longer does)
        listen="127.0.0.1:0",
        dump_file=run_dir / "dump.json",
    )
    async with _names_written(run_dir) as written:
        assert await lifecycle.serve(settings) == 1
        assert await written() == []


async def test_a_second_agent_that_runs_leaves_the_pid_file_to_the_first(
    tmp_path: Path,
) -> None:
    first_dir, second_dir = tmp_path / "net.d", tmp_path / "net2.d"
    first_dir.mkdir()
    second_dir.mkdir()
    async with agent_process(first_dir) as first:
        assert await _dumped_pid(first.env, "--pid", str(first.proc.pid)) == first.proc.pid
        async with _second(second_dir) as second:
            said = await second.line("dump")
            assert said["reason"] == (
                f"left to the agent it names, which runs (pid {first.proc.pid}); chainfsm dump"
                f" reaches this one with --pid {second.proc.pid}"
            )
            assert await _dumped_pid(first.env) == first.proc.pid
            assert await second.stop() == 0
        # Leaving, the second removed nothing: the file is not its own.
        assert await _dumped_pid(first.env) == first.proc.pid
        dump_file = Path(first.env["CHAINFSM_DUMP_FILE"])
        assert await first.stop() == 0
    assert not state_dump.pid_file(dump_file).exists()
