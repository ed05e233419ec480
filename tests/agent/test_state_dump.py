"""The SIGUSR1 state dump: complete, consistent, and harmless however often it is asked for."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

from chainfsm.agent.agent import Agent
from chainfsm.cli import dump_command
from chainfsm.cli.demo import write_in_place
from chainfsm.core.states import Transition
from chainfsm.edge import writing
from chainfsm.process import lifecycle, state_dump
from chainfsm.settings import Settings
from tests.support.constants import AZURE, HANG_GUARD, OUTPUT
from tests.support.guarded_agent import record, until
from tests.support.primaries import primary_bytes


def _settings(tmp_path: Path, **kw: Any) -> Settings:
    net_dir = tmp_path / "net.d"
    net_dir.mkdir()
    return Settings(net_dir=net_dir, dump_file=tmp_path / "run" / "dump.json", **kw)


async def _dump(settings: Settings) -> dict[str, Any]:
    """Signal ourselves (the agent runs in this process) and read the dump it writes."""
    data = await dump_command.request(
        lambda: os.kill(os.getpid(), signal.SIGUSR1), settings.dump_file, HANG_GUARD
    )
    doc: dict[str, Any] = json.loads(data)
    return doc


def _expected(t: Transition) -> dict[str, Any]:
    return {"trigger": t.trigger, "source": t.source, "dest": t.dest, "reason": t.reason}


async def test_the_dump_after_real_transitions_holds_every_field(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(tmp_path, history=7)
    agent = Agent(settings)
    seen = record(agent)
    task = asyncio.create_task(lifecycle.serve(settings, agent))
    await asyncio.wait_for(agent.ready.wait(), HANG_GUARD)
    primary = settings.net_dir / AZURE
    write_in_place(primary, b"")
    await until(seen, trigger="primary_invalid")
    write_in_place(primary, primary_bytes())
    await until(seen, "Verified")
    with caplog.at_level(logging.INFO, logger="chainfsm"):
        doc = await _dump(settings)
    agent.request_stop()
    assert await asyncio.wait_for(task, HANG_GUARD) == 0

    output = (settings.net_dir / settings.output).read_bytes()
    assert doc["state"] == "Verified"
    assert doc["state_since"].startswith("20")
    assert doc["seconds_in_state"] >= 0
    assert doc["primary"] == {
        "file": AZURE,
        "sha256": hashlib.sha256(primary_bytes()).hexdigest(),
        "valid": True,
        "verdict": "valid: network 'azure', plugins [azure-vnet, portmap]",
    }
    assert doc["output"]["file"] == OUTPUT
    assert doc["output"]["sha256"] == hashlib.sha256(output).hexdigest()
    assert doc["output"]["valid"] is True
    assert doc["verified_output_sha256"] == doc["output"]["sha256"]
    assert doc["chained_from"] == {
        "file": AZURE,
        "sha256": hashlib.sha256(primary_bytes()).hexdigest(),
    }
    assert doc["last_error"] is None
    assert doc["counters"] == {
        "attempt": agent.status().attempt,
        "retries": agent.status().retries,
        "failures": 0,
        "writes": 1,
    }
    assert doc["counters"]["retries"] >= 1  # the empty primary was retried
    history = doc["history"]
    assert history["capacity"] == 7
    assert [
        {k: t[k] for k in ("trigger", "source", "dest", "reason")} for t in history["transitions"]
    ] == [_expected(t) for t in list(agent.status().history)[-len(history["transitions"]) :]]
    assert all(t["time"].startswith("20") for t in history["transitions"])
    assert history["transitions"][-1]["dest"] == "Verified"
    assert doc["settings"]["net_dir"] == str(settings.net_dir)
    assert doc["settings"]["history"] == 7
    assert doc["settings"]["plugin"] == {"type": "antrea"}
    assert doc["version"]
    assert doc["uptime_seconds"] >= 0
    assert doc["pid"] == os.getpid()
    assert doc["watch_armed"] is True
    # The same snapshot, as one log line.
    lines = [r for r in caplog.records if r.msg == "dump"]
    assert lines
    assert lines[-1].fields["snapshot"]["state"] == "Verified"  # type: ignore[attr-defined]
    # The pid file is there while the agent runs and gone after.
    assert not state_dump.pid_file(settings.dump_file).exists()


async def test_a_storm_of_signals_under_load_loses_no_transition(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    agent = Agent(settings)
    seen = record(agent)
    everything: list[Transition] = []
    agent.machine.listeners.append(everything.append)
    task = asyncio.create_task(lifecycle.serve(settings, agent))
    await asyncio.wait_for(agent.ready.wait(), HANG_GUARD)
    stop_storm = asyncio.Event()

    async def storm() -> int:
        sent = 0
        while not stop_storm.is_set():
            os.kill(os.getpid(), signal.SIGUSR1)
            sent += 1
            await asyncio.sleep(0)  # let the agent and the dump task run between signals
        return sent

    storming = asyncio.create_task(storm())
    primary = settings.net_dir / AZURE
    for round_ in range(30):
        write_in_place(primary, b"")
        await until(seen, trigger="primary_invalid")
        write_in_place(
            primary, primary_bytes().replace(b"169.254.20.10", f"10.9.9.{round_}".encode())
        )
        await until(seen, "Verified")
    stop_storm.set()
    assert await storming > 100

    # Dumps racing the storm may be older; each must still be an unbroken run of transitions.
    async with asyncio.timeout(HANG_GUARD):
        while True:
            doc = await _dump(settings)
            got = [
                {k: t[k] for k in ("trigger", "source", "dest", "reason")}
                for t in doc["history"]["transitions"]
            ]
            wanted = [_expected(t) for t in everything]
            assert any(got == wanted[i - len(got) : i] for i in range(len(got), len(wanted) + 1))
            if got == wanted[-len(got) :]:
                break
    agent.request_stop()
    assert await asyncio.wait_for(task, HANG_GUARD) == 0
    assert agent.state.value == "Verified"
    assert len(everything) > 100
    assert len(got) == 100  # the ring kept the newest 100
    assert doc["counters"]["writes"] == 30


async def test_a_dump_comes_out_while_an_fsync_of_the_conf_dir_hangs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stuck disk under the conf dir is when a dump is wanted most: the chain's write hangs
    in the directory's fsync (held here until released), and the dump, a write elsewhere,
    still comes out and shows the agent in Writing."""
    settings = _settings(tmp_path)
    agent = Agent(settings)
    seen = record(agent)
    reached, release = threading.Event(), threading.Event()
    real_fsync_dir = writing._fsync_dir

    def hung_fsync_dir(path: Path) -> None:
        if path == settings.net_dir:
            reached.set()
            release.wait(HANG_GUARD)
        real_fsync_dir(path)

    monkeypatch.setattr(writing, "_fsync_dir", hung_fsync_dir)
    task = asyncio.create_task(lifecycle.serve(settings, agent))
    try:
        await asyncio.wait_for(agent.ready.wait(), HANG_GUARD)
        write_in_place(settings.net_dir / AZURE, primary_bytes())
        assert await asyncio.to_thread(reached.wait, HANG_GUARD)
        doc = await _dump(settings)
        assert doc["state"] == "Writing"
        assert not release.is_set()  # the conf dir's write was still held when the dump came
    finally:
        release.set()
    await until(seen, "Verified")
    agent.request_stop()
    assert await asyncio.wait_for(task, HANG_GUARD) == 0


async def test_an_unwritable_dump_dir_is_logged_and_the_agent_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    settings = Settings(net_dir=tmp_path, dump_file=blocker / "dump.json")
    agent = Agent(settings)
    dumper = state_dump.Dumper(agent.status, settings.dump_file)
    with caplog.at_level(logging.INFO, logger="chainfsm"):
        await dumper.dump_once()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [w.fields["reason"] for w in warnings] == ["not written: File exists"]  # type: ignore[attr-defined]
    # The snapshot was still taken and said, once: the line comes before the write.
    taken = [r for r in caplog.records if r.getMessage() == "dump" and "snapshot" in r.fields]  # type: ignore[attr-defined]
    assert len(taken) == 1


def test_dump_command_without_an_agent_says_so_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from chainfsm.cli import commands

    dump_file = tmp_path / "dump.json"
    assert commands.main(["dump", "--dump-file", str(dump_file)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"chainfsm: no dump: cannot read {dump_file}.pid (No such file")
    assert err.count("\n") == 1


def test_the_dump_s_verdict_on_a_file_says_absence_as_validate_does() -> None:
    assert state_dump.verdict_fields(OUTPUT, None) == {
        "file": OUTPUT,
        "sha256": None,
        "valid": None,
        "verdict": "does not exist",
    }
    assert state_dump.verdict_fields(None, None)["verdict"] == "no such file"
    empty = state_dump.verdict_fields(OUTPUT, b"")
    assert (empty["valid"], empty["verdict"], empty["rule"]) == (
        False,
        "is empty (0 bytes)",
        "empty",
    )


async def test_a_pid_file_the_dumper_cannot_write_is_left_alone_and_nothing_crashes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Something else holds the pid file's name (root ignores modes, so a directory stands in
    # for another agent's file we may not overwrite): it must survive our exit, said in a line.
    settings = _settings(tmp_path)
    held = state_dump.pid_file(settings.dump_file)
    held.mkdir(parents=True)
    (held / "theirs").write_text("1\n")
    agent = Agent(settings)
    with caplog.at_level(logging.INFO, logger="chainfsm"):
        task = asyncio.create_task(lifecycle.serve(settings, agent))
        await asyncio.wait_for(agent.ready.wait(), HANG_GUARD)
        doc = await _dump(settings)  # the dumper is past its start, in its loop
        agent.request_stop()
        await asyncio.wait_for(task, HANG_GUARD)
    assert doc["state"] == "WaitingPrimary"
    assert (held / "theirs").read_text() == "1\n"
    said = [r.fields for r in caplog.records if r.msg == "dump" and "reason" in r.fields]  # type: ignore[attr-defined]
    assert [f["reason"] for f in said] == [
        "no pid file (Is a directory); chainfsm dump needs --pid"
    ]
    assert not [r for r in caplog.records if r.msg == "crashed"]


async def test_an_agent_leaving_removes_the_pid_file_only_while_it_names_the_agent(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path)
    settings.dump_file.parent.mkdir()  # as the manifests mount it: a dump asked at once
    agent = Agent(settings)
    task = asyncio.create_task(lifecycle.serve(settings, agent))
    await asyncio.wait_for(agent.ready.wait(), HANG_GUARD)
    await _dump(settings)  # served: the pid file is ours by now
    held = state_dump.pid_file(settings.dump_file)
    assert held.read_text().split()[0] == str(os.getpid())
    held.write_text("4242 17\n")  # since taken by another agent
    agent.request_stop()
    await asyncio.wait_for(task, HANG_GUARD)
    assert held.read_text() == "4242 17\n"


@pytest.mark.parametrize("command", ["dump", "status"])
def test_the_pod_hint_without_an_agent_names_the_command_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    from chainfsm.cli import commands

    assert commands.main([command, "--dump-file", str(tmp_path / "dump.json")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"chainfsm: no {command}: cannot read")
    assert err.endswith(f"(kubectl exec POD -c chainfsm -- chainfsm {command})\n")
