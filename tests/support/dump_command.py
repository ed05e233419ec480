"""``chainfsm dump`` of a running agent process, as the tests read it."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from tests.support.agent_process import AgentProcess
from tests.support.constants import HANG_GUARD


def dump(agent: AgentProcess) -> dict[str, Any]:
    """The agent's dump, through the command an operator runs (it finds the agent by the
    environment the agent was started with)."""
    done = subprocess.run(
        [sys.executable, "-m", "chainfsm", "dump"],
        env=agent.env,
        capture_output=True,
        check=True,
        timeout=HANG_GUARD,
    )
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc
