"""JSON text as Go's decoder reads it: an object may hold one key twice (Python's dict would
merge them), and lone surrogates are written as escapes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Obj:
    """A JSON object as written, so one key may occur twice (Python's dict would merge them)."""

    pairs: tuple[tuple[str, Any], ...]


def render(value: Any) -> str:
    """JSON text of a generated value; lone surrogates become ``\\udXXX`` escapes."""
    if isinstance(value, Obj):
        return "{" + ",".join(f"{json.dumps(k)}:{render(v)}" for k, v in value.pairs) + "}"
    if isinstance(value, list):
        return "[" + ",".join(render(v) for v in value) + "]"
    return json.dumps(value)
