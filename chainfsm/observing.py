"""One look at the conf dir: the listing and the files that decide what happens next."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chainfsm import discovery, reading, verification
from chainfsm.reading import Read
from chainfsm.validation import Refusal


@dataclass(frozen=True, slots=True)
class Snapshot:
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


def link_target(path: Path) -> str | None:
    """Where ``path`` points if it is a symlink; None for anything else (or nothing)."""
    try:
        return str(path.readlink())
    except OSError:
        return None


async def observe(net_dir: Path, output: str, pattern: str | None) -> Snapshot:
    """List the dir and read the primary, our output and the file the runtime loads first.

    Each file is read once even when it plays two parts (our output is usually also first).
    """
    names = tuple(reading.list_names(net_dir))
    primary = discovery.find_primary(names, output, pattern)
    order = discovery.runtime_order(names)
    first = order[0] if order else None
    cache: dict[str, Read] = {}
    for name in (primary, output, first):
        if name is not None and name not in cache:
            cache[name] = await reading.read(net_dir, name) if name in names else None
    return Snapshot(
        output_link=link_target(net_dir / output) if output in names else None,
        names=names,
        primary=primary,
        primary_data=cache.get(primary) if primary else None,
        output_data=cache[output],
        first=first,
        first_data=cache.get(first) if first else None,
    )
