"""How the conf dir drifted from what the agent verified, and how often someone else moved our
output: pure judgements on two looks, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from chainfsm.core import validation
from chainfsm.core.snapshot import Baseline, Read, Snapshot
from chainfsm.core.validation import Refusal


def describe(data: Read) -> str:
    """A few words on what a file holds, for naming another writer's content."""
    if data is None:
        return "nothing (removed)"
    verdict = validation.verdict("x.conflist", data)
    if isinstance(verdict, Refusal):
        # The refusal is said of the file ("is empty (0 bytes)") or of a part of it
        # ('plugins[1] has no "type"'); it follows "holds" after a noun.
        detail = verdict.detail
        if detail.startswith(('"', "plugins[")):
            return f"a config whose {detail}"
        if detail.startswith("the "):
            return f"a config in which {detail}"
        return f"a config that {detail}"
    return f"a list running [{', '.join(verdict.plugin_types)}]"


class Drift(NamedTuple):
    """What changed since the baseline, in words (a NamedTuple: cheaper than a dataclass to
    make at start-up)."""

    #: The primary and the runtime's first file, as the reasons say them.
    changes: tuple[str, ...]
    #: What our output holds now, when someone else changed it (None: it is as we left it).
    replaced_by: str | None = None
    #: Our output is now a symlink (a replacement we never back off from).
    linked: bool = False

    def reasons(self, output: str) -> tuple[str, ...]:
        """Every change, the output's last, as the change_detected reason lists them."""
        if self.replaced_by is None:
            return self.changes
        return (*self.changes, f"{output} was changed by someone else: it holds {self.replaced_by}")


def since(baseline: Baseline, snap: Snapshot) -> Drift:
    """How ``snap`` differs from ``baseline``. Pure."""
    changes = []
    if snap.primary != baseline.primary:
        changes.append(f"the primary is now {snap.primary} (was {baseline.primary})")
    elif snap.primary_data != baseline.primary_data:
        changes.append(f"{snap.primary} changed")
    if snap.first != baseline.first:
        changes.append(f"{snap.first} is now first in the runtime's order")
    if snap.output_link is None and snap.output_data == baseline.output_data:
        return Drift(tuple(changes))
    what = describe(snap.output_data)
    if snap.output_link is not None:
        # The rename in Writing replaces the link itself; its target is left alone.
        what = f"a symlink to {snap.output_link}, to {what}"
    return Drift(tuple(changes), what, linked=snap.output_link is not None)


def conf_dir_moved(baseline: Baseline, snap: Snapshot) -> bool:
    """Whether the primary or our output differs from ``baseline`` (the runtime's first file
    aside): what ends the wait for a missing plugin binary. Pure."""
    return (snap.primary, snap.primary_data, snap.output_data) != (
        baseline.primary,
        baseline.primary_data,
        baseline.output_data,
    )


def within_window(earlier: Sequence[float], now: float, window: float) -> tuple[float, ...]:
    """The times of our output's replacements still inside ``window`` seconds of ``now``,
    ``now`` included: their count says whether another writer keeps reverting us. Pure."""
    times = (*earlier, now)
    kept = 0
    while kept < len(times) and now - times[kept] > window:
        kept += 1
    return times[kept:]
