"""The conf dir as one look saw it, and what the agent verified there: immutable values.

Made from a listing and the reads of the few files that decide what happens next (the edge's
``confdir`` does the I/O); judged by ``drift`` and ``verification``. Pure.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import NamedTuple

from chainfsm.core import discovery, verification
from chainfsm.core.validation import Refusal

#: What a read gives: the bytes, a refusal naming why they cannot be had, or None when absent.
Read = bytes | Refusal | None


# A NamedTuple, not a frozen dataclass: made at import, where each dataclass costs every
# start-up about half a millisecond (docs/performance.md, "Start-up in issue 21").
class Snapshot(NamedTuple):
    names: tuple[str, ...]
    primary: str | None
    primary_data: Read
    output_data: Read
    first: str | None
    first_data: Read
    #: Where our output points when someone replaced it by a symlink (None: not a link).
    output_link: str | None = None

    def with_output(self, output: str) -> verification.Contents:
        """What verification needs: the first config file, the primary and our output, as
        read (each only when present)."""
        found: dict[str, bytes | Refusal] = {}
        for name, data in (
            (self.first, self.first_data),
            (self.primary, self.primary_data),
            (output, self.output_data),
        ):
            if name is not None and data is not None:
                found[name] = data
        return found


def roles(names: Iterable[str], output: str, pattern: str | None) -> tuple[str | None, str | None]:
    """In a dir of ``names``: the primary (``--primary`` ``pattern``) and the file the runtime
    loads first, the two files besides our output that a look reads."""
    primary = discovery.find_primary(names, output, pattern)
    order = discovery.runtime_order(names)
    return primary, order[0] if order else None


def sha256(data: Read) -> str | None:
    """The hex SHA-256 of a file's bytes (None when there are none)."""
    return hashlib.sha256(data).hexdigest() if isinstance(data, bytes) else None


class Baseline(NamedTuple):
    """What the agent verified in the dir: the primary its chain was made from, the file the
    runtime loaded first, and our output's bytes (None once we withdrew it). A NamedTuple:
    a dataclass would cost start-up a millisecond to make."""

    primary: str
    primary_data: bytes
    first: str | None
    output_data: bytes | None
