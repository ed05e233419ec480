"""Chaining: the primary's network with our plugin appended, byte-for-byte against goldens."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chainfsm.core import chaining, validation
from chainfsm.core.validation import NetworkList, Refusal, Rule
from tests.support import primaries
from tests.support.constants import OUTPUT


def _valid(name: str, doc: dict[str, Any]) -> NetworkList:
    verdict = validation.validate(name, json.dumps(doc).encode())
    assert isinstance(verdict, NetworkList), str(verdict)
    return verdict


def _render_doc(primary: NetworkList, plugin: dict[str, Any] | None = None) -> dict[str, Any]:
    """The chain with no --rewrite edits: what is kept of the primary, as it is."""
    plugin = plugin or dict(chaining.DEFAULT_PLUGIN)
    rendered = chaining.render(primary, plugin, OUTPUT, rewrites=())
    assert isinstance(rendered, bytes), str(rendered)
    doc: dict[str, Any] = json.loads(rendered)
    return doc


@pytest.mark.parametrize("fixture", primaries.ALL, ids=primaries.fixture_id)
def test_rendering_each_primary_with_the_default_plugin_gives_the_golden_bytes(
    fixture: Path,
) -> None:
    primaries.check_golden(primaries.golden_path(fixture), primaries.render(fixture))


@pytest.mark.parametrize("ident", primaries.ISTIO_FIXTURES)
def test_rendering_a_primary_with_the_istio_plugin_gives_the_golden_bytes(ident: str) -> None:
    fixture = primaries.fixture(ident)
    primaries.check_golden(
        primaries.golden_path(fixture, primaries.ISTIO_PLUGIN),
        primaries.render(fixture, primaries.ISTIO_PLUGIN),
    )


@pytest.mark.parametrize("fixture", primaries.ALL, ids=primaries.fixture_id)
def test_every_golden_is_itself_a_valid_conflist_ending_in_our_plugin(fixture: Path) -> None:
    verdict = validation.validate(OUTPUT, primaries.golden_path(fixture).read_bytes())
    assert isinstance(verdict, NetworkList), str(verdict)
    assert verdict.plugins[-1] == dict(chaining.DEFAULT_PLUGIN)
    primary_plugins = primaries.primary(fixture).plugins
    assert (
        list(verdict.plugins[:-1])
        == chaining.rewrite(primary_plugins, chaining.DEFAULT_REWRITES)[0]
    )


def test_chaining_a_list_keeps_every_top_level_key_in_order_including_eks_disable_check() -> None:
    eks = primaries.primary(primaries.fixture("eks"))
    doc = _render_doc(eks)
    assert list(doc) == list(eks.document)
    assert doc["disableCheck"] is True
    assert doc["name"] == "aws-cni"
    assert doc["cniVersion"] == "0.4.0"


@pytest.mark.parametrize("fixture", primaries.ALL, ids=primaries.fixture_id)
def test_chaining_keeps_every_primary_plugin_with_all_its_keys_in_their_order(
    fixture: Path,
) -> None:
    primary = primaries.primary(fixture)
    doc = _render_doc(primary)
    kept = doc["plugins"][: len(primary.plugins)]
    assert [list(p.items()) for p in kept] == [list(p.items()) for p in primary.plugins]
    assert len(doc["plugins"]) == len(primary.plugins) + 1


def test_a_single_plugin_conf_becomes_a_one_element_list_keeping_its_cni_version_and_keys() -> None:
    single = primaries.primary(primaries.fixture("single-plugin"))
    doc = _render_doc(single)
    assert list(doc) == ["cniVersion", "name", "plugins"]
    assert doc["cniVersion"] == "0.4.0"
    assert doc["name"] == "mynet"
    assert list(doc["plugins"][0].items()) == list(single.document.items())
    assert doc["plugins"][1:] == [{"type": "antrea"}]


def test_a_single_plugin_conf_without_cni_version_gets_none_forced_on_its_chain() -> None:
    single = _valid("10-b.json", {"name": "n", "type": "bridge", "bridge": "b0"})
    doc = _render_doc(single)
    assert "cniVersion" not in doc
    assert doc["plugins"] == [{"name": "n", "type": "bridge", "bridge": "b0"}, {"type": "antrea"}]


def test_a_list_without_cni_version_gets_none_forced_on_its_chain() -> None:
    doc = _render_doc(_valid("10-a.conflist", {"name": "n", "plugins": [{"type": "ptp"}]}))
    assert list(doc) == ["name", "plugins"]


def test_a_nameless_single_plugin_conf_is_refused_for_chaining_by_name_rule() -> None:
    nameless = _valid("10-b.conf", {"cniVersion": "1.0.0", "type": "bridge"})
    refusal = chaining.render(nameless, chaining.DEFAULT_PLUGIN, OUTPUT)
    assert isinstance(refusal, Refusal)
    assert refusal.rule is Rule.NAME
    assert refusal.file == "10-b.conf"
    assert str(refusal).startswith("10-b.conf: ")


@pytest.mark.parametrize(
    ("plugins", "expected"),
    [
        ([{"type": "a"}, {"type": "antrea", "old": 1}], ["a", "antrea"]),
        ([{"type": "a"}, {"type": "antrea", "old": 1}, {"type": "b"}], ["a", "b", "antrea"]),
        ([{"type": "antrea"}, {"type": "a"}, {"type": "antrea"}], ["a", "antrea"]),
    ],
    ids=["at-the-end", "in-the-middle", "twice"],
)
def test_an_existing_entry_of_our_type_is_replaced_by_ours_at_the_end_never_duplicated(
    plugins: list[dict[str, Any]], expected: list[str]
) -> None:
    ours = {"type": "antrea", "new": True}
    doc = _render_doc(_valid("10-a.conflist", {"name": "n", "plugins": plugins}), ours)
    assert [p["type"] for p in doc["plugins"]] == expected
    assert doc["plugins"][-1] == ours


def test_our_plugin_keeps_all_its_keys_in_order() -> None:
    doc = _render_doc(primaries.primary(primaries.fixture("flannel")), dict(primaries.ISTIO_PLUGIN))
    assert list(doc["plugins"][-1].items()) == list(primaries.ISTIO_PLUGIN.items())


@pytest.mark.parametrize("fixture", primaries.ALL, ids=primaries.fixture_id)
def test_rendering_is_deterministic_across_calls_and_reparsed_primaries(fixture: Path) -> None:
    first = primaries.render(fixture)
    again = primaries.render(fixture)
    reparsed = validation.validate(OUTPUT, first)
    assert isinstance(reparsed, NetworkList)
    assert first == again
    # Chaining our own output again changes nothing: our entry is replaced, not appended.
    assert chaining.render(reparsed, chaining.DEFAULT_PLUGIN, OUTPUT) == first


@pytest.mark.parametrize("fixture", primaries.ALL, ids=primaries.fixture_id)
def test_every_rendered_output_validates_as_a_conflist(fixture: Path) -> None:
    verdict = validation.validate("00-any-name.conflist", primaries.render(fixture))
    assert isinstance(verdict, NetworkList)
    assert not verdict.single


def test_a_lone_surrogate_escape_is_refused_and_render_refuses_rather_than_raise_on_one() -> None:
    data = b'{"name":"n","plugins":[{"type":"a","note":"\\ud800x"}]}'
    refusal = validation.validate("10-a.conflist", data)
    assert isinstance(refusal, Refusal)
    assert refusal.rule is Rule.NOT_UTF8
    # A caller that skipped validation still gets a refusal, never an exception.
    plugin = {"type": "a\ud800"}
    document = {"name": "n", "plugins": [plugin]}
    unchecked = NetworkList("10-a.conflist", "n", None, (plugin,), document, False)
    rendered = chaining.render(unchecked, chaining.DEFAULT_PLUGIN, OUTPUT)
    assert isinstance(rendered, Refusal)
    assert rendered.rule is Rule.NOT_UTF8


def test_chained_plugins_lists_the_primary_plugins_then_ours() -> None:
    primary = primaries.primary(primaries.fixture("gke"))
    assert [p["type"] for p in chaining.chained_plugins(primary, {"type": "x"})] == [
        "ptp",
        "portmap",
        "x",
    ]


def test_parse_plugin_accepts_a_json_object_with_a_plain_type() -> None:
    assert chaining.parse_plugin('{"type":"bandwidth","ingressRate":1}') == {
        "type": "bandwidth",
        "ingressRate": 1,
    }


@pytest.mark.parametrize(
    "text",
    ["", "not json", "[]", '{"type":""}', "{}", '{"type":"../bin/sh"}', '{"type":7}', "{\udcff}"],
)
def test_parse_plugin_refuses_anything_but_an_object_with_a_plain_type_in_one_line(
    text: str,
) -> None:
    reason = chaining.parse_plugin(text)
    assert isinstance(reason, str)
    assert reason.startswith("--plugin: ")
    assert "\n" not in reason
