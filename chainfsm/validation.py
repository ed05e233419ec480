"""The runtime's rules for a CNI config file, and ours, as values.

Purely computational: bytes in, a verdict out, never an exception. The rules follow libcni
(``ConfListFromBytes``, ``ConfFromBytes``) and go-cni (``loadFromConfDir``); where libcni is
lenient in ways that hurt nodes (a plugin ``type`` with a path in it, huge or deeply nested
files, invalid UTF-8), we are stricter. Each refusal names the file and the rule it breaks.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chainfsm import discovery

#: Larger files are refused before parsing; real CNI configs are a few KiB.
MAX_BYTES = 1024 * 1024
#: Deeper JSON is refused; real CNI configs nest about six levels.
MAX_DEPTH = 64
#: libcni rejects these top-level keys of a list when they are not booleans (libcni 1.1
#: does not accept the strings "true"/"false" that newer versions do).
BOOLEAN_LIST_KEYS = ("disableCheck", "disableGC", "loadOnlyInlinedPlugins")


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
    LIST_IN_CONF = "list-in-conf"
    PLUGIN_BINARY = "plugin-binary"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why the runtime (or we) would refuse a file: the file, the rule, one human sentence."""

    file: str
    rule: Rule
    detail: str

    def __str__(self) -> str:
        return f"{printable(self.file)}: {self.detail}"


def printable(name: str) -> str:
    """A file name fit for a one-line message: control characters (a newline in a name) are
    shown escaped, so one refusal stays one line."""
    if name.isprintable():
        return name
    return name.encode("unicode_escape", "backslashreplace").decode("ascii")


@dataclass(frozen=True, slots=True)
class NetworkList:
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


Verdict = NetworkList | Refusal


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


def parse_object(file: str, data: bytes) -> dict[str, Any] | Refusal:
    """The bytes as one JSON object, or why they are not one."""
    if len(data) > MAX_BYTES:
        return Refusal(file, Rule.TOO_LARGE, f"is {len(data)} bytes, over the {MAX_BYTES}-byte cap")
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
    except ValueError as err:
        return Refusal(file, Rule.NOT_JSON, f"is not valid JSON: {err}")
    if not isinstance(value, dict):
        return Refusal(file, Rule.NOT_OBJECT, f"holds {_json_kind(value)}, not a JSON object")
    if _depth_exceeds(value, MAX_DEPTH):
        return Refusal(file, Rule.TOO_DEEP, f"nests deeper than {MAX_DEPTH} levels")
    return value


def plugin_type_refusal(file: str, where: str, plugin: Any) -> Refusal | None:
    """Why ``plugin`` (found at ``where``) cannot be run by the runtime, or None."""
    if not isinstance(plugin, dict):
        return Refusal(file, Rule.PLUGIN, f"{where} is {_json_kind(plugin)}, not an object")
    if "type" not in plugin:
        return Refusal(file, Rule.TYPE, f'{where} has no "type"')
    kind = plugin["type"]
    if not isinstance(kind, str):
        return Refusal(file, Rule.TYPE, f'{where} "type" is {_json_kind(kind)}, not a string')
    if not kind:
        return Refusal(file, Rule.TYPE, f'{where} "type" is empty')
    # libcni would look up "../x" relative to the bin dir; a config we write must not.
    if kind in (".", "..") or "/" in kind or any(ord(c) < 0x20 or c == "\x7f" for c in kind):
        return Refusal(
            file, Rule.TYPE_PATH, f'{where} "type" {kind!r} is not a plain binary file name'
        )
    return None


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
    for key in BOOLEAN_LIST_KEYS:
        if key in doc and not isinstance(doc[key], bool):
            return Refusal(
                file, Rule.BOOLEAN, f'"{key}" is {_json_kind(doc[key])}, not true or false'
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
        refusal = plugin_type_refusal(file, f"plugins[{index}]", plugin)
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
        plugin_type_refusal(file, "the plugin", doc)
        or _optional_string(file, present, "name", Rule.NAME)
        or _optional_string(file, present, "cniVersion", Rule.CNI_VERSION)
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
