"""The plan: one primary's read to the chain the agent writes, or the refusal that says why not."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from chainfsm.core import chaining, planning, validation
from chainfsm.core.validation import Refusal, Rule
from tests.support import primaries
from tests.support.constants import OUTPUT

PLUGIN = dict(chaining.DEFAULT_PLUGIN)
LEGACY = primaries.fixture("aks-legacy-bridge")  # azure-vnet in bridge mode: Antrea rewrites it


def _plan(
    name: str, data: bytes | Refusal | None, rewrites: Sequence[chaining.Rewrite] | None = None
) -> planning.Plan | Refusal:
    return planning.plan(name, data, PLUGIN, OUTPUT, rewrites)


@pytest.mark.parametrize("fixture", primaries.ALL, ids=primaries.fixture_id)
def test_the_plan_for_each_real_primary_writes_its_golden_chain(fixture: Path) -> None:
    found = _plan(primaries.conf_name(fixture), fixture.read_bytes())
    assert isinstance(found, planning.Plan), str(found)
    assert found.rendered == primaries.golden_path(fixture).read_bytes()
    assert found.primary == primaries.conf_name(fixture)
    assert found.primary_data == fixture.read_bytes()
    # What Verified checks our output against is exactly what the rendered bytes hold.
    assert list(found.expected_plugins) == json.loads(found.rendered)["plugins"]
    # The verdict made once on the rendered bytes is the runtime's verdict on them.
    assert found.judged == (found.rendered, validation.validate(OUTPUT, found.rendered))


def test_the_plan_names_the_rewrites_it_applied() -> None:
    found = _plan(primaries.conf_name(LEGACY), LEGACY.read_bytes())
    assert isinstance(found, planning.Plan), str(found)
    assert found.rewritten == ('azure-vnet \'mode\': "bridge" -> "transparent"',)
    assert found.expected_plugins[0]["mode"] == "transparent"
    untouched = _plan(primaries.conf_name(LEGACY), LEGACY.read_bytes(), rewrites=())
    assert isinstance(untouched, planning.Plan)
    assert untouched.rewritten == ()
    assert untouched.expected_plugins[0]["mode"] == "bridge"


def test_a_primary_that_is_not_there_is_refused_in_the_one_wording_for_a_missing_file() -> None:
    assert _plan("10-azure.conflist", None) == Refusal(
        "10-azure.conflist", Rule.UNREADABLE, validation.ABSENT
    )


def test_a_read_refusal_is_the_plan_s_refusal_unchanged() -> None:
    refusal = Refusal("10-azure.conflist", Rule.NOT_REGULAR, "is a directory")
    assert _plan("10-azure.conflist", refusal) is refusal


def test_an_invalid_primary_is_refused_as_validation_refuses_it() -> None:
    found = _plan("10-azure.conflist", b"")
    assert found == validation.validate("10-azure.conflist", b"")
    assert isinstance(found, Refusal)
    assert found.rule is Rule.EMPTY


def test_a_valid_primary_that_cannot_be_chained_is_refused_naming_the_primary() -> None:
    # A single plugin with no name loads, but a chained list needs one.
    found = _plan("10-net.conf", b'{"type": "bridge"}')
    assert isinstance(found, Refusal)
    assert (found.file, found.rule) == ("10-net.conf", Rule.NAME)
    assert "chained list" in found.detail
