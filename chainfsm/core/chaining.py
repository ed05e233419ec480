"""The chained config: the primary's network with our plugin appended.

Purely computational and deterministic: the same primary and plugin give the same bytes, so
the agent can compare bytes to decide that nothing needs writing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from json.encoder import encode_basestring
from typing import Any, NamedTuple

from chainfsm.core import escaping, validation
from chainfsm.core.validation import NetworkList, Refusal, Rule

DEFAULT_PLUGIN: Mapping[str, Any] = {"type": "antrea"}


# A NamedTuple, not a frozen dataclass: made at import, where each dataclass costs every
# start-up about half a millisecond (docs/performance.md, "Start-up in issue 21").
class Rewrite(NamedTuple):
    """One edit of the primary's plugins in our chained copy (the primary itself is never
    touched): in every plugin of ``type`` whose ``key`` holds exactly ``old``, ``new`` instead."""

    type: str
    key: str
    old: Any
    new: Any

    def describe(self) -> str:
        return f"{self.type} {self.key!r}: {json.dumps(self.old)} -> {json.dumps(self.new)}"


#: Antrea's install-cni makes azure-vnet's "mode":"bridge" "transparent" in its chained copy:
#: networkPolicyOnly mode needs transparent mode (antrea-aks-node-init switches the node).
DEFAULT_REWRITES: tuple[Rewrite, ...] = (Rewrite("azure-vnet", "mode", "bridge", "transparent"),)


def rewrites_for(
    plugin: Mapping[str, Any], rewrites: Sequence[Rewrite] | None
) -> tuple[Rewrite, ...]:
    """The edits to make: those given, or (None, no ``--rewrite``) Antrea's own when the
    chained plugin is antrea. Only Antrea's networkPolicyOnly mode wants azure-vnet in
    transparent mode; chaining anything else after a bridge-mode node must not change it."""
    if rewrites is not None:
        return tuple(rewrites)
    return DEFAULT_REWRITES if plugin.get("type") == DEFAULT_PLUGIN["type"] else ()


def parse_plugin(text: str) -> dict[str, Any] | str:
    """The ``--plugin`` JSON as a plugin object, or a one-line reason it is not one."""
    doc = validation.parse_object("--plugin", text.encode("utf-8", "surrogateescape"))
    if isinstance(doc, Refusal):
        return str(doc)
    refusal = validation.plugin_refusal("--plugin", "the plugin", doc)
    return str(refusal) if refusal else doc


def parse_rewrites(text: str) -> tuple[Rewrite, ...] | str:
    """The ``--rewrite`` JSON (a list of ``{"type", "key", "from", "to"}`` objects) as
    rewrites, or a one-line reason it is not one. ``[]`` turns rewriting off."""
    try:
        doc = json.loads(text)
    except ValueError as err:
        return f"--rewrite is not JSON: {err}"
    if not isinstance(doc, list):
        return '--rewrite must be a JSON list of {"type", "key", "from", "to"} objects'
    if validation.lone_surrogate(doc) is not None:
        # Refused here, once and loudly, not as an unchainable primary on every look.
        return "--rewrite holds a lone surrogate escape (such as \\ud800), which is not text"
    found = []
    for index, item in enumerate(doc):
        where = f"--rewrite item {index + 1}"
        if not isinstance(item, dict) or set(item) != {"type", "key", "from", "to"}:
            return f'{where} must be an object with exactly "type", "key", "from" and "to"'
        if not all(isinstance(item[k], str) and item[k] for k in ("type", "key")):
            return f'{where}: "type" and "key" must be non-empty strings'
        if item["key"] == "type":
            return f'{where}: a rewrite may not change which binary runs (key "type")'
        found.append(Rewrite(item["type"], item["key"], item["from"], item["to"]))
    return tuple(found)


def rewrite(
    plugins: Sequence[Mapping[str, Any]], rewrites: Sequence[Rewrite]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Copies of ``plugins`` with ``rewrites`` applied as JSON edits (a key's value, wherever
    it sits among the keys, and whatever the file's spacing), and what was applied, described."""
    edited, applied = [], []
    for plugin in plugins:
        copy = dict(plugin)
        for edit in rewrites:
            if copy.get("type") == edit.type and edit.key in copy and copy[edit.key] == edit.old:
                copy[edit.key] = edit.new
                if edit.describe() not in applied:
                    applied.append(edit.describe())
        edited.append(copy)
    return edited, applied


def chain(
    primary: NetworkList, plugin: Mapping[str, Any], rewrites: Sequence[Rewrite] | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """The chain's plugins and the rewrites applied: the primary's plugins, in order and
    rewritten (``rewrites_for``), with every entry of our type replaced by ours at the end.

    An entry of our type already in the primary (someone chained into it) is dropped rather than
    duplicated, so the runtime never runs our plugin twice.
    """
    ours = plugin["type"]
    edits = rewrites_for(plugin, rewrites)
    kept, applied = rewrite([p for p in primary.plugins if p.get("type") != ours], edits)
    return [*kept, dict(plugin)], applied


def chained_plugins(
    primary: NetworkList, plugin: Mapping[str, Any], rewrites: Sequence[Rewrite] | None = None
) -> list[dict[str, Any]]:
    """The chain's plugins (see ``chain``)."""
    return chain(primary, plugin, rewrites)[0]


def dumps(value: Any, indent: str = "") -> str:
    """``json.dumps(value, indent=2, ensure_ascii=False)``, character for character, for what
    ``json.loads`` gives (objects with string keys, arrays, strings, numbers, true, false,
    null); a key that is not a string, which json.dumps would convert, raises TypeError. Pure.

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


def render(
    primary: NetworkList,
    plugin: Mapping[str, Any],
    output: str,
    rewrites: Sequence[Rewrite] | None = None,
) -> bytes | Refusal:
    """The bytes of the chained ``.conflist`` named ``output``, or why none can be made (see
    ``render_chain``)."""
    made = render_chain(primary, chained_plugins(primary, plugin, rewrites), output)
    return made if isinstance(made, Refusal) else made[0]


def render_chain(
    primary: NetworkList, plugins: Sequence[Mapping[str, Any]], output: str
) -> tuple[bytes, NetworkList] | Refusal:
    """The bytes of the chained ``.conflist`` named ``output`` that runs ``plugins`` (the
    ``chain`` made of ``primary``) and the runtime's verdict on them, or why none can be made.

    A list keeps its every top-level key (``disableCheck`` and the like) in order; a single
    plugin becomes the one-element list the runtime would make of it, keeping its
    ``cniVersion`` (forcing another broke real clusters) and all of its keys.
    """
    if primary.single:
        if primary.name is None:
            return Refusal(primary.file, Rule.NAME, 'has no "name", which a chained list needs')
        doc: dict[str, Any] = {}
        if primary.cni_version is not None:
            doc["cniVersion"] = primary.cni_version
        doc["name"] = primary.name
        doc["plugins"] = list(plugins)
    else:
        doc = {
            key: (list(plugins) if key == "plugins" else value)
            for key, value in primary.document.items()
        }
    text = dumps(doc)
    # Surrogates only occur inside JSON strings: written back as the escapes they came from.
    data = escaping.utf8(text + "\n")
    # The bytes must pass the same rules we hold others to before anyone writes them.
    verdict = validation.validate(output, data)
    if isinstance(verdict, Refusal):
        return Refusal(primary.file, verdict.rule, f"cannot be chained: {verdict}")
    return data, verdict
