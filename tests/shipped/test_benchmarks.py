"""The benchmark script runs and prints its table (a smoke run; no timing is asserted here)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.constants import ROOT

SCRIPT = ROOT / "benchmarks" / "run.py"


# slow: a quick run of every benchmark, agents and all (about 12 s)
@pytest.mark.slow
def test_quick_benchmark_prints_machine_table_and_command() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("machine: ")
    assert "| metric | figure | target | met |" in lines
    for metric in (
        "reaction latency, p99",
        "confirms our chain",
        "start to Verified",
        "churn:",
        "scale:",
        "idle",
    ):
        assert any(metric in line for line in lines), metric
    assert lines[-1] == "command: python benchmarks/run.py --quick"


def test_measure_agent_finds_the_checkout_s_chainfsm_without_it_on_path() -> None:
    """Run as the docs say (scripts/measure-agent, the system python3 by its #!), with no venv
    on PATH: it finds the checkout's chainfsm by itself (a smoke run: no figure asserted)."""
    script = ROOT / "scripts" / "measure-agent"
    result = subprocess.run(
        [str(script), "2"],
        capture_output=True,
        text=True,
        timeout=300,
        # The test's own dump file (conftest): not the machine's /run/chainfsm.
        env={
            "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "CHAINFSM_DUMP_FILE": os.environ["CHAINFSM_DUMP_FILE"],
        },
        check=False,
    )
    assert result.returncode == 0, result.stderr
    first, *rest = result.stdout.splitlines()
    assert first.startswith("chainfsm: ")
    assert first.endswith("/chainfsm")
    assert "rounds: 2 primary replacements (every 10th preceded by an empty primary)" in rest
