"""``chainfsm run`` as a real process: exit codes, signals, log lines, and the demo."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.constants import AZURE, HANG_GUARD, OUTPUT
from tests.support.primaries import golden, primary_bytes

TRANSITION_FIELDS = {
    "time",
    "level",
    "event",
    "trigger",
    "source",
    "dest",
    "reason",
    "primary",
    "output",
    "attempt",
    "ms_in_source",
}


async def start(*args: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chainfsm",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )


async def finish(proc: asyncio.subprocess.Process) -> tuple[int, list[dict[str, Any]], str]:
    """Exit code, the JSON log lines, and stdout."""
    async with asyncio.timeout(HANG_GUARD):
        out, err = await proc.communicate()
    lines = [json.loads(line) for line in err.decode().splitlines() if line.startswith("{")]
    assert proc.returncode is not None
    return proc.returncode, lines, out.decode()


async def read_until_event(
    proc: asyncio.subprocess.Process, event: str, **fields: str
) -> list[dict[str, Any]]:
    """JSON log lines from a running agent up to the first ``event`` with these fields."""
    assert proc.stderr is not None
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(HANG_GUARD):
        while True:
            raw = await proc.stderr.readline()
            assert raw, f"the agent exited before {event} {fields}: {seen}"
            seen.append(json.loads(raw))
            line = seen[-1]
            if line.get("event") == event and all(line.get(k) == v for k, v in fields.items()):
                return seen


async def read_until(proc: asyncio.subprocess.Process, trigger: str) -> list[dict[str, Any]]:
    """JSON log lines from a running agent up to the first transition with ``trigger``."""
    return await read_until_event(proc, "transition", trigger=trigger)


async def test_once_exits_0_when_verified_and_every_transition_line_is_complete(
    net_dir: Path,
) -> None:
    (net_dir / AZURE).write_bytes(primary_bytes())
    code, lines, _ = await finish(await start("run", "--once", "--net-dir", str(net_dir)))
    assert code == 0
    assert (net_dir / OUTPUT).read_bytes() == golden()
    transitions = [line for line in lines if line["event"] == "transition"]
    assert [t["trigger"] for t in transitions] == [
        "primary_found",
        "primary_valid",
        "output_verified",
    ]
    for line in transitions:
        assert set(line) == TRANSITION_FIELDS
        assert line["output"] == OUTPUT
    assert transitions[-1]["primary"] == AZURE


async def test_once_reads_every_setting_from_the_environment(net_dir: Path) -> None:
    (net_dir / "20-other.conflist").write_bytes(primary_bytes("flannel.10-flannel.conflist"))
    (net_dir / AZURE).write_bytes(primary_bytes())
    env = {
        "CHAINFSM_NET_DIR": str(net_dir),
        "CHAINFSM_OUTPUT": "01-istio.conflist",
        "CHAINFSM_PLUGIN": '{"type": "istio-cni", "log_level": "info"}',
        "CHAINFSM_PRIMARY": "20-*",
        "CHAINFSM_ONCE": "true",
    }
    code, _, _ = await finish(await start("run", env=env))
    assert code == 0
    chained = json.loads((net_dir / "01-istio.conflist").read_bytes())
    assert chained["name"] == "cbr0"
    assert chained["plugins"][-1] == {"type": "istio-cni", "log_level": "info"}


async def test_once_exits_1_when_the_timeout_passes_without_a_primary(net_dir: Path) -> None:
    proc = await start("run", "--once", "--timeout", "0.2", "--net-dir", str(net_dir))
    code, lines, _ = await finish(proc)
    assert code == 1
    assert lines[-1]["event"] == "timeout"
    assert lines[-1]["reason"] == (
        f"not Verified after 0.2 s (still WaitingPrimary: no primary config in {net_dir} yet)"
    )


async def test_once_exits_1_with_the_rule_when_the_budget_is_spent(net_dir: Path) -> None:
    (net_dir / AZURE).write_bytes(b'{"name": "azure", "plugins": []}')
    args = ("run", "--once", "--retry-attempts", "2", "--backoff-initial", "0.001")
    code, lines, _ = await finish(await start(*args, "--net-dir", str(net_dir)))
    assert code == 1
    assert lines[-1]["trigger"] == "budget_spent"
    assert '10-azure.conflist: "plugins" is empty' in lines[-1]["reason"]
    assert not (net_dir / OUTPUT).exists()


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["run", "--plugin", "[1]"], {}),
        (["run", "--plugin", '{"type": "../../bin/sh"}'], {}),
        (["run", "--output", "05-antrea.conf"], {}),
        (["run"], {"CHAINFSM_TIMEOUT": "soon"}),
        (["run"], {"CHAINFSM_ONCE": "maybe"}),
        (["run", "--no-such-flag"], {}),
        (["validate"], {}),
    ],
)
async def test_usage_errors_exit_2_with_one_line_saying_why(
    args: list[str], env: dict[str, str]
) -> None:
    proc = await start(*args, env=env)
    async with asyncio.timeout(HANG_GUARD):
        _, err = await proc.communicate()
    assert proc.returncode == 2
    (line,) = err.decode().splitlines()
    assert line.startswith(f"chainfsm {args[0]}: ")


async def test_sidecar_stops_on_sigterm_with_exit_0_and_keeps_the_chain(net_dir: Path) -> None:
    (net_dir / AZURE).write_bytes(primary_bytes())
    proc = await start("run", "--net-dir", str(net_dir))
    await read_until(proc, "output_verified")
    proc.send_signal(signal.SIGTERM)
    code, _, _ = await finish(proc)
    assert code == 0
    assert (net_dir / OUTPUT).read_bytes() == golden()


async def test_sidecar_removes_the_chain_on_sigterm_when_asked(net_dir: Path) -> None:
    (net_dir / AZURE).write_bytes(primary_bytes())
    proc = await start("run", "--cleanup-on-exit", "--net-dir", str(net_dir))
    await read_until(proc, "output_verified")
    proc.send_signal(signal.SIGINT)
    code, lines, _ = await finish(proc)
    assert code == 0
    assert not (net_dir / OUTPUT).exists()
    assert lines[-1]["event"] == "withdrawn"


async def test_text_log_format_names_the_transition_and_its_reason(net_dir: Path) -> None:
    (net_dir / AZURE).write_bytes(primary_bytes())
    proc = await start("run", "--once", "--log-format", "text", "--net-dir", str(net_dir))
    async with asyncio.timeout(HANG_GUARD):
        _, err = await proc.communicate()
    last = err.decode().splitlines()[-1]
    assert "transition Writing -> Verified trigger=output_verified" in last
    assert last.endswith("is first and runs [azure-vnet, portmap, antrea]")


async def test_demo_plays_the_race_and_prints_the_chained_file() -> None:
    code, _, out = await finish(await start("demo"))
    assert code == 0
    assert "Validating -> Validating trigger=primary_invalid" in out
    assert "is truncated JSON" in out
    assert '"type": "antrea"' in out
    assert "169.254.20.11" in out


async def test_once_stopped_before_verified_exits_1_so_no_init_container_passes_unchained(
    net_dir: Path,
) -> None:
    proc = await start("run", "--once", "--net-dir", str(net_dir))
    await read_until_event(proc, "started")
    proc.send_signal(signal.SIGTERM)
    code, lines, _ = await finish(proc)
    assert code == 1
    assert lines[-1]["event"] == "exit"
    assert "stopped in WaitingPrimary before Verified" in lines[-1]["reason"]
