"""The differential test: chainfsm against the runtime's own loader on generated conf dirs.

Every example is a conf dir of generated files and a generated ``--plugin``, judged by chainfsm
and by containerd's go-cni with libcni built from Debian's source (support/libcni_loader.py).
It fails on any case where chainfsm is looser than the runtime (calls a file, a dir or a plugin
valid that the runtime refuses), where the runtime loads a chain we render differently from the
primary plus our plugin, or where a command crashes or prints what is not UTF-8 (JSON). Stricter is
allowed: those are the rules docs/design.md's table lists.

The strategies hold the classes the first campaign found: wrong JSON types in every field libcni
decodes into its ``NetConf`` (``name``, ``cniVersion``, ``type``, ``capabilities``, ``ipam``,
``dns``, ``prevResult``), keys spelled in another case (Go matches them, also through the Kelvin
sign and the long s), duplicate keys (Go decodes each one), lone surrogate escapes, and file
names that are not UTF-8. The seed is fixed, so a CI run is the same run everywhere.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from chainfsm.cli import commands, explanation
from chainfsm.core import chaining, discovery, planning, validation
from chainfsm.core.validation import NetworkList
from tests.support import libcni_loader
from tests.support.constants import OUTPUT
from tests.support.docs_tables import documented_rules
from tests.support.go_json_text import Obj, render
from tests.unit import test_validation

#: The number of generated cases, and the seed. Run on chainfsm before these rules existed,
#: these 3,000 cases found every class: looser field types (--plugin, dir and primary), key
#: case, duplicate keys, a chain loaded with another cniVersion, and crashes on output.
EXAMPLES = 3000
SEED = 14


STRINGS = st.sampled_from(["", "a", "n", "0.3.1", "1.0.0", "true", "a\ud800", "\u00e9", "x y"])
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-3, max_value=3)
    | st.floats(allow_nan=False, allow_infinity=False, width=32)
    | STRINGS
)
ANY: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.lists(st.tuples(STRINGS, inner), max_size=3).map(lambda p: Obj(tuple(p)))
    ),
    max_leaves=6,
)


def spelled(key: str) -> st.SearchStrategy[str]:
    """``key`` mostly as it is, sometimes as Go would also match it (any case, the long s for
    s; the Kelvin sign for k too, though no field libcni decodes has a k)."""
    variants = {key.upper(), key.lower(), key[:1].upper() + key[1:]}
    variants |= {key.replace("s", "\u017f"), key.replace("k", "\u212a")}
    variants.discard(key)
    return st.sampled_from([key] * 6 + sorted(variants))


def maybe_wrong(right: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(right, right, right, ANY)


EXTRA_KEYS = st.tuples(st.sampled_from(["mode", "k", "ipMasq"]), ANY)


def obj(
    fields: dict[str, st.SearchStrategy[Any]], extra: int = 2, rarely: bool = False
) -> st.SearchStrategy[Obj]:
    """An object with some of ``fields`` (keys maybe re-spelled), extra keys, maybe a key twice;
    ``rarely``: each field only one time in four."""
    keys = [(spelled(key), values) for key, values in fields.items()]
    chance = st.integers(0, 3) if rarely else st.integers(0, 1)
    extras = st.lists(EXTRA_KEYS, max_size=extra)

    @st.composite
    def build(draw: st.DrawFn) -> Obj:
        pairs: list[tuple[str, Any]] = []
        for key, values in keys:
            if draw(chance) == 0:
                pairs.append((draw(key), draw(values)))
        pairs += draw(extras)
        if pairs and draw(st.integers(0, 5)) == 0:
            key, _ = draw(st.sampled_from(pairs))
            pairs.insert(draw(st.integers(0, len(pairs))), (key, draw(ANY)))
        return Obj(tuple(pairs))

    return build()


def string_list() -> st.SearchStrategy[Any]:
    return st.lists(maybe_wrong(STRINGS), max_size=2)


IPAM = obj({"type": maybe_wrong(st.sampled_from(["host-local", "azure-cns"])), "subnet": STRINGS})
DNS = obj(
    {
        "nameservers": maybe_wrong(string_list()),
        "domain": maybe_wrong(STRINGS),
        "search": maybe_wrong(string_list()),
        "options": maybe_wrong(string_list()),
    },
    extra=0,
)
CAPABILITIES = st.lists(
    st.tuples(st.sampled_from(["portMappings", "bandwidth"]), maybe_wrong(st.booleans())),
    max_size=2,
).map(lambda p: Obj(tuple(p)))
TYPES = st.sampled_from(["a", "b", "antrea", "bridge", "a\ud800", "../x", ""])
PLUGIN_FIELDS = {
    "name": maybe_wrong(STRINGS),
    "cniVersion": maybe_wrong(st.sampled_from(["0.3.1", "1.0.0", "1.1.0"])),
    "capabilities": maybe_wrong(CAPABILITIES),
    "ipam": maybe_wrong(IPAM),
    "dns": maybe_wrong(DNS),
    "prevResult": maybe_wrong(obj({})),
}
TYPE_KEY = spelled("type")
TYPE_VALUE = maybe_wrong(TYPES)


def plugins(top_fields: bool = False) -> st.SearchStrategy[Obj]:
    """A plugin object: nearly always a ``type``, some libcni fields, maybe wrong or re-spelled.
    A plugin in a list (not ``top_fields``) seldom has its own name and version."""
    body = obj(PLUGIN_FIELDS, rarely=not top_fields)

    @st.composite
    def build(draw: st.DrawFn) -> Obj:
        pairs = list(draw(body).pairs)
        if draw(st.integers(0, 9)):
            pairs.insert(draw(st.integers(0, len(pairs))), (draw(TYPE_KEY), draw(TYPE_VALUE)))
        return Obj(tuple(pairs))

    return build()


LIST_PLUGINS = plugins()
TOP_PLUGINS = plugins(top_fields=True)
LIST_BODY = obj(
    {
        "name": maybe_wrong(STRINGS),
        "cniVersion": maybe_wrong(st.sampled_from(["0.3.1", "1.0.0"])),
        "disableCheck": maybe_wrong(st.booleans()),
        "disableGC": maybe_wrong(st.booleans()),
        "loadOnlyInlinedPlugins": maybe_wrong(st.booleans()),
        "plugins": maybe_wrong(st.lists(LIST_PLUGINS, min_size=1, max_size=3)),
    },
    extra=1,
    rarely=True,
)


@st.composite
def conflists(draw: st.DrawFn) -> Obj:
    pairs = list(draw(LIST_BODY).pairs)
    if draw(st.integers(0, 5)):  # mostly a well-named list, so the plugins get judged
        pairs.insert(0, ("name", draw(STRINGS)))
        pairs.append(("plugins", draw(st.lists(LIST_PLUGINS, min_size=1, max_size=3))))
    return Obj(tuple(pairs))


#: Names that sort in every order, one the runtime ignores, and two that are not UTF-8.
NAMES = st.sampled_from(
    [
        b"10-net.conflist",
        b"10-net.conf",
        b"10-net.json",
        b"20-b.conflist",
        b"10-net.conflist-old",
        b"10-\xff.conf",
        b"00-\xfe.conflist",
    ]
)


#: A plugin as real configs write it, every libcni field of the right type.
REAL_PLUGIN = Obj(
    (
        ("cniVersion", "1.0.0"),
        ("name", "azure"),
        ("type", "azure-vnet"),
        ("mode", "bridge"),  # the legacy AKS mode, which Antrea's rewrite makes transparent
        ("capabilities", Obj((("portMappings", True),))),
        ("ipam", Obj((("type", "azure-cns"),))),
        ("dns", Obj((("nameservers", ["10.0.0.10"]), ("domain", "cluster.local")))),
    )
)


@st.composite
def one_mistake(draw: st.DrawFn, plugin: Obj) -> Obj:
    """``plugin`` with at most one of the campaign's classes: a key re-spelled, a key given
    twice (a wrong-typed value first or last), one field of a wrong type, or a lone surrogate
    escape in a string."""
    pairs = list(plugin.pairs)
    index = draw(st.integers(0, len(pairs) - 1))
    key, value = pairs[index]
    mistake = draw(st.sampled_from(["none", "spelling", "duplicate", "type", "surrogate"]))
    if mistake == "surrogate" and isinstance(value, str):
        pairs[index] = (key, value + "\ud800")
    elif mistake == "spelling":
        pairs[index] = (draw(spelled(key).filter(lambda k: k != key)), value)
    elif mistake == "duplicate":
        pairs.insert(index + draw(st.integers(0, 1)), (key, draw(ANY)))
    elif mistake == "type":
        pairs[index] = (key, draw(ANY))
    return Obj(tuple(pairs))


@st.composite
def near_real_file(draw: st.DrawFn, name: bytes) -> str:
    """A real-looking file with at most one mistake, in its one plugin or, for a list, in one
    plugin or in the list's own keys."""
    if not name.endswith(b".conflist"):
        return render(draw(one_mistake(REAL_PLUGIN)))
    plugins = [REAL_PLUGIN, Obj((("type", "portmap"),))]
    where = draw(st.integers(0, len(plugins)))
    if where < len(plugins):
        plugins[where] = draw(one_mistake(plugins[where]))
    top = Obj((("cniVersion", "1.0.0"), ("name", "azure"), ("plugins", plugins)))
    return render(draw(one_mistake(top)) if where == len(plugins) else top)


@st.composite
def files(draw: st.DrawFn) -> tuple[bytes, bytes]:
    name = draw(NAMES)
    if draw(st.booleans()):
        text = draw(near_real_file(name))
    else:
        text = render(draw(conflists() if name.endswith(b".conflist") else TOP_PLUGINS))
    damage = draw(st.integers(0, 19))
    if damage == 0:
        text = text[: draw(st.integers(0, len(text)))]
    elif damage == 1:
        text = "\ufeff" + text
    return name, text.encode("utf-8")


@dataclass(frozen=True)
class Case:
    files: dict[bytes, bytes]
    plugin: str


CASES = st.builds(
    Case,
    st.dictionaries(NAMES, st.binary(max_size=0), min_size=1, max_size=3).flatmap(
        lambda names: st.tuples(*[files() for _ in names]).map(dict)
    ),
    st.one_of(
        st.just('{"type":"antrea"}'),
        one_mistake(Obj((("type", "antrea"), ("capabilities", Obj((("bandwidth", True),)))))).map(
            render
        ),
        TOP_PLUGINS.map(render),
    ),
)


@contextlib.contextmanager
def conf_dir(entries: dict[bytes, bytes]) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="cnidiff") as tmp:
        for name, data in entries.items():
            # Bytes paths: a name that is not UTF-8 is written as those very bytes.
            with open(os.fsencode(tmp) + b"/" + name, "wb") as handle:
                handle.write(data)
        yield Path(tmp)


#: One parser for every example (building one costs more than a whole example otherwise).
PARSER = commands.build_parser()


def cli_output(argv: list[str]) -> bytes:
    """What ``chainfsm explain`` or ``validate`` prints to a strict UTF-8 stdout (a crash raises),
    through the commands' own functions with the arguments as the parser makes them."""
    args = PARSER.parse_args(argv)
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="utf-8", errors="strict")
    with contextlib.redirect_stdout(out):
        if args.command == "explain":
            commands._explain(args)
        else:
            commands._validate(args.files, args.json)
        out.flush()
    return raw.getvalue()


def as_list_file(plugin_text: str) -> bytes:
    """How the runtime sees ``--plugin``: as an element of a list it loads."""
    return b'{"name":"p","cniVersion":"1.0.0","plugins":[' + plugin_text.encode() + b"]}"


def _commands_output(directory: Path, names: list[str], plugin_text: str) -> str | None:
    """Run ``explain --json``, ``explain`` and ``validate`` on the dir; why one failed, or None."""
    argv = ["--net-dir", str(directory), "--output", OUTPUT, "--plugin", plugin_text]
    try:
        json.loads(cli_output(["explain", *argv, "--json"]).decode("utf-8"))
        cli_output(["explain", *argv])
        cli_output(["validate", *(str(directory / n) for n in names)])
    except Exception as err:  # any exception at all is the finding
        return f"{type(err).__name__}: {err}"
    return None


def _dir_problems(case: Case, directory: Path, oracle: libcni_loader.Oracle) -> list[str]:
    """chainfsm's reading of the dir as it is against the runtime's."""
    found: list[str] = []
    loaded = oracle.load(directory)
    look = explanation.look(directory, OUTPUT, chaining.DEFAULT_PLUGIN)
    if look.first is None:
        return [] if not loaded.ok else [f"first: chainfsm none, libcni {loaded.first!r}"]
    if look.first_loads and not loaded.ok:
        found.append(f"looser: dir: chainfsm loads {look.first!r}, libcni: {loaded.error}")
    if loaded.ok and os.fsencode(look.first) != loaded.first:
        found.append(f"first: chainfsm {look.first!r}, libcni {loaded.first!r}")
    first = validation.validate(look.first, case.files[os.fsencode(look.first)])
    if loaded.ok and isinstance(first, NetworkList):
        ours = (first.name or "", first.cni_version or "", first.plugin_types)
        theirs = (loaded.name, loaded.cni_version, loaded.plugin_types)
        if ours != theirs:
            found.append(f"reads differently: chainfsm {ours!r}, libcni {theirs!r}")
    return found


def _expected_chain(
    primary: libcni_loader.Loaded, plugin: libcni_loader.Loaded
) -> tuple[str, str, list[Any]]:
    """What the runtime must load from our chain: the primary's name, version and plugins as it
    loads them (without any of our type; with antrea, azure-vnet's "mode":"bridge" made
    "transparent" as Antrea's install-cni does, worked out here rather than by chainfsm's own
    rewrite code), then our plugin as it loads that."""
    (ours,) = plugin.plugin_types
    kept = zip(primary.plugins, primary.plugin_documents(), strict=True)
    documents = [doc for p, doc in kept if p["type"] != ours]
    if ours == "antrea":
        documents = [
            {**doc, "mode": "transparent"}
            if doc.get("type") == "azure-vnet" and doc.get("mode") == "bridge"
            else doc
            for doc in documents
        ]
    return primary.name, primary.cni_version, documents + plugin.plugin_documents()


def problems(case: Case, oracle: libcni_loader.Oracle) -> list[str]:
    """Each way chainfsm disagrees with the runtime on ``case``, as "class: detail"."""
    names = [os.fsdecode(n) for n in case.files]
    plugin = chaining.parse_plugin(case.plugin)
    with conf_dir(case.files) as directory:
        shown = case.plugin if isinstance(plugin, dict) else '{"type":"antrea"}'
        crash = _commands_output(directory, names, shown)
        found = [f"crash: {crash}"] if crash else []
        found += _dir_problems(case, directory, oracle)
    if isinstance(plugin, str):
        return found
    with conf_dir({b"10-p.conflist": as_list_file(case.plugin)}) as alone:
        runtime_plugin = oracle.load(alone)
    if not runtime_plugin.ok:
        return [*found, f"looser: --plugin: libcni: {runtime_plugin.error}"]
    primary = discovery.find_primary(names, OUTPUT)
    if primary is None:
        return found
    primary_bytes = case.files[os.fsencode(primary)]
    # As the agent renders by default: with Antrea's azure-vnet rewrite when ours is antrea.
    rewrites = chaining.rewrites_for(plugin, None)
    plan = planning.plan(primary, primary_bytes, plugin, OUTPUT, rewrites)
    if not isinstance(plan, planning.Plan):
        return found
    rendered = plan.rendered
    with conf_dir({os.fsencode(primary): primary_bytes}) as alone:
        runtime_primary = oracle.load(alone)
    with conf_dir({OUTPUT.encode(): rendered}) as alone:
        chain = oracle.load(alone)
    with conf_dir({**case.files, OUTPUT.encode(): rendered}) as chained:
        effective = explanation.look(chained, OUTPUT, plugin, rewrites=rewrites).effective
        runtime_first = oracle.load(chained)
    if not runtime_primary.ok:
        return [*found, f"looser: primary: libcni: {runtime_primary.error}"]
    if not chain.ok:
        return [*found, f"looser: chain: libcni refuses what chainfsm rendered: {chain.error}"]
    if effective and runtime_first.first != OUTPUT.encode():
        found.append(f"looser: explain says effective, libcni loads {runtime_first.first!r}")
    expected = _expected_chain(runtime_primary, runtime_plugin)
    actual = (chain.name, chain.cni_version, chain.plugin_documents())
    if actual != expected:
        found.append(f"changed chain: libcni loads {actual!r}, expected {expected!r}")
    return found


# slow: every generated conf dir judged by libcni (about a minute)
@pytest.mark.slow
@seed(SEED)
@settings(
    max_examples=EXAMPLES,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(CASES)
def test_chainfsm_is_never_looser_than_libcni_and_its_chains_load_as_rendered(
    libcni_oracle: libcni_loader.Oracle, case: Case
) -> None:
    assert problems(case, libcni_oracle) == []


def test_libcni_loads_a_refused_example_only_of_rules_the_docs_mark_stricter(
    libcni_oracle: libcni_loader.Oracle,
) -> None:
    loads: dict[str, list[bool]] = {}
    for _, name, data, rule in test_validation.BROKEN:
        with conf_dir({os.fsencode(name): data}) as directory:
            loads.setdefault(rule.value, []).append(libcni_oracle.load(directory).ok)
    marked = {rule for rule, cell in documented_rules().items() if "stricter" in cell}
    assert {rule for rule, loaded in loads.items() if any(loaded)} == marked & set(loads)
