"""requirements.lock (what the container image installs), read as exact pins."""

from __future__ import annotations

import re

from packaging.utils import canonicalize_name

from tests.support.constants import ROOT


def pins() -> dict[str, str]:
    """requirements.lock as {canonical name: version}."""
    found: dict[str, str] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==([^\s;]+)", line)
        assert match, f"requirements.lock: {line!r} is not an exact name==version pin"
        found[canonicalize_name(match[1])] = match[2]
    return found
