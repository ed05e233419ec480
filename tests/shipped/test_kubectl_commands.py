"""The kubectl commands the docs and manifests give an operator work as written: in the
Antrea pod, ``kubectl exec`` without ``-c`` lands in antrea-agent (the pod's default
container), which has no chainfsm."""

from __future__ import annotations

import re

from tests.support.constants import DEPLOY, ROOT

SOURCES = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    *sorted(DEPLOY.rglob("*.yaml")),
    *sorted((ROOT / "chainfsm").rglob("*.py")),
]


def _exec_commands() -> list[tuple[str, str]]:
    found = []
    for path in SOURCES:
        for line in path.read_text().splitlines():
            if re.search(r"\bkubectl\b.*\bexec\b.*--\s+chainfsm\b", line):
                found.append((str(path.relative_to(ROOT)), line.strip()))
    return found


def test_every_kubectl_exec_of_chainfsm_names_its_container() -> None:
    commands = _exec_commands()
    assert len(commands) >= 5, "the pattern must find the runbook's commands"
    wrong = [(where, line) for where, line in commands if not re.search(r"\s-c\s+chainfsm\s", line)]
    assert wrong == []
