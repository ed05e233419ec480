"""The benchmark script runs and prints its table (a smoke run; no timing is asserted here)."""

from __future__ import annotations

import subprocess
import sys

from tests.support.constants import ROOT

SCRIPT = ROOT / "benchmarks" / "run.py"


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
