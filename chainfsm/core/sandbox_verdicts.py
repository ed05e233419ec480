"""Pure: which pod sandboxes were networked without our chain, from the record, and which of
them a repair may stop now.

A sandbox on the host network never runs CNI: it is never classified, listed or counted. A
sandbox not ready has no network to judge (a stopped one waits for the kubelet to remove it):
it is not reported. A sandbox whose network namespace the runtime does not tell is ``unknown``.
Every other sandbox is ``unchained`` or ``chained`` when the record holds
a proof for it (see chain_record), else ``unknown``: nothing proves either, e.g. it was set up
before the agent's first look on this boot, while no agent ran, or across a change of the
runtime's config.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from chainfsm.core import chain_record
from chainfsm.core.chain_record import CHAINED, UNCHAINED, Record, Span

UNKNOWN = "unknown"
#: The window of ``--repair-max-per-minute``, in seconds.
RATE_WINDOW = 60.0


@dataclass(frozen=True, slots=True)
class Seen:
    """A sandbox as the runtime lists it, with its network namespace's mode."""

    id: str
    namespace: str
    name: str
    #: Unix nanoseconds, as the CRI gives it.
    created_at: int
    ready: bool
    #: None when the runtime did not say which network namespace the sandbox has.
    host_network: bool | None

    @property
    def created(self) -> float:
        return self.created_at / 1e9

    @property
    def pod(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class Verdicts:
    """One pass's verdicts on the ready sandboxes not on the host network."""

    unchained: tuple[Seen, ...] = ()
    chained: int = 0
    unknown: int = 0


def proven(span: Span | None, sandbox: Seen) -> str | None:
    """The verdict a listing proves: ``span`` is the runtime's current span, still current
    after the listing; a sandbox listed ready that was created inside it was set up inside
    it. None when the listing proves nothing."""
    if span is None or not sandbox.ready or sandbox.created < span.since:
        return None
    return CHAINED if span.chained else UNCHAINED


def classify(record: Record, listed: Iterable[Seen], span: Span | None) -> tuple[Record, Verdicts]:
    """The record with this listing's proofs (and without the ids no longer listed), and the
    verdicts on the ready sandboxes. ``span``: the record's current span if an answer taken
    after the listing continued it, else None."""
    kept: dict[str, str] = {}
    unchained: list[Seen] = []
    chained = unknown = 0
    for sandbox in listed:
        if sandbox.host_network:
            continue
        if sandbox.host_network is None:
            # Perhaps on the host network, which never runs CNI: never proven, never stopped.
            if sandbox.ready:
                unknown += 1
            continue
        verdict = record.verdicts.get(sandbox.id) or proven(span, sandbox)
        if verdict is not None:
            kept[sandbox.id] = verdict
        if not sandbox.ready:
            continue
        if verdict == UNCHAINED:
            unchained.append(sandbox)
        elif verdict == CHAINED:
            chained += 1
        else:
            unknown += 1
    unchained.sort(key=lambda s: (s.created_at, s.id))
    return chain_record.with_verdicts(record, kept), Verdicts(tuple(unchained), chained, unknown)


def allowance(stopped_at: Sequence[float], now: float, per_minute: int) -> int:
    """How many more stops the rate allows at ``now``, given the times of earlier stops."""
    recent = sum(1 for at in stopped_at if now - at < RATE_WINDOW)
    return max(0, per_minute - recent)


def repairable(
    unchained: Iterable[Seen], excluded_namespaces: Collection[str]
) -> tuple[tuple[Seen, ...], tuple[Seen, ...]]:
    """The unchained sandboxes a repair may stop, oldest first, and those it must leave
    because their namespace is excluded."""
    chosen = tuple(s for s in unchained if s.namespace not in excluded_namespaces)
    left = tuple(s for s in unchained if s.namespace in excluded_namespaces)
    return chosen, left
