"""The runtime's rules for a CNI config file, and ours, as values.

Purely computational: bytes in, a verdict out, never an exception. The rules follow libcni 1.1
(``ConfListFromBytes``, ``ConfFromBytes``, ``ConfListFromConf``) and go-cni (``loadFromConfDir``),
the code containerd 1.6 runs. libcni decodes every plugin, and a ``.conf`` as a whole, into Go's
``NetConf``, so the JSON types of its fields are the runtime's rules too. Go matches keys without
regard to case and decodes a duplicate key twice; rather than reproduce that, we refuse such keys
(never looser than the runtime). Where libcni is lenient in ways that hurt nodes (a plugin
``type`` with a path in it, huge or deeply nested files, invalid UTF-8), we are stricter too.
Each refusal names the file and the rule it breaks.
"""

from __future__ import annotations

import enum
import functools
import json
import math
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from chainfsm.core import discovery
from chainfsm.core.escaping import has_lone_surrogate, json_string, one_line

#: Larger files are refused before parsing; real CNI configs are a few KiB.
MAX_BYTES = 1024 * 1024
#: Deeper JSON is refused; real CNI configs nest about six levels.
MAX_DEPTH = 64
#: Top-level keys of a list that must be booleans. libcni 1.1 (containerd 1.6) checks only
#: ``disableCheck`` (and refuses the string "true"); newer libcni reads the other two as well,
#: and accepts "true"/"false" strings, so a boolean is the one form every version loads.
BOOLEAN_LIST_KEYS = ("disableCheck", "disableGC", "loadOnlyInlinedPlugins")

#: The JSON keys of the Go structs libcni decodes a plugin into (``types.NetConf`` and its
#: ``IPAM`` and ``DNS``). Go's encoding/json matches them to keys in any case, and through the
#: Kelvin sign (U+212A) for k and the long s (U+017F) for s.
NETCONF_KEYS = ("cniVersion", "name", "type", "capabilities", "ipam", "dns", "prevResult")
IPAM_KEYS = ("type",)
DNS_KEYS = ("nameservers", "domain", "search", "options")


#: A CNI spec version as newer libcni parses the entries of "cniVersions". Compiled on first
#: use (re caches it), not at every start: few primaries carry "cniVersions".
_SEMVER = r"[0-9]+\.[0-9]+\.[0-9]+"


class Rule(enum.StrEnum):
    """The rule a refused file breaks; stable identifiers for logs, metrics and tests."""

    UNREADABLE = "unreadable"
    NOT_REGULAR = "not-regular-file"
    NOT_CONFIG_NAME = "extension"
    TOO_LARGE = "size"
    NOT_UTF8 = "utf-8"
    EMPTY = "empty"
    NOT_JSON = "json"
    TOO_DEEP = "nesting"
    NOT_OBJECT = "object"
    NAME = "name"
    CNI_VERSION = "cniVersion"
    PLUGINS = "plugins"
    PLUGIN = "plugin"
    TYPE = "type"
    TYPE_PATH = "type-path"
    BOOLEAN = "boolean"
    FIELD_TYPE = "field-type"
    CNI_VERSIONS = "cni-versions"
    KEY_CASE = "key-case"
    DUPLICATE_KEY = "duplicate-key"
    LIST_IN_CONF = "list-in-conf"
    PLUGIN_BINARY = "plugin-binary"


# NamedTuples, not frozen dataclasses (NetworkList too): made at import, where each dataclass
# costs every start-up about half a millisecond (docs/performance.md, "Start-up in issue 21").
class Refusal(NamedTuple):
    """Why the runtime (or we) would refuse a file: the file, the rule, one human sentence."""

    file: str
    rule: Rule
    detail: str

    def __str__(self) -> str:
        return f"{one_line(self.file)}: {self.detail}"

    @property
    def sentence(self) -> str:
        """The refusal as a sentence ("10-azure.conflist is empty (0 bytes)"), for prose."""
        return f"{one_line(self.file)} {self.detail}"


class NetworkList(NamedTuple):
    """A file the runtime accepts, seen as the list the runtime turns it into.

    ``document`` is the parsed top-level object: the list itself for a ``.conflist``, the one
    plugin for a ``.conf``/``.json`` (then ``single`` is true and ``plugins`` holds it alone).
    """

    file: str
    name: str | None
    cni_version: str | None
    plugins: tuple[dict[str, Any], ...]
    document: dict[str, Any]
    single: bool

    @property
    def plugin_types(self) -> tuple[str, ...]:
        return tuple(str(p["type"]) for p in self.plugins)

    @property
    def summary(self) -> str:
        """The list in a few words, as ``validate``, ``explain`` and the dump say it."""
        return f"network {self.name!r}, plugins [{', '.join(self.plugin_types)}]"


Verdict = NetworkList | Refusal

#: The one wording for a file that is not there when it is read (never there, or gone between
#: the listing and the read).
ABSENT = "does not exist"


def _reject_constant(token: str) -> Any:
    # Go's encoding/json has no NaN or Infinity; Python's json would accept them.
    raise ValueError(f"{token} is not JSON")


def _float64(token: str) -> float:
    # Go decodes every JSON number as a float64 and refuses one out of its range (1e999).
    value = float(token)
    if not math.isfinite(value):
        raise ValueError(f"the number {token[:20]} is out of range")
    return value


def _integer(token: str) -> int:
    _float64(token)
    return int(token)


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Go decodes every occurrence of a key (a wrong-typed first one still fails the load);
    # Python keeps only the last. We refuse the duplicate instead of guessing.
    doc = dict(pairs)
    if len(doc) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return doc


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether ``value`` nests deeper than ``limit``; iterative, so it cannot overflow."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


#: Text that may hold such an escape (a cheap test before walking the document).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def lone_surrogate(value: Any) -> str | None:
    """The first string (or key) in ``value`` holding a lone surrogate; iterative."""
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if has_lone_surrogate(item):
                return item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def too_large(file: str, size: int) -> Refusal:
    """The size cap's one wording: said from the bytes here, and by ``edge.reading`` from the
    file's size before it reads any."""
    return Refusal(file, Rule.TOO_LARGE, f"is {size} bytes, over the {MAX_BYTES}-byte cap")


def parse_object(file: str, data: bytes) -> dict[str, Any] | Refusal:
    """The bytes as one JSON object, or why they are not one."""
    if len(data) > MAX_BYTES:
        return too_large(file, len(data))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        return Refusal(file, Rule.NOT_UTF8, f"is not UTF-8 text (bad byte at offset {err.start})")
    if not text:
        return Refusal(file, Rule.EMPTY, "is empty (0 bytes)")
    if not text.strip():
        return Refusal(file, Rule.EMPTY, "holds only whitespace")
    try:
        value = json.loads(
            text,
            object_pairs_hook=_unique_pairs,
            parse_constant=_reject_constant,
            parse_float=_float64,
            parse_int=_integer,
        )
    except json.JSONDecodeError as err:
        end = len(text.rstrip())
        # A string left open also means the text stopped early (a half-written file).
        if err.pos >= end or err.msg.startswith("Unterminated string"):
            line = text.count("\n", 0, end) + 1
            column = end - (text.rfind("\n", 0, end) + 1) + 1
            return Refusal(
                file,
                Rule.NOT_JSON,
                f"is truncated JSON: it ends at line {line} column {column}, before the document"
                " does",
            )
        where = f"line {err.lineno} column {err.colno}"
        return Refusal(file, Rule.NOT_JSON, f"is not valid JSON: {err.msg} at {where}")
    except RecursionError:
        return Refusal(file, Rule.TOO_DEEP, f"nests deeper than {MAX_DEPTH} levels")
    except _DuplicateKey as err:
        return Refusal(
            file,
            Rule.DUPLICATE_KEY,
            f"holds the key {json_string(err.key)} twice in one object (the runtime decodes both)",
        )
    except ValueError as err:
        return Refusal(file, Rule.NOT_JSON, f"is not valid JSON: {err}")
    if not isinstance(value, dict):
        return Refusal(file, Rule.NOT_OBJECT, f"holds {_json_kind(value)}, not a JSON object")
    if _depth_exceeds(value, MAX_DEPTH):
        return Refusal(file, Rule.TOO_DEEP, f"nests deeper than {MAX_DEPTH} levels")
    if _SURROGATE_ESCAPE.search(text):
        lone = lone_surrogate(value)
        if lone is not None:
            # Go reads such an escape as U+FFFD: names and types would not be what we read.
            return Refusal(
                file,
                Rule.NOT_UTF8,
                f"holds the string {json_string(lone)}, whose lone surrogate escape is not text"
                " (the runtime reads it as U+FFFD)",
            )
    return value


#: The two non-ASCII letters Go's field match folds to ASCII: the Kelvin sign and the long s.
_GO_FOLDS = str.maketrans({"\u212a": "k", "\u017f": "s"})


def _go_fold(key: str) -> str:
    """``key`` as Go's case-insensitive field match sees it (for our ASCII field names)."""
    if key.isascii():  # nearly every key: one C call rather than a loop over its letters
        return key.lower()
    return "".join(c.lower() if c.isascii() else c for c in key.translate(_GO_FOLDS))


@functools.cache
def _folded(fields: tuple[str, ...]) -> dict[str, str]:
    return {_go_fold(f): f for f in fields}


def _key_case_refusal(
    file: str, where: str, doc: Mapping[str, Any], fields: tuple[str, ...]
) -> Refusal | None:
    folded = _folded(fields)
    for key in doc:
        if key in fields:
            continue  # spelled exactly
        field = folded.get(_go_fold(key))
        if field is not None:
            return Refusal(
                file,
                Rule.KEY_CASE,
                f"{where} has the key {json_string(key)}, which the runtime reads as"
                f" {json_string(field)}: spell it exactly {json_string(field)}",
            )
    return None


def _string_or_null(value: Any) -> bool:
    return value is None or isinstance(value, str)


def _field_type_refusal(file: str, where: str, doc: Mapping[str, Any]) -> Refusal | None:
    """The NetConf fields that Go cannot decode (null is fine: Go leaves the field empty)."""

    def wrong(field: str, value: Any, wanted: str) -> Refusal:
        said = f"{where} {json_string(field)} is {_json_kind(value)}, not {wanted}"
        return Refusal(file, Rule.FIELD_TYPE, said)

    for key in ("name", "cniVersion"):
        if not _string_or_null(doc.get(key)):
            return wrong(key, doc[key], "a string")
    for key in ("capabilities", "ipam", "dns", "prevResult"):
        if not (doc.get(key) is None or isinstance(doc[key], dict)):
            return wrong(key, doc[key], "an object")
    capabilities = doc.get("capabilities") or {}
    for name, value in capabilities.items():
        if not (value is None or isinstance(value, bool)):
            return wrong(f"capabilities.{name}", value, "true or false")
    dns = doc.get("dns") or {}
    # Go decodes ipam and dns into structs too: the same key matching, and one string each.
    for field, inner, keys, text in (
        ("ipam", doc.get("ipam") or {}, IPAM_KEYS, "type"),
        ("dns", dns, DNS_KEYS, "domain"),
    ):
        refusal = _key_case_refusal(file, f"{where} {json_string(field)}", inner, keys)
        if refusal:
            return refusal
        if not _string_or_null(inner.get(text)):
            return wrong(f"{field}.{text}", inner[text], "a string")
    for key in ("nameservers", "search", "options"):
        values = dns.get(key)
        if values is None:
            continue
        if not isinstance(values, list):
            return wrong(f"dns.{key}", values, "an array of strings")
        for index, value in enumerate(values):
            if not _string_or_null(value):
                return wrong(f"dns.{key}[{index}]", value, "a string")
    return None


def plugin_refusal(file: str, where: str, plugin: Any) -> Refusal | None:
    """Why ``plugin`` (found at ``where``) cannot be decoded and run by the runtime, or None.

    libcni decodes it into Go's ``NetConf``: the fields' JSON types must fit, and a key Go
    would match to a field must be spelled as the field is (ours: Go would accept ``Type``).
    """
    if not isinstance(plugin, dict):
        return Refusal(file, Rule.PLUGIN, f"{where} is {_json_kind(plugin)}, not an object")
    refusal = _key_case_refusal(file, where, plugin, NETCONF_KEYS)
    if refusal:
        return refusal
    if "type" not in plugin:
        return Refusal(file, Rule.TYPE, f'{where} has no "type"')
    kind = plugin["type"]
    if not isinstance(kind, str):
        return Refusal(file, Rule.TYPE, f'{where} "type" is {_json_kind(kind)}, not a string')
    if not kind:
        return Refusal(file, Rule.TYPE, f'{where} "type" is empty')
    # libcni would look up "../x" relative to the bin dir; a config we write must not.
    if kind in (".", "..") or "/" in kind or not kind.isprintable():
        return Refusal(
            file, Rule.TYPE_PATH, f'{where} "type" {kind!r} is not a plain binary file name'
        )
    return _field_type_refusal(file, where, plugin)


def _optional_string(file: str, doc: Mapping[str, Any], key: str, rule: Rule) -> Refusal | None:
    if key in doc and not isinstance(doc[key], str):
        return Refusal(file, rule, f'"{key}" is {_json_kind(doc[key])}, not a string')
    return None


def _validate_list(file: str, doc: dict[str, Any]) -> Verdict:
    if "name" not in doc:
        return Refusal(file, Rule.NAME, 'has no "name"')
    refusal = _optional_string(file, doc, "name", Rule.NAME) or _optional_string(
        file, doc, "cniVersion", Rule.CNI_VERSION
    )
    if refusal:
        return refusal
    for key in BOOLEAN_LIST_KEYS:  # disableCheck: libcni's rule; the other two: ours
        if key in doc and not isinstance(doc[key], bool):
            return Refusal(
                file, Rule.BOOLEAN, f'"{key}" is {_json_kind(doc[key])}, not true or false'
            )
    # libcni 1.2 and newer (containerd 2) pick the list's version from "cniVersions" and refuse
    # the list when it is not an array of version strings; 1.1 ignores it. Ours: never looser.
    versions = doc.get("cniVersions")
    if "cniVersions" in doc and not (
        isinstance(versions, list)
        and all(isinstance(v, str) and re.fullmatch(_SEMVER, v) for v in versions)
    ):
        return Refusal(
            file,
            Rule.CNI_VERSIONS,
            f'"cniVersions" is {_json_kind(versions)}, not a list of versions such as "1.1.0"',
        )
    if "plugins" not in doc:
        if "type" in doc:
            return Refusal(
                file,
                Rule.PLUGINS,
                'holds one plugin, not a list: rename it to .conf or add "plugins"',
            )
        return Refusal(file, Rule.PLUGINS, 'has no "plugins"')
    plugins = doc["plugins"]
    if not isinstance(plugins, list):
        return Refusal(file, Rule.PLUGINS, f'"plugins" is {_json_kind(plugins)}, not an array')
    if not plugins:
        return Refusal(file, Rule.PLUGINS, '"plugins" is empty')
    for index, plugin in enumerate(plugins):
        refusal = plugin_refusal(file, f"plugins[{index}]", plugin)
        if refusal:
            return refusal
    return NetworkList(
        file=file,
        name=doc["name"],
        cni_version=doc.get("cniVersion"),
        plugins=tuple(plugins),
        document=doc,
        single=False,
    )


def _validate_single(file: str, doc: dict[str, Any]) -> Verdict:
    if "plugins" in doc and "type" not in doc:
        ext = discovery.extension(file)
        return Refusal(
            file,
            Rule.LIST_IN_CONF,
            f'holds a plugin list ("plugins") but its name ends in {ext}; rename it to .conflist',
        )
    # libcni decodes a single plugin into a Go struct, where JSON null leaves a string field
    # empty: null "name" and "cniVersion" load, so they count as absent here too.
    present = {k: v for k, v in doc.items() if not (k in ("name", "cniVersion") and v is None)}
    refusal = (
        _optional_string(file, present, "name", Rule.NAME)
        or _optional_string(file, present, "cniVersion", Rule.CNI_VERSION)
        or plugin_refusal(file, "the plugin", doc)
    )
    if refusal:
        return refusal
    return NetworkList(
        file=file,
        name=present.get("name"),
        cni_version=present.get("cniVersion"),
        plugins=(doc,),
        document=doc,
        single=True,
    )


def validate(file: str, data: bytes) -> Verdict:
    """Whether the runtime would load ``data`` as the config file named ``file``.

    ``file`` is the name in the conf dir; its extension decides the format, as in go-cni.
    """
    ext = discovery.extension(file)
    if ext not in discovery.CONFIG_EXTENSIONS:
        return Refusal(
            file, Rule.NOT_CONFIG_NAME, "is not read by the runtime (not .conf, .conflist or .json)"
        )
    doc = parse_object(file, data)
    if isinstance(doc, Refusal):
        return doc
    if ext == ".conflist":
        return _validate_list(file, doc)
    return _validate_single(file, doc)


def verdict(file: str, data: bytes | Refusal | None) -> Verdict:
    """The verdict on what one read of ``file`` gave: its bytes validated, the read's own
    refusal, or (None: the file is not there) the one refusal that says so. Pure.

    Every caller that reads a file and judges it goes through here, so a missing file is said
    one way everywhere: the agent's log lines, ``validate``, ``render``, ``explain``.
    """
    if data is None:
        return Refusal(file, Rule.UNREADABLE, ABSENT)
    if isinstance(data, Refusal):
        return data
    return validate(file, data)


def valid(file: str, data: bytes | Refusal | None) -> bool:
    """Whether the runtime would load what one read of ``file`` gave. Pure."""
    return isinstance(verdict(file, data), NetworkList)
