"""Which modules a ``chainfsm`` process imports: the tests that hold an option's client
(the CRI's, the Kubernetes API's) out of every start-up that does not ask for it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.constants import HANG_GUARD


def imported(*args: str, cwd: Path) -> set[str]:
    """Every module a ``chainfsm`` process imported (``-X importtime`` names each one)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "chainfsm", *args],
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        cwd=cwd,  # not the checkout: -m would import from the cwd first
        check=False,
    )
    return {
        line.split("|")[-1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }
