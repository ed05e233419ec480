"""A network list made of plugin types, and the first problem ``binaries.check_chain`` finds
with it in a bin dir."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chainfsm.core.validation import Refusal
from chainfsm.edge import binaries
from tests.support.constants import AZURE


def chain(version: str | None, *types: str) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": "net", "plugins": [{"type": t} for t in types]}
    if version is not None:
        doc["cniVersion"] = version
    return doc


async def refusal(bin_dir: Path, doc: dict[str, Any]) -> Refusal | None:
    """The first problem of the chain (there is at most one in these tests), or None."""
    found = await binaries.check_chain(bin_dir, AZURE, doc, binaries.VersionCache())
    assert len(found) <= 1, found
    return found[0] if found else None
