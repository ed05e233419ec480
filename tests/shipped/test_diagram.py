"""The diagrams come from the table the agent runs, and the committed ones are current."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chainfsm.cli import commands, diagram
from chainfsm.core import states
from chainfsm.core.states import State
from tests.support.constants import ROOT

COMMITTED = ROOT / "diagrams" / "chainfsm.mmd"


def test_committed_mermaid_is_what_the_code_draws_now() -> None:
    # Regenerate with: chainfsm diagram --output diagrams/chainfsm.mmd
    assert COMMITTED.read_text() == diagram.mermaid(), "diagrams/chainfsm.mmd is stale"


def test_the_docs_embed_the_committed_mermaid_and_no_stale_copy() -> None:
    # Wherever the diagram is shown (docs/design.md today), every copy is the committed one.
    shown = [
        (page.relative_to(ROOT), block)
        for page in [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted(ROOT.glob("docs/*.md"))]
        for block in re.findall(r"^```mermaid\n(.*?)^```", page.read_text(), re.M | re.S)
        if "title: chainfsm" in block
    ]
    assert shown, "no doc shows the state diagram"
    stale = [str(page) for page, block in shown if block != COMMITTED.read_text()]
    assert stale == [], f"stale diagram in {stale}"


def _edges(text: str) -> dict[tuple[str, str], set[str]]:
    edges: dict[tuple[str, str], set[str]] = {}
    for src, dst, labels in re.findall(r"^\s*(\w+) --> (\w+): (.+)$", text, re.M):
        edges[(src, dst)] = set(labels.split(" | "))
    return edges


def test_every_transition_of_the_table_is_an_edge_labelled_by_trigger_and_guard() -> None:
    edges = _edges(diagram.mermaid())
    for row in states.TRANSITIONS:
        sources = row["source"] if isinstance(row["source"], list) else [row["source"]]
        label = str(row["trigger"])
        if "conditions" in row:
            label += f" [{row['conditions']}]"
        for source in sources:
            assert label in edges[(source.value, row["dest"].value)]


def test_the_current_state_alone_is_highlighted() -> None:
    text = diagram.mermaid(State.Writing)
    active = re.findall(r"^\s*class (\w+) s_active$", text, re.M)
    assert active == ["Writing"]
    assert re.findall(r"s_active$", diagram.mermaid(), re.M) == []


def test_diagram_command_writes_mermaid(tmp_path: Path) -> None:
    out = tmp_path / "m.mmd"
    assert commands.main(["diagram", "--output", str(out)]) == 0
    assert out.read_text() == diagram.mermaid()


def test_dot_source_has_every_state_when_graphviz_is_installed() -> None:
    pytest.importorskip("graphviz", reason="the diagrams extra is not installed")
    source = diagram.dot_source(State.Failed)
    for state in State:
        assert re.search(rf"^\s*{state.value} \[", source, re.M)
    assert re.search(r"^\s*Failed \[.*fillcolor=darksalmon", source, re.M)
