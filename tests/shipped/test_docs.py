"""The README is a front door and the docs hold together: its first screen gives the two commands a
newcomer needs, and every relative link in README.md, CONTRIBUTING.md and docs/ lands on a file
that exists and, with an anchor, on a heading of that file."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from tests.support.constants import ROOT

README = ROOT / "README.md"
PAGES = [README, ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]


def _prose(text: str) -> str:
    """The text without fenced code blocks and inline code, where `#` and `[..](..)` are not
    headings or links."""
    text = re.sub(r"^ *(```|~~~).*?^ *\1", "", text, flags=re.M | re.S)
    return re.sub(r"`[^`\n]*`", "", text)


def anchors(page: Path) -> set[str]:
    """The anchors GitHub gives the page's headings: lower case, punctuation dropped, spaces
    made hyphens, a repeated one numbered."""
    text = re.sub(r"^ *(```|~~~).*?^ *\1", "", page.read_text(encoding="utf-8"), flags=re.M | re.S)
    seen: dict[str, int] = {}
    found: set[str] = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *#* *$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def links(page: Path) -> list[str]:
    targets = re.findall(r"\]\(([^)\s]+)\)", _prose(page.read_text(encoding="utf-8")))
    return [t for t in targets if not re.match(r"[a-z][a-z0-9+.-]*:", t)]


def test_the_readme_s_first_screen_runs_the_demo_and_the_tests() -> None:
    first = "\n".join(README.read_text(encoding="utf-8").splitlines()[:60])
    demo = "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/chainfsm demo"
    assert f"\n{demo}\n" in first
    assert "\n./scripts/test\n" in first
    assert "Linux only" in first
    assert "externally-managed-environment" in first  # why not plain `pip install .`


def test_the_readme_states_the_python_and_the_command_the_package_declares() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    floor = project["requires-python"].removeprefix(">=")
    assert f"Python {floor} or newer" in README.read_text(encoding="utf-8")
    assert "chainfsm" in project["scripts"]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_lands_on_a_file_and_a_heading(page: Path) -> None:
    broken = []
    for link in links(page):
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        if not target.exists():
            broken.append(f"{link}: no such file")
        elif anchor and anchor not in anchors(target):
            broken.append(f"{link}: no such heading")
    assert broken == []


def test_the_link_checker_sees_a_broken_link_and_a_broken_anchor(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Top\n\n## A `code` heading: here\n\n```\n# not a heading [x](gone.md)\n```\n"
        "[ok](#a-code-heading-here) [bad](#nowhere) [gone](gone.md) `[no](gone.md)`\n"
        "[web](https://example.invalid/x)\n"
    )
    assert anchors(page) == {"top", "a-code-heading-here"}
    assert links(page) == ["#a-code-heading-here", "#nowhere", "gone.md"]
