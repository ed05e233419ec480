"""The chained config: the primary's network with our plugin appended.

Purely computational and deterministic: the same primary and plugin give the same bytes, so
the agent can compare bytes to decide that nothing needs writing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from json.encoder import encode_basestring
from typing import Any

from chainfsm import validation
from chainfsm.validation import NetworkList, Refusal, Rule

DEFAULT_PLUGIN: Mapping[str, Any] = {"type": "antrea"}

#: json.loads keeps a lone "\\udXXX" escape as a lone surrogate, which UTF-8 cannot encode.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def parse_plugin(text: str) -> dict[str, Any] | str:
    """The ``--plugin`` JSON as a plugin object, or a one-line reason it is not one."""
    doc = validation.parse_object("--plugin", text.encode("utf-8", "surrogateescape"))
    if isinstance(doc, Refusal):
        return str(doc)
    refusal = validation.plugin_type_refusal("--plugin", "the plugin", doc)
    return str(refusal) if refusal else doc


def chained_plugins(primary: NetworkList, plugin: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The primary's plugins, in order, with every entry of our type replaced by ours at the end.

    An entry of our type already in the primary (someone chained into it) is dropped rather than
    duplicated, so the runtime never runs our plugin twice.
    """
    ours = plugin["type"]
    kept = [dict(p) for p in primary.plugins if p.get("type") != ours]
    return [*kept, dict(plugin)]


def dumps(value: Any, indent: str = "") -> str:
    """``json.dumps(value, indent=2, ensure_ascii=False)``, character for character. Pure.

    Given an indent, json falls back from its C encoder to a pure-Python one, and that took
    most of the agent's CPU per change in render. Here only the leaves go through json's own
    C escaper (strings) and reprs, as they do there.
    """
    if isinstance(value, str):
        return encode_basestring(value)
    if value is None or value is True or value is False:
        return "null" if value is None else "true" if value else "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return json.dumps(value)  # repr, and NaN/Infinity as json spells them
    inner = indent + "  "
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{encode_basestring(k)}: {dumps(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        return "[\n" + ",\n".join(inner + dumps(v, inner) for v in value) + "\n" + indent + "]"
    raise TypeError(f"not JSON: {type(value).__name__}")


def render(primary: NetworkList, plugin: Mapping[str, Any], output: str) -> bytes | Refusal:
    """The bytes of the chained ``.conflist`` named ``output``, or why none can be made.

    A list keeps its every top-level key (``disableCheck`` and the like) in order; a single
    plugin becomes the one-element list the runtime would make of it, keeping its
    ``cniVersion`` (forcing another broke real clusters) and all of its keys.
    """
    plugins = chained_plugins(primary, plugin)
    if primary.single:
        if primary.name is None:
            return Refusal(primary.file, Rule.NAME, 'has no "name", which a chained list needs')
        doc: dict[str, Any] = {}
        if primary.cni_version is not None:
            doc["cniVersion"] = primary.cni_version
        doc["name"] = primary.name
        doc["plugins"] = plugins
    else:
        doc = {
            key: (plugins if key == "plugins" else value) for key, value in primary.document.items()
        }
    text = dumps(doc)
    # Surrogates only occur inside JSON strings: write them back as the escapes they came from.
    text = _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    data = (text + "\n").encode("utf-8")
    # The bytes must pass the same rules we hold others to before anyone writes them.
    verdict = validation.validate(output, data)
    if isinstance(verdict, Refusal):
        return Refusal(primary.file, verdict.rule, f"cannot be chained: {verdict}")
    return data
