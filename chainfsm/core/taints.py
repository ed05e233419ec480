"""The start-up taint (``--untaint``), pure: what removing ours from a node's taint list
leaves, and the JSON patch that does it safely. No I/O here; the API calls are in
``edge.nodes`` and the task that makes them in ``process.untainting``. Imported only with
``--untaint`` (its dataclasses cost start-up time); which keys are legal is in
``taint_keys``, which the settings import."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Taints = tuple[Mapping[str, Any], ...]


@dataclass(frozen=True, slots=True)
class Removal:
    """What removing ``key`` from a node's taints means, as read."""

    #: The taint list as read (None: the node has no ``spec.taints`` at all).
    read: Taints | None
    #: The taints of others, in their order: what the list becomes.
    kept: Taints
    #: Ours (every effect of our key).
    removed: Taints

    @property
    def needed(self) -> bool:
        return bool(self.removed)

    def patch(self) -> list[dict[str, Any]]:
        """The JSON patch (RFC 6902) that removes ours only if the list is still as read:
        ``test`` then ``replace``. A change by anyone else in between fails the ``test``
        (the API answers 422) instead of being overwritten; the caller reads again."""
        assert self.read is not None
        assert self.needed
        return [
            {"op": "test", "path": "/spec/taints", "value": [dict(t) for t in self.read]},
            {"op": "replace", "path": "/spec/taints", "value": [dict(t) for t in self.kept]},
        ]


def removal(node: Mapping[str, Any], key: str) -> Removal:
    """What removing every taint with ``key`` from ``node`` (a Node object as the API returns
    it) takes. Pure."""
    spec = node.get("spec")
    listed = spec.get("taints") if isinstance(spec, Mapping) else None
    if not isinstance(listed, Sequence) or isinstance(listed, str):
        return Removal(None, (), ())
    read = tuple(t for t in listed if isinstance(t, Mapping))
    if len(read) != len(listed):  # not the API's shape: refuse to rewrite it
        return Removal(None, (), ())
    ours = tuple(t for t in read if t.get("key") == key)
    kept = tuple(t for t in read if t.get("key") != key)
    return Removal(read, kept, ours)


def describe(taints: Taints) -> str:
    """Taints as kubectl shows them: ``key=value:Effect``, comma-separated. Pure."""
    shown = []
    for taint in taints:
        value = taint.get("value")
        shown.append(f"{taint.get('key')}{'=' + str(value) if value else ''}:{taint.get('effect')}")
    return ", ".join(shown)


@dataclass(frozen=True, slots=True)
class View:
    """What the untaint task knows, for the metrics and the dump."""

    key: str
    node: str
    #: True while our taint is on the node or may be (not read yet, or the API not
    #: answering); False once read absent or removed.
    present: bool
    #: True once the API said the node has none left (removed, or there was none).
    done: bool
    #: The taints we removed (``key=value:Effect``), once removed.
    removed: str | None
    #: The last problem with the API, until the next success.
    last_error: str | None
    #: Calls to the API so far (reads and patches).
    calls: int
