"""Output a script can trust: with ``--json`` (and always for ``dump``) stdout is exactly one
JSON document, a failure of any kind included (the error as an object with its exit code), and
``chainfsm status`` says the running agent's state, since when and why in one line. Every
command runs as a real process."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chainfsm.cli import commands, dump_command, json_output
from chainfsm.core import times
from chainfsm.core.states import State
from tests.support.agent_process import agent_process
from tests.support.constants import AZURE, HANG_GUARD, OUTPUT
from tests.support.primaries import primary_bytes


def _environment(**extra: str) -> dict[str, str]:
    """The caller's environment without any CHAINFSM_* variable, plus ``extra``."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith("CHAINFSM_")}
    return {**kept, **extra}


def _run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "chainfsm", *argv],
        capture_output=True,
        env=env or _environment(),
        timeout=HANG_GUARD,
        check=False,
    )


def _one_document(done: subprocess.CompletedProcess[bytes]) -> Any:
    """stdout as exactly one JSON document (json.loads refuses anything before or after it)."""
    return json.loads(done.stdout)


def _dir_with(tmp_path: Path, name: str, data: bytes) -> Path:
    net_dir = tmp_path / "net.d"
    net_dir.mkdir()
    (net_dir / name).write_bytes(data)
    return net_dir


#: (argv from a tmp_path, exit code): every way each command with machine output can fail.
Case = Callable[[Path], list[str]]
FAILURES: list[tuple[str, Case, int]] = [
    ("explain: no such dir", lambda t: ["explain", "--json", "--net-dir", str(t / "no")], 1),
    ("explain: not a dir", lambda t: ["explain", "--json", "--net-dir", sys.executable], 1),
    ("explain: an empty --net-dir", lambda t: ["explain", "--json", "--net-dir", ""], 2),
    ("explain: an unknown flag", lambda t: ["explain", "--json", "--bogus"], 2),
    ("explain: a bad --plugin", lambda t: ["explain", "--json", "--plugin", "{"], 2),
    (
        "explain: an abbreviated --json",
        lambda t: ["explain", "--js", "--net-dir", str(t / "no")],
        1,
    ),
    ("render: no such dir", lambda t: ["render", "--json", "--net-dir", str(t / "no")], 1),
    ("render: no primary", lambda t: ["render", "--json", "--net-dir", str(t)], 1),
    (
        "render: an invalid primary",
        lambda t: ["render", "--json", "--net-dir", str(_dir_with(t, AZURE, b""))],
        1,
    ),
    ("render: a bad --output", lambda t: ["render", "--json", "--output", "x.conf"], 2),
    ("validate: no files", lambda t: ["validate", "--json"], 2),
    ("dump: no pid file", lambda t: ["dump", "--dump-file", str(t / "dump.json")], 1),
    ("dump: a bad --pid", lambda t: ["dump", "--pid", "one"], 2),
    ("dump: a bad --timeout", lambda t: ["dump", "--timeout", "0"], 2),
    ("status: no agent", lambda t: ["status", "--json", "--dump-file", str(t / "d.json")], 1),
    ("status: a bad --pid", lambda t: ["status", "--json", "--pid", "-1"], 2),
    ("diagram: png is not text", lambda t: ["diagram", "--json", "--format", "png"], 2),
    (
        "diagram: an unwritable --output",
        lambda t: ["diagram", "--json", "--output", str(t / "no" / "x.mmd")],
        1,
    ),
    ("no command", lambda t: ["--json"], 2),
]


@pytest.mark.parametrize(
    ("argv", "code"), [(a, c) for _, a, c in FAILURES], ids=[i for i, *_ in FAILURES]
)
def test_every_failure_with_machine_output_is_one_json_error_object(
    tmp_path: Path, argv: Case, code: int
) -> None:
    words = argv(tmp_path)
    done = _run(*words)
    assert done.returncode == code, done.stderr
    doc = _one_document(done)
    assert doc["exit_code"] == code
    assert doc["command"] == json_output.command_of(words)
    # The person watching gets the same one line on stderr as without --json.
    err = done.stderr.decode()
    assert err.count("\n") == 1
    assert doc["error"] in err


def test_validate_json_says_each_file_s_verdict_and_exits_1_when_any_is_invalid(
    tmp_path: Path,
) -> None:
    good = tmp_path / AZURE
    good.write_bytes(primary_bytes())
    empty = tmp_path / OUTPUT
    empty.write_bytes(b"")
    done = _run("validate", "--json", str(good), str(empty), str(tmp_path / "missing.conflist"))
    assert done.returncode == 1
    doc = _one_document(done)
    assert doc["valid"] is False
    assert [(f["file"], f["valid"], f["rule"]) for f in doc["files"]] == [
        (str(good), True, None),
        (str(empty), False, "empty"),
        (str(tmp_path / "missing.conflist"), False, "unreadable"),
    ]
    assert _one_document(_run("validate", "--json", str(good)))["valid"] is True


def test_render_json_holds_the_config_and_the_missing_binaries(tmp_path: Path) -> None:
    net_dir = _dir_with(tmp_path, AZURE, primary_bytes())
    plain = _run("render", "--net-dir", str(net_dir))
    done = _run("render", "--json", "--net-dir", str(net_dir))
    assert (plain.returncode, done.returncode) == (0, 0)
    doc = _one_document(done)
    assert (doc["primary"], doc["output"], doc["missing_binaries"]) == (AZURE, OUTPUT, [])
    assert doc["config"] == json.loads(plain.stdout)
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    missing = _run("render", "--json", "--net-dir", str(net_dir), "--bin-dir", str(empty_bin))
    assert missing.returncode == 1
    doc = _one_document(missing)
    assert doc["config"] == json.loads(plain.stdout)
    assert len(doc["missing_binaries"]) == 3  # azure-vnet, portmap, antrea


def test_diagram_json_holds_the_text_or_names_the_file(tmp_path: Path) -> None:
    plain = _run("diagram")
    done = _run("diagram", "--json")
    assert (plain.returncode, done.returncode) == (0, 0)
    assert _one_document(done) == {"format": "mermaid", "diagram": plain.stdout.decode()}
    written = tmp_path / "d.mmd"
    to_file = _run("diagram", "--json", "--output", str(written))
    assert _one_document(to_file) == {"format": "mermaid", "output": str(written)}
    assert written.read_bytes() == plain.stdout


def test_every_command_that_prints_takes_json_or_says_its_output_option() -> None:
    """The one output option: --json wherever a command's output is data; the agent and the
    demo print log lines, whose option is --log-format."""
    parser = commands.build_parser()
    for name, command in parser.commands.items():
        flags = {flag for action in command._actions for flag in action.option_strings}
        assert ("--json" in flags) != (name in ("run", "demo")), name
        if name in ("run", "demo"):
            assert "--log-format" in flags


@pytest.mark.parametrize(
    ("argv", "environ", "expected"),
    [
        (["chainfsm", "run"], {}, dump_command.DEFAULT_FILE),
        (["chainfsm", "run"], {"CHAINFSM_DUMP_FILE": "/a/d.json"}, Path("/a/d.json")),
        (
            ["chainfsm", "run", "--dump-file", "/b/d.json"],
            {"CHAINFSM_DUMP_FILE": "/a"},
            Path("/b/d.json"),
        ),
        (["python3", "-m", "chainfsm", "run", "--dump-file=/c/d.json"], {}, Path("/c/d.json")),
        (["chainfsm", "run", "--dump-file", "/b", "--dump-file", "/d"], {}, Path("/d")),
        (["chainfsm", "run"], {"CHAINFSM_DUMP_FILE": ""}, dump_command.DEFAULT_FILE),
    ],
)
def test_the_dump_file_of_an_agent_is_read_as_its_settings_resolve_it(
    argv: list[str], environ: dict[str, str], expected: Path
) -> None:
    assert dump_command.dump_file_of(argv, environ) == expected


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (0.25, "250ms"),
        (42.9, "42s"),
        (192, "3m12s"),
        (3600 * 2 + 300, "2h05m"),
        (86400 * 3 + 3600 * 4, "3d04h"),
    ],
)
def test_durations_read_as_a_person_says_them(seconds: float, said: str) -> None:
    assert times.duration(seconds) == said  # what status and /readyz say


async def _command(env: dict[str, str], *argv: str) -> tuple[int, bytes, bytes]:
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "chainfsm", *argv),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), HANG_GUARD)
    assert proc.returncode is not None
    return proc.returncode, out, err


async def test_status_says_state_since_and_why_in_one_line_and_exits_0_only_when_verified(
    net_dir: Path,
) -> None:
    async with agent_process(net_dir) as agent:
        code, out, err = await _command(agent.env, "status")
        assert (code, err) == (1, b"")
        line = out.decode()
        assert line.count("\n") == 1
        assert line.startswith(f"{State.WaitingPrimary.value} since ")
        assert "(for " in line
        assert line.rstrip().endswith("no primary config in " + str(net_dir) + " yet")

        (net_dir / AZURE).write_bytes(primary_bytes())
        await agent.line("transition", dest=State.Verified.value)
        code, out, err = await _command(agent.env, "status", "--json")
        assert (code, err) == (0, b"")
        doc = json.loads(out)
        assert (doc["state"], doc["verified"], doc["pid"]) == ("Verified", True, agent.proc.pid)
        assert doc["situation"].startswith(f"{OUTPUT} written")
        code, out, _ = await _command(agent.env, "status")
        assert code == 0
        said = out.decode()
        # The same state, since and why as the JSON (the duration grew in between).
        assert said.startswith(f"Verified since {doc['since']} (for ")
        assert said.endswith(f"): {doc['situation']}\n")


async def test_dump_with_the_diagram_is_one_json_document(net_dir: Path) -> None:
    async with agent_process(net_dir) as agent:
        code, out, _ = await _command(agent.env, "dump", "--diagram")
        assert code == 0
        doc = json.loads(out)
        assert doc["state"] == State.WaitingPrimary.value
        assert "class WaitingPrimary s_active" in doc["diagram"]


async def test_dump_by_pid_alone_finds_the_dump_file_the_agent_runs_with(net_dir: Path) -> None:
    """The hint of a missing pid file says to give the agent's --pid: that must then work,
    whatever --dump-file the agent runs with."""
    async with agent_process(net_dir) as agent:
        mine = _environment()  # no CHAINFSM_DUMP_FILE: the default, /run/chainfsm/dump.json
        code, out, err = await _command(
            mine, "dump", "--pid", str(agent.proc.pid), "--timeout", "5"
        )
        assert (code, err) == (0, b"")
        assert json.loads(out)["pid"] == agent.proc.pid
        code, out, _ = await _command(mine, "status", "--pid", str(agent.proc.pid))
        assert code == 1
        assert out.startswith(b"WaitingPrimary since ")
        # Without the pid, the hint says what works.
        code, out, err = await _command(mine, "dump", "--dump-file", str(net_dir / "x.json"))
        assert code == 1
        hint = json.loads(out)["error"]
        assert "Pass --pid otherwise" not in hint
        assert "Give the agent's --dump-file (or CHAINFSM_DUMP_FILE), or its --pid" in hint
        assert "kubectl exec POD -c chainfsm --" in hint
