"""The ports common components hold on an AKS node's host network (tests/testdata/host-ports.json),
and whether a container's ports stay clear of them."""

from __future__ import annotations

import json

from tests.support.constants import TESTDATA
from tests.support.manifests import Doc

KNOWN = json.loads((TESTDATA / "host-ports.json").read_text())


def clashes(container: Doc) -> list[str]:
    """Why each port the container declares may be taken on the node (empty: none is)."""
    found = []
    for declared in container.get("ports", []):
        port = int(declared["containerPort"])
        if (owner := KNOWN["ports"].get(str(port))) is not None:
            found.append(f"{port} is {owner}'s")
        for span, owner in KNOWN["ranges"].items():
            low, high = (int(end) for end in span.split("-"))
            if low <= port <= high:
                found.append(f"{port} is in {span}: {owner}")
    return found
