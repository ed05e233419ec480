"""Tables the docs hold that tests hold the code to."""

from __future__ import annotations

import re

from tests.support.constants import ROOT


def documented_rules() -> dict[str, str]:
    """docs/design.md's validation-rules table: each rule id and its "libcni 1.1" cell."""
    design = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    section = design.split("\n## Validation rules\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        if line.startswith("| `"):
            cells = [cell.strip() for cell in line.strip("|").split(" | ")]
            for rule in re.findall(r"`([^`]+)`", cells[0]):
                rows[rule] = cells[-1]
    return rows
