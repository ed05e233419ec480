"""What an operator reads must read right: the agent's lines in text format, its last line on
SIGTERM, ``explain``'s verdict, and ``--listen :PORT`` as Go tools take it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chainfsm import settings
from chainfsm.cli import commands
from tests.support.agent_process import agent_process
from tests.support.constants import AZURE, HANG_GUARD, OUTPUT
from tests.support.loopback_http import http_get
from tests.support.primaries import primary_bytes


def _chainfsm(*argv: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CHAINFSM_")}
    return subprocess.run(
        [sys.executable, "-m", "chainfsm", *argv],
        capture_output=True,
        text=True,
        env=clean,
        timeout=HANG_GUARD,
        check=False,
    )


def test_a_text_line_with_only_a_reason_has_no_stray_colon(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    done = _chainfsm("run", "--log-format", "text", "--net-dir", str(missing))
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line.split(" ", 1)[1].split()[:2] == ["error", "exit:"]
    assert f"exit: cannot watch {missing}" in line
    assert " : " not in line


def test_explain_names_the_file_the_runtime_loads_once(tmp_path: Path) -> None:
    (tmp_path / AZURE).write_bytes(primary_bytes())
    done = _chainfsm("explain", "--net-dir", str(tmp_path))
    assert done.returncode == 1
    verdict = done.stdout.splitlines()[-1]
    assert verdict == (
        f"verdict: the runtime loads {AZURE}, not our chain: {OUTPUT} is not in the conf dir"
    )


async def test_sigterm_in_watch_mode_ends_with_a_stopped_line(net_dir: Path) -> None:
    (net_dir / AZURE).write_bytes(primary_bytes())
    async with agent_process(net_dir) as agent:
        await agent.line("transition", dest="Verified")
        assert await agent.stop() == 0
        last = agent.lines[-1]
        assert (last["event"], last["state"], last["exit_code"]) == ("stopped", "Verified", 0)
        assert agent.stray == []


@pytest.mark.parametrize(("text", "host"), [(":9808", ""), ("127.0.0.1:9808", "127.0.0.1")])
def test_listen_takes_a_port_alone_as_every_address(text: str, host: str) -> None:
    assert settings.split_listen(text) == (host, 9808)
    assert settings.resolve("run", {"listen": text}, {})["listen"] == text


async def test_an_agent_listening_on_a_port_alone_answers_on_loopback(net_dir: Path) -> None:
    async with agent_process(net_dir, "--listen", ":0") as agent:
        await agent.line("listening")
        _, port = agent.address("/healthz /metrics /readyz")
        status, _, body = await asyncio.wait_for(http_get(port, "/healthz"), HANG_GUARD)
        assert status == 200, body


def test_diagram_help_says_dot_needs_the_diagrams_extra_as_it_does(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    shown = " ".join(_chainfsm("diagram", "--help").stdout.split())  # argparse wraps anywhere
    assert (
        "graphviz dot source (needs the diagrams extra: pip install 'chainfsm[diagrams]')" in shown
    )
    assert "svg or png (the diagrams extra and graphviz's dot program)" in shown
    # What the help says is so: without the graphviz package, dot is refused naming the extra.
    monkeypatch.setitem(sys.modules, "graphviz", None)  # find_spec then finds nothing
    assert commands.main(["diagram", "--format", "dot"]) == 1
    assert "pip install 'chainfsm[diagrams]'" in capsys.readouterr().err
