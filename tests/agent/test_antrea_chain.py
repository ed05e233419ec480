"""With default settings, the chain is what Antrea's own install-cni means for every AKS primary
shape: the primary's list with {"type":"antrea"} appended and azure-vnet's bridge mode made
transparent. The oracle is Antrea's step as read from its script (the facts in
tests/testdata/antrea/antrea-aks.facts.json), applied to the primaries' real bytes; chainfsm
does the same edit on JSON, so it also holds where Antrea's exact-text edit would miss."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from chainfsm.cli import commands
from chainfsm.core import chaining
from chainfsm.core.states import Trigger
from tests.support.antrea_standin import STEP, antrea_step
from tests.support.constants import PRIMARIES_DIR
from tests.support.guarded_agent import running

AKS_PRIMARIES = sorted(PRIMARIES_DIR.glob("aks-*.conflist"))
OUTPUT = STEP["output"]


def render(net_dir: Path, *flags: str) -> dict[str, Any]:
    """`chainfsm render` with the shipped defaults (plus ``flags``), parsed."""
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw)  # render writes the exact bytes to stdout's buffer
    with contextlib.redirect_stdout(out):
        assert commands.main(["render", "--net-dir", str(net_dir), *flags]) == 0
    out.flush()
    parsed: dict[str, Any] = json.loads(raw.getvalue())
    return parsed


def test_every_aks_shape_is_covered() -> None:
    names = {p.name.split(".")[0] for p in AKS_PRIMARIES}
    assert {"aks-overlay", "aks-legacy-bridge", "aks-dualstack-overlay", "aks-dynamic-ip"} <= names


@pytest.mark.parametrize("fixture", AKS_PRIMARIES, ids=lambda p: p.name.split(".")[0])
def test_the_default_chain_is_antrea_s_for_every_aks_primary(fixture: Path, tmp_path: Path) -> None:
    shutil.copy(fixture, tmp_path / "10-azure.conflist")
    assert render(tmp_path) == antrea_step(fixture.read_bytes())


def test_bridge_mode_becomes_transparent_only_in_the_chain(tmp_path: Path) -> None:
    fixture = PRIMARIES_DIR / "aks-legacy-bridge.10-azure.conflist"
    shutil.copy(fixture, tmp_path / "10-azure.conflist")
    chained = render(tmp_path)
    assert chained["plugins"][0]["mode"] == "transparent"
    assert chained["plugins"][0]["bridge"] == "azure0", "every other key is kept"
    assert (tmp_path / "10-azure.conflist").read_bytes() == fixture.read_bytes()


def test_the_edit_is_structural_where_antrea_s_text_edit_misses(tmp_path: Path) -> None:
    """ "mode" last among the keys, or spaced: Antrea's exact-text edit needs "mode":"bridge",
    (with the comma); its intent, transparent mode, is applied all the same."""
    primary = {
        "cniVersion": "0.3.0",
        "name": "azure",
        "plugins": [{"type": "azure-vnet", "bridge": "azure0", "mode": "bridge"}],
    }
    (tmp_path / "10-azure.conflist").write_text(json.dumps(primary, indent=4))
    assert render(tmp_path)["plugins"][0]["mode"] == "transparent"


def test_rewrite_can_be_turned_off_or_pointed_elsewhere(tmp_path: Path) -> None:
    shutil.copy(
        PRIMARIES_DIR / "aks-legacy-bridge.10-azure.conflist",
        tmp_path / "10-azure.conflist",
    )
    assert render(tmp_path, "--rewrite", "[]")["plugins"][0]["mode"] == "bridge"
    # Only Antrea wants transparent mode: another chained plugin leaves the node's mode alone.
    assert render(tmp_path, "--plugin", '{"type":"cilium-cni"}')["plugins"][0]["mode"] == "bridge"
    other = '[{"type":"portmap","key":"snat","from":true,"to":false}]'
    chained = render(tmp_path, "--rewrite", other)
    assert chained["plugins"][0]["mode"] == "bridge"
    assert chained["plugins"][1]["snat"] is False


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{", "--rewrite is not JSON: "),
        ('{"type":"x"}', "--rewrite must be a JSON list"),
        ('[{"type":"x","key":"mode","from":1}]', "--rewrite item 1 must be an object with exactly"),
        ('[{"type":"","key":"mode","from":1,"to":2}]', '--rewrite item 1: "type" and "key"'),
        ('[{"type":"x","key":"type","from":"x","to":"y"}]', "--rewrite item 1: a rewrite may not"),
        ('[{"type":"x","key":"mode","from":"a","to":"\\ud800"}]', "--rewrite holds a lone"),
    ],
)
def test_a_bad_rewrite_is_one_line_saying_why(text: str, reason: str) -> None:
    parsed = chaining.parse_rewrites(text)
    assert isinstance(parsed, str)
    assert parsed.startswith(reason)
    assert "\n" not in parsed


async def test_the_rewrite_is_logged_when_applied(tmp_path: Path) -> None:
    shutil.copy(
        PRIMARIES_DIR / "aks-legacy-bridge.10-azure.conflist",
        tmp_path / "10-azure.conflist",
    )
    async with running(tmp_path) as run:
        valid = await run.until(Trigger.PRIMARY_VALID)
        assert valid.reason == (
            "10-azure.conflist is valid; in the chain, azure-vnet 'mode': \"bridge\" ->"
            ' "transparent" (--rewrite)'
        )
        await run.until(Trigger.OUTPUT_VERIFIED)
        written = json.loads((tmp_path / OUTPUT).read_bytes())
        assert written == antrea_step((tmp_path / "10-azure.conflist").read_bytes())
