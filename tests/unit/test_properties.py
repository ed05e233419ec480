"""Properties of the pure core over generated inputs (hypothesis)."""

from __future__ import annotations

import json
import os
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from chainfsm.core import chaining, discovery, planning, validation
from chainfsm.core.validation import NetworkList, Refusal
from tests.support.constants import OUTPUT

CONFIG_NAMES = st.sampled_from(["10-net.conflist", "10-net.conf", "10-net.json", ".conflist"])
#: Names as the file system gives them: any bytes but "/" and NUL, decoded like os.scandir does.
FS_NAMES = st.binary(min_size=1, max_size=40).filter(lambda b: b"/" not in b and b"\0" not in b)

#: What a read can say instead of bytes (reading.py), as (rule, detail).
READ_REFUSALS = [
    (validation.Rule.NOT_REGULAR, "is a directory"),
    (validation.Rule.UNREADABLE, "cannot be read: Permission denied"),
]

#: Text, sometimes with lone surrogates (which JSON can hold as "\\ud800" escapes).
TEXT = st.text() | st.text(alphabet=st.sampled_from(["\ud800", "\udcff", "a", "\u00e9", "\n"]))


def json_values(text: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    return st.recursive(
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**53), max_value=2**53)
        | st.floats(allow_nan=False, allow_infinity=False)
        | text,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
        max_leaves=20,
    )


#: Any JSON value, lone surrogate escapes included (validation refuses those: rule utf-8).
JSON_VALUES = json_values(TEXT)
#: JSON values a loadable config may hold: text is text (st.text() has no surrogates).
TEXT_VALUES = json_values(st.text())
#: Plugin types validation accepts: plain, printable file names (C1 controls, NBSP and format
#: characters in this range are refused since issue 14).
PLUGIN_TYPES = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x2FFF, blacklist_characters="/\x7f"),
    min_size=1,
    max_size=12,
).filter(lambda t: t not in (".", "..") and t.isprintable())


#: Extra keys of a plugin: any text but the keys libcni decodes into its NetConf, in any case
#: (their types are checked; test_libcni_agreement.py generates those against the runtime).
EXTRA_KEYS = st.text(max_size=8).filter(
    lambda k: k.lower().replace("\u017f", "s") not in {f.lower() for f in validation.NETCONF_KEYS}
)


@st.composite
def plugins(draw: st.DrawFn) -> dict[str, Any]:
    """A plugin as JSON gives it (as --plugin does)."""
    extra = draw(st.dictionaries(EXTRA_KEYS, TEXT_VALUES, max_size=4))
    plugin: dict[str, Any] = json.loads(json.dumps({**extra, "type": draw(PLUGIN_TYPES)}))
    return plugin


@st.composite
def primaries(draw: st.DrawFn) -> tuple[str, bytes]:
    """A file the runtime loads, as (name, bytes): a list, or a single plugin with a name."""
    top = draw(st.dictionaries(EXTRA_KEYS, TEXT_VALUES, max_size=3))
    for key in ("plugins", "type", *validation.BOOLEAN_LIST_KEYS):
        top.pop(key, None)
    top["name"] = draw(st.text(max_size=10))
    if draw(st.booleans()):
        top["cniVersion"] = draw(st.sampled_from(["0.3.1", "0.4.0", "1.0.0", "1.1.0"]))
    if draw(st.booleans()):
        top["disableCheck"] = draw(st.booleans())
    if draw(st.booleans()):
        name = "10-net.conflist"
        top["plugins"] = draw(st.lists(plugins(), min_size=1, max_size=4))
    else:
        name = draw(st.sampled_from(["10-net.conf", "10-net.json"]))
        top.pop("disableCheck", None)
        plugin = draw(plugins())
        for key in ("name", "cniVersion"):  # a single plugin's own keys are the file's keys
            plugin.pop(key, None)
        top = {**top, **plugin}
    return name, json.dumps(top, ensure_ascii=draw(st.booleans())).encode()


def _assert_one_line_naming(verdict: validation.Verdict, name: str) -> None:
    if isinstance(verdict, Refusal):
        assert str(verdict).startswith(f"{name}: ")
        assert len(str(verdict).splitlines()) == 1
    else:
        assert isinstance(verdict, NetworkList)


@given(CONFIG_NAMES, st.binary(max_size=2000))
def test_validation_never_raises_on_arbitrary_bytes_and_refuses_in_one_line(
    name: str, data: bytes
) -> None:
    _assert_one_line_naming(validation.validate(name, data), name)


@given(CONFIG_NAMES, JSON_VALUES)
def test_validation_never_raises_on_arbitrary_json_values(name: str, value: Any) -> None:
    _assert_one_line_naming(validation.validate(name, json.dumps(value).encode()), name)


@given(FS_NAMES, st.sampled_from([b"", b"{}", b'{"name":"n","plugins":[{"type":"a"}]}']))
def test_validation_and_discovery_never_raise_on_arbitrary_file_names(
    raw: bytes, data: bytes
) -> None:
    name = os.fsdecode(raw)
    verdict = validation.validate(name, data)
    assert isinstance(verdict, NetworkList | Refusal)
    assert discovery.runtime_order([name, OUTPUT]) in ([name, OUTPUT], [OUTPUT, name], [OUTPUT])
    assert discovery.find_primary([name], OUTPUT) in (name, None)


@given(st.lists(FS_NAMES, max_size=8))
def test_runtime_order_is_the_byte_order_of_the_config_names(raws: list[bytes]) -> None:
    names = [os.fsdecode(raw) for raw in raws]
    order = discovery.runtime_order(names)
    assert [os.fsencode(n) for n in order] == sorted(
        os.fsencode(n) for n in names if discovery.is_config_name(n)
    )


@given(primaries(), plugins())
@example(("10-net.conf", b'{"name": "n", "type": "0", "cniVersion": null}'), {"type": "antrea"})
def test_every_chained_output_of_a_valid_primary_is_valid_and_ends_with_ours_in_order(
    primary_file: tuple[str, bytes], plugin: dict[str, Any]
) -> None:
    name, data = primary_file
    primary = validation.validate(name, data)
    assert isinstance(primary, NetworkList), str(primary)
    rendered = chaining.render(primary, plugin, OUTPUT)
    assert isinstance(rendered, bytes), str(rendered)
    chained = validation.validate(OUTPUT, rendered)
    assert isinstance(chained, NetworkList), str(chained)
    kept = [p for p in primary.plugins if p["type"] != plugin["type"]]
    assert list(chained.plugins) == [*kept, plugin]
    assert chained.name == primary.name
    assert chained.cni_version == primary.cni_version


@given(primaries(), plugins())
def test_render_is_deterministic_and_idempotent_on_its_own_output(
    primary_file: tuple[str, bytes], plugin: dict[str, Any]
) -> None:
    name, data = primary_file
    primary = validation.validate(name, data)
    assert isinstance(primary, NetworkList)
    first = chaining.render(primary, plugin, OUTPUT)
    again = validation.validate(name, data)
    assert isinstance(again, NetworkList)
    assert chaining.render(again, plugin, OUTPUT) == first
    assert isinstance(first, bytes)
    ours = validation.validate(OUTPUT, first)
    assert isinstance(ours, NetworkList)
    assert chaining.render(ours, plugin, OUTPUT) == first


@given(CONFIG_NAMES, st.none() | st.binary(max_size=200) | st.sampled_from(READ_REFUSALS))
def test_the_verdict_on_any_read_is_validation_s_or_a_refusal_naming_the_file(
    name: str, read: bytes | tuple[validation.Rule, str] | None
) -> None:
    data = Refusal(name, *read) if isinstance(read, tuple) else read
    verdict = validation.verdict(name, data)
    if isinstance(data, bytes):
        assert verdict == validation.validate(name, data)
    elif isinstance(data, Refusal):
        assert verdict is data
    else:
        assert verdict == Refusal(name, validation.Rule.UNREADABLE, validation.ABSENT)
    _assert_one_line_naming(verdict, name)
    assert validation.valid(name, data) is isinstance(verdict, NetworkList)


@given(primaries(), plugins())
def test_the_plan_is_deterministic_and_its_bytes_validate_as_a_list_ending_with_ours(
    primary_file: tuple[str, bytes], plugin: dict[str, Any]
) -> None:
    name, data = primary_file
    plan = planning.plan(name, data, plugin, OUTPUT)
    assert plan == planning.plan(name, data, plugin, OUTPUT)
    assert isinstance(plan, planning.Plan), str(plan)  # every generated primary has a name
    assert (plan.primary, plan.primary_data) == (name, data)
    ours = validation.validate(OUTPUT, plan.rendered)
    assert isinstance(ours, NetworkList), str(ours)
    assert ours.plugins[-1] == plugin
    assert ours.plugin_types.count(plugin["type"]) == 1
    assert list(ours.plugins) == list(plan.expected_plugins)


@given(JSON_VALUES)
@example({"a": [float("nan"), float("-inf"), -0.0, 1e300, True, False, None, {}, [], [{}]]})
@example("\ud800 \u00e9 \n \x7f \u2028")
def test_chaining_dumps_writes_what_json_dumps_with_an_indent_writes(value: Any) -> None:
    assert chaining.dumps(value) == json.dumps(value, indent=2, ensure_ascii=False)
