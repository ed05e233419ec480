"""How the reasons about a chain's plugin binaries end: what the pods wait for.

The binary check names each problem (missing, not executable, an unsupported cniVersion, an
exec that fails here); the sentence that follows must fit all of them and their number, not
only one missing plugin ("until it is installed" after three missing ones, or after a binary
that is there but cannot be run, read wrong).
"""

from __future__ import annotations

from collections.abc import Sequence

#: Between a plugin's name and the bin dir in the reason for a plugin that is not there.
NOT_IN = " is not in "


def awaited(details: Sequence[str]) -> str:
    """What the pods wait for, after "until": "it is installed" when every problem is a
    missing plugin, else "it is fixed" ("they are" for more than one). Pure."""
    subject = "it is" if len(details) == 1 else "they are"
    missing = all(NOT_IN in detail for detail in details)
    return f"{subject} {'installed' if missing else 'fixed'}"
