"""Validation: every rule the pure ``validate`` can produce, each with inputs that break it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chainfsm.core import validation
from chainfsm.core.validation import MAX_BYTES, MAX_DEPTH, NetworkList, Refusal, Rule
from tests.support import primaries

LIST = "10-net.conflist"
CONF = "10-net.conf"
JSON = "10-net.json"
GOOD_LIST: dict[str, Any] = {"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "bridge"}]}
GOOD_CONF: dict[str, Any] = {"cniVersion": "1.0.0", "name": "n", "type": "bridge"}


def _list(**changes: Any) -> bytes:
    return primaries.conflist(**{**GOOD_LIST, **changes})


def _without(doc: dict[str, Any], key: str) -> bytes:
    return json.dumps({k: v for k, v in doc.items() if k != key}).encode()


def _with_plugin(plugin: Any) -> bytes:
    return _list(plugins=[{"type": "bridge"}, plugin])


def _nested(kind: str, levels: int) -> str:
    """JSON text of ``levels`` nested lists or objects."""
    if kind == "list":
        return "[" * levels + "]" * levels
    return '{"a":' * (levels - 1) + "{}" + "}" * (levels - 1)


def _deep_plugin(kind: str, total_depth: int) -> bytes:
    """A valid list whose deepest value nests ``total_depth`` levels from the top object."""
    # The top object is level 1, "plugins" 2, the plugin 3, so the value starts at level 4.
    value = _nested(kind, total_depth - 3)
    return f'{{"name":"n","plugins":[{{"type":"bridge","x":{value}}}]}}'.encode()


def _padded_to(size: int) -> bytes:
    head = _list()[:-1] + b', "pad": "'
    return head + b"x" * (size - len(head) - 2) + b'"}'


# (id, file name, bytes, the rule they break)
BROKEN: list[tuple[str, str, bytes, Rule]] = [
    ("not-a-config-extension", "10-net.conflist-old", _list(), Rule.NOT_CONFIG_NAME),
    ("uppercase-extension", "10-net.CONFLIST", _list(), Rule.NOT_CONFIG_NAME),
    ("over-1-MiB", LIST, _padded_to(MAX_BYTES + 1), Rule.TOO_LARGE),
    ("invalid-utf-8", LIST, _list(name="n\udcff").replace(b"\\udcff", b"\xff"), Rule.NOT_UTF8),
    ("lone-continuation-byte", LIST, b"\x80{}", Rule.NOT_UTF8),
    ("lone-surrogate-escape", LIST, b'{"name":"n","plugins":[{"type":"a\\ud800"}]}', Rule.NOT_UTF8),
    ("lone-surrogate-key", CONF, b'{"name":"n","type":"a","\\udc00":1}', Rule.NOT_UTF8),
    ("empty", LIST, b"", Rule.EMPTY),
    ("empty-conf", CONF, b"", Rule.EMPTY),
    ("whitespace-only", LIST, b" \n\t\r\n ", Rule.EMPTY),
    ("bom", LIST, b"\xef\xbb\xbf" + _list(), Rule.NOT_JSON),
    ("trailing-garbage", LIST, _list() + b"x", Rule.NOT_JSON),
    ("two-objects", LIST, _list() + _list(), Rule.NOT_JSON),
    ("nan", LIST, _list()[:-1] + b', "x": NaN}', Rule.NOT_JSON),
    ("infinity", LIST, _list()[:-1] + b', "x": Infinity}', Rule.NOT_JSON),
    ("minus-infinity", LIST, _list()[:-1] + b', "x": -Infinity}', Rule.NOT_JSON),
    ("number-over-float64", LIST, _list()[:-1] + b', "x": 1e999}', Rule.NOT_JSON),
    ("integer-over-float64", LIST, _list()[:-1] + b', "x": 1' + b"0" * 400 + b"}", Rule.NOT_JSON),
    ("single-quotes", LIST, b"{'name': 'n'}", Rule.NOT_JSON),
    ("comment", LIST, b"// x\n" + _list(), Rule.NOT_JSON),
    ("truncated", LIST, _list()[:-1], Rule.NOT_JSON),
    ("deep-list", LIST, _deep_plugin("list", MAX_DEPTH + 1), Rule.TOO_DEEP),
    ("deep-dict", LIST, _deep_plugin("dict", MAX_DEPTH + 1), Rule.TOO_DEEP),
    ("list-100000-deep", LIST, _nested("list", 100_000).encode(), Rule.TOO_DEEP),
    ("dict-100000-deep", LIST, _nested("dict", 100_000).encode(), Rule.TOO_DEEP),
    ("null", LIST, b"null", Rule.NOT_OBJECT),
    ("array", LIST, b"[]", Rule.NOT_OBJECT),
    ("list-of-the-list", LIST, b"[" + _list() + b"]", Rule.NOT_OBJECT),
    ("string", LIST, b'"x"', Rule.NOT_OBJECT),
    ("number", CONF, b"5", Rule.NOT_OBJECT),
    ("true", JSON, b"true", Rule.NOT_OBJECT),
    ("empty-object", LIST, b"{}", Rule.NAME),
    ("missing-name", LIST, _without(GOOD_LIST, "name"), Rule.NAME),
    ("numeric-name", LIST, _list(name=5), Rule.NAME),
    ("null-name", LIST, _list(name=None), Rule.NAME),
    ("numeric-name-in-conf", CONF, primaries.conflist(**{**GOOD_CONF, "name": 5}), Rule.NAME),
    ("numeric-cni-version", LIST, _list(cniVersion=1.0), Rule.CNI_VERSION),
    ("null-cni-version", LIST, _list(cniVersion=None), Rule.CNI_VERSION),
    (
        "cni-version-in-conf",
        CONF,
        primaries.conflist(**{**GOOD_CONF, "cniVersion": 1}),
        Rule.CNI_VERSION,
    ),
    ("missing-plugins", LIST, _without(GOOD_LIST, "plugins"), Rule.PLUGINS),
    ("empty-plugins", LIST, _list(plugins=[]), Rule.PLUGINS),
    ("object-plugins", LIST, _list(plugins={"type": "bridge"}), Rule.PLUGINS),
    ("string-plugins", LIST, _list(plugins="bridge"), Rule.PLUGINS),
    ("single-plugin-in-conflist", LIST, primaries.conflist(**GOOD_CONF), Rule.PLUGINS),
    ("plugin-is-a-string", LIST, _with_plugin("portmap"), Rule.PLUGIN),
    ("plugin-is-null", LIST, _with_plugin(None), Rule.PLUGIN),
    ("plugin-is-an-array", LIST, _with_plugin([{"type": "portmap"}]), Rule.PLUGIN),
    ("missing-type", LIST, _with_plugin({"capabilities": {}}), Rule.TYPE),
    ("empty-type", LIST, _with_plugin({"type": ""}), Rule.TYPE),
    ("numeric-type", LIST, _with_plugin({"type": 5}), Rule.TYPE),
    ("null-type", LIST, _with_plugin({"type": None}), Rule.TYPE),
    ("missing-type-in-conf", CONF, _without(GOOD_CONF, "type"), Rule.TYPE),
    ("empty-object-conf", CONF, b"{}", Rule.TYPE),
    ("type-with-slash", LIST, _with_plugin({"type": "../../bin/sh"}), Rule.TYPE_PATH),
    ("type-absolute-path", LIST, _with_plugin({"type": "/bin/sh"}), Rule.TYPE_PATH),
    ("type-dot-dot", LIST, _with_plugin({"type": ".."}), Rule.TYPE_PATH),
    ("type-dot", LIST, _with_plugin({"type": "."}), Rule.TYPE_PATH),
    ("type-newline", LIST, _with_plugin({"type": "bridge\nx"}), Rule.TYPE_PATH),
    ("type-nul", LIST, _with_plugin({"type": "bridge\u0000"}), Rule.TYPE_PATH),
    ("type-escape", LIST, _with_plugin({"type": "\u001b[31m"}), Rule.TYPE_PATH),
    ("type-del", LIST, _with_plugin({"type": "bridge\u007f"}), Rule.TYPE_PATH),
    ("cni-versions-string", LIST, _list(cniVersions="1.1.0"), Rule.CNI_VERSIONS),
    ("cni-versions-number", LIST, _list(cniVersions=[1]), Rule.CNI_VERSIONS),
    ("cni-versions-not-semver", LIST, _list(cniVersions=["x"]), Rule.CNI_VERSIONS),
    ("type-c1-control", LIST, _with_plugin({"type": "bridge\u0085"}), Rule.TYPE_PATH),
    ("type-line-separator", LIST, _with_plugin({"type": "bridge\u2028x"}), Rule.TYPE_PATH),
    ("type-path-in-conf", JSON, primaries.conflist(name="n", type="a/b"), Rule.TYPE_PATH),
    ("disable-check-string-true", LIST, _list(disableCheck="true"), Rule.BOOLEAN),
    ("disable-check-number", LIST, _list(disableCheck=1), Rule.BOOLEAN),
    ("disable-gc-string-false", LIST, _list(disableGC="false"), Rule.BOOLEAN),
    ("load-only-inlined-null", LIST, _list(loadOnlyInlinedPlugins=None), Rule.BOOLEAN),
    (
        "capability-string-true",
        LIST,
        _with_plugin({"type": "a", "capabilities": {"p": "true"}}),
        Rule.FIELD_TYPE,
    ),
    (
        "capabilities-array",
        LIST,
        _with_plugin({"type": "a", "capabilities": ["p"]}),
        Rule.FIELD_TYPE,
    ),
    ("plugin-name-number", LIST, _with_plugin({"type": "a", "name": 5}), Rule.FIELD_TYPE),
    (
        "plugin-cni-version-object",
        LIST,
        _with_plugin({"type": "a", "cniVersion": {}}),
        Rule.FIELD_TYPE,
    ),
    ("ipam-string", LIST, _with_plugin({"type": "a", "ipam": "host-local"}), Rule.FIELD_TYPE),
    ("ipam-type-number", LIST, _with_plugin({"type": "a", "ipam": {"type": 1}}), Rule.FIELD_TYPE),
    ("dns-array", LIST, _with_plugin({"type": "a", "dns": []}), Rule.FIELD_TYPE),
    (
        "dns-nameservers-string",
        LIST,
        _with_plugin({"type": "a", "dns": {"nameservers": "x"}}),
        Rule.FIELD_TYPE,
    ),
    (
        "dns-search-numbers",
        LIST,
        _with_plugin({"type": "a", "dns": {"search": [1]}}),
        Rule.FIELD_TYPE,
    ),
    (
        "dns-options-bools",
        LIST,
        _with_plugin({"type": "a", "dns": {"options": [True]}}),
        Rule.FIELD_TYPE,
    ),
    ("dns-domain-number", LIST, _with_plugin({"type": "a", "dns": {"domain": 1}}), Rule.FIELD_TYPE),
    ("prev-result-array", LIST, _with_plugin({"type": "a", "prevResult": []}), Rule.FIELD_TYPE),
    ("conf-dns-bool", CONF, primaries.conflist(**GOOD_CONF, dns=True), Rule.FIELD_TYPE),
    ("key-Name-in-conf", CONF, b'{"Name":5,"name":"n","type":"a"}', Rule.KEY_CASE),
    (
        "key-CNIVersion-in-conf",
        CONF,
        b'{"CNIVersion":"1.0.0","name":"n","type":"a"}',
        Rule.KEY_CASE,
    ),
    ("key-Type", LIST, _with_plugin({"Type": "a"}), Rule.KEY_CASE),
    ("key-long-s", LIST, _with_plugin({"type": "a", "cniVer\u017fion": "1.0.0"}), Rule.KEY_CASE),
    (
        "key-long-s-in-dns",
        LIST,
        b'{"name":"n","plugins":[{"type":"a","dns":{"\\u017fearch":[]}}]}',
        Rule.KEY_CASE,
    ),
    ("key-IPAM-type", LIST, _with_plugin({"type": "a", "ipam": {"TYPE": "x"}}), Rule.KEY_CASE),
    ("key-Domain", LIST, _with_plugin({"type": "a", "dns": {"Domain": "x"}}), Rule.KEY_CASE),
    ("duplicate-name-in-conf", CONF, b'{"name":5,"name":"n","type":"a"}', Rule.DUPLICATE_KEY),
    (
        "duplicate-type",
        LIST,
        b'{"name":"n","plugins":[{"type":"a","type":"b"}]}',
        Rule.DUPLICATE_KEY,
    ),
    (
        "duplicate-nested",
        LIST,
        b'{"name":"n","plugins":[{"type":"a","x":{"k":1,"k":2}}]}',
        Rule.DUPLICATE_KEY,
    ),
    ("list-in-conf", CONF, _list(), Rule.LIST_IN_CONF),
    ("list-in-json", JSON, _list(), Rule.LIST_IN_CONF),
]


@pytest.mark.parametrize(
    ("name", "data", "rule"), [c[1:] for c in BROKEN], ids=[c[0] for c in BROKEN]
)
def test_a_file_breaking_a_rule_is_refused_by_that_rule_in_one_line_naming_the_file(
    name: str, data: bytes, rule: Rule
) -> None:
    refusal = validation.validate(name, data)
    assert isinstance(refusal, Refusal), f"accepted: {refusal}"
    assert refusal.rule is rule, str(refusal)
    assert refusal.file == name
    assert str(refusal).startswith(f"{name}: ")
    assert len(str(refusal).splitlines()) == 1
    assert refusal.detail


def test_the_table_breaks_every_rule_validate_can_produce() -> None:
    # The others need I/O (reading.py) or the plugin binaries (the agent's bin-dir check).
    io_only = {Rule.UNREADABLE, Rule.NOT_REGULAR, Rule.PLUGIN_BINARY}
    assert {rule for *_, rule in BROKEN} == set(Rule) - io_only


@pytest.mark.parametrize("fixture", primaries.ALL, ids=primaries.fixture_id)
def test_every_fixture_primary_is_valid_under_its_conf_dir_name(fixture: Path) -> None:
    verdict = validation.validate(primaries.conf_name(fixture), fixture.read_bytes())
    assert isinstance(verdict, NetworkList), str(verdict)
    assert verdict.single == fixture.name.endswith(".conf")
    assert verdict.plugins


@pytest.mark.parametrize("fixture", primaries.ALL, ids=primaries.fixture_id)
@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99])
def test_every_fixture_cut_short_anywhere_is_refused_as_not_json_or_empty(
    fixture: Path, fraction: float
) -> None:
    data = fixture.read_bytes().rstrip()
    cut = data[: min(int(len(data) * fraction), len(data) - 1)]
    refusal = validation.validate(primaries.conf_name(fixture), cut)
    assert isinstance(refusal, Refusal)
    assert refusal.rule is (Rule.EMPTY if not cut else Rule.NOT_JSON)
    assert len(str(refusal).splitlines()) == 1


def test_a_file_cut_after_a_complete_value_says_it_is_truncated() -> None:
    refusal = validation.validate(LIST, b'{"name": "n", "plugins": [')
    assert isinstance(refusal, Refusal)
    assert "truncated" in refusal.detail


def test_the_verdict_on_a_file_not_there_is_one_refusal_naming_it() -> None:
    refusal = validation.verdict("10-azure.conflist", None)
    assert refusal == Refusal("10-azure.conflist", Rule.UNREADABLE, validation.ABSENT)
    assert str(refusal) == "10-azure.conflist: does not exist"
    assert not validation.valid("10-azure.conflist", None)


def test_the_verdict_on_a_read_refusal_is_that_refusal() -> None:
    refusal = Refusal(LIST, Rule.NOT_REGULAR, "is a directory")
    assert validation.verdict(LIST, refusal) is refusal
    assert not validation.valid(LIST, refusal)


def test_the_verdict_on_bytes_is_validation_s_and_a_valid_list_is_summarised() -> None:
    data = _list(plugins=[{"type": "a"}, {"type": "b"}])
    verdict = validation.verdict(LIST, data)
    assert verdict == validation.validate(LIST, data)
    assert isinstance(verdict, NetworkList)
    assert verdict.summary == "network 'n', plugins [a, b]"
    assert validation.valid(LIST, data)
    assert not validation.valid(LIST, b"")


def test_an_empty_file_says_it_is_empty_with_zero_bytes() -> None:
    assert str(validation.validate("05-antrea.conflist", b"")) == (
        "05-antrea.conflist: is empty (0 bytes)"
    )


def test_a_file_of_exactly_the_size_cap_is_accepted() -> None:
    data = _padded_to(MAX_BYTES)
    assert len(data) == MAX_BYTES
    assert isinstance(validation.validate(LIST, data), NetworkList)


@pytest.mark.parametrize("kind", ["list", "dict"])
def test_nesting_exactly_at_the_cap_is_accepted(kind: str) -> None:
    assert isinstance(validation.validate(LIST, _deep_plugin(kind, MAX_DEPTH)), NetworkList)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        (LIST, _list(disableCheck=True, disableGC=False, loadOnlyInlinedPlugins=True)),
        (LIST, _without(GOOD_LIST, "cniVersion")),
        (LIST, _list(plugins=[{"type": "bridge"}, {"type": "portmap"}])),
        (LIST, b"\n\t " + _list() + b"\n\n"),
        (LIST, _list(name="r\u00e9seau")),
        (LIST, _list(extra={"nested": [1, 2.5, None, True, "x"]})),
        (LIST, _list()[:-1] + b', "x": 1e-999}'),
        (CONF, primaries.conflist(**GOOD_CONF)),
        (CONF, primaries.conflist(type="bridge")),
        (JSON, primaries.conflist(**GOOD_CONF)),
        (CONF, primaries.conflist(**GOOD_CONF, plugins=[{"type": "x"}])),
        (".conflist", _list()),
    ],
    ids=[
        "boolean-flags",
        "no-cni-version",
        "two-plugins",
        "surrounding-whitespace",
        "non-ascii-name",
        "arbitrary-extra-keys",
        "underflowing-number",
        "conf",
        "conf-with-only-type",
        "json",
        "conf-with-type-and-plugins",
        "dot-file-named-by-extension-only",
    ],
)
def test_a_file_the_runtime_loads_is_accepted(name: str, data: bytes) -> None:
    assert isinstance(validation.validate(name, data), NetworkList)


def test_a_list_is_seen_as_its_name_version_and_plugins_in_order() -> None:
    verdict = validation.validate(LIST, _list(plugins=[{"type": "a"}, {"type": "b", "k": 1}]))
    assert isinstance(verdict, NetworkList)
    assert (verdict.name, verdict.cni_version, verdict.single) == ("n", "1.0.0", False)
    assert verdict.plugin_types == ("a", "b")
    assert verdict.plugins[1] == {"type": "b", "k": 1}


def test_a_single_plugin_conf_is_seen_as_a_list_of_itself() -> None:
    verdict = validation.validate(CONF, primaries.conflist(**GOOD_CONF))
    assert isinstance(verdict, NetworkList)
    assert verdict.single
    assert verdict.plugins == (GOOD_CONF,)
    assert verdict.document == GOOD_CONF


def test_the_first_broken_plugin_is_the_one_named() -> None:
    data = _list(plugins=[{"type": "a"}, {"type": ""}, {"type": "../x"}])
    refusal = validation.validate(LIST, data)
    assert isinstance(refusal, Refusal)
    assert "plugins[1]" in refusal.detail
    assert refusal.rule is Rule.TYPE


@pytest.mark.parametrize("key", ["name", "cniVersion"])
def test_a_null_name_or_version_in_a_single_plugin_conf_loads_as_absent_as_in_libcni(
    key: str,
) -> None:
    # libcni decodes a .conf into a Go struct: null leaves the string empty, the file loads.
    doc = {"name": "mynet", "cniVersion": "0.4.0", "type": "bridge", key: None}
    verdict = validation.validate("10-net.conf", json.dumps(doc).encode())
    assert isinstance(verdict, NetworkList)
    assert getattr(verdict, "name" if key == "name" else "cni_version") is None


def test_a_null_name_in_a_conflist_is_refused_as_in_libcni() -> None:
    # A list is decoded into a map first, and libcni then requires a string name.
    refusal = validation.validate("10-net.conflist", b'{"name": null, "plugins": [{"type": "x"}]}')
    assert isinstance(refusal, Refusal)
    assert refusal.rule is Rule.NAME
