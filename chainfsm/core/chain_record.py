"""Pure: the record, kept on the host, of when the runtime's loaded config was our chain.

The agent asks the runtime which config it loaded (CRI ``Status``) at every pass; each answer
says "our chain" or "not our chain". Answers in a row that agree, within one run of the agent
with no failed ask and no transition that may change the runtime's config between them, make
one span: the runtime held that verdict from the span's ``since`` (the first answer) to its
``until`` (the last). Between spans, and before the first, nothing was observed: a sandbox
whose network was set up then is ``unknown``.

The record also keeps the verdict proven for each sandbox (``verdicts``): a sandbox created
inside the span that is still current when it is listed ready had its network set up inside
that span, so with that span's config. The proof is made once and kept, so it outlives the
agent's restarts; an id the runtime no longer lists is dropped.

The record belongs to one boot of the node (``boot_id``): sandboxes do not survive a reboot,
and neither does the record (a different boot id starts a fresh record). ``observed_since`` is
when this boot's observation began: the first answer of any agent run on this boot, or the
boot itself when core/boot_window proves the start-up window (``opened_at_boot``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from chainfsm.core.boot_window import Found

#: The format of the file; another version is read as no record (a fresh start).
VERSION = 1
#: Spans kept; the oldest go first (only the dump shows them; proofs are kept apart).
MAX_SPANS = 64
CHAINED, UNCHAINED = "chained", "unchained"
_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Span:
    """Answers in a row that agreed: our chain (``chained``) or not, from ``since`` to
    ``until`` (Unix time of the first and the last answer)."""

    chained: bool
    since: float
    until: float


@dataclass(frozen=True, slots=True)
class Record:
    boot_id: str
    #: The first answer on this boot (None: none yet).
    observed_since: float | None = None
    spans: tuple[Span, ...] = ()
    #: Sandbox id to CHAINED or UNCHAINED: the verdicts proven so far.
    verdicts: Mapping[str, str] = field(default_factory=lambda: _EMPTY)

    @property
    def current(self) -> Span | None:
        return self.spans[-1] if self.spans else None

    @property
    def confirmed_since(self) -> float | None:
        """When the latest span of our chain began, if it is the current one."""
        span = self.current
        return span.since if span is not None and span.chained else None

    @property
    def lost_at(self) -> float | None:
        """When the runtime was last seen with our chain, if it has not been since."""
        chained = [s for s in self.spans if s.chained]
        if not chained or chained[-1] is self.current:
            return None
        return chained[-1].until


def fresh(boot_id: str) -> Record:
    return Record(boot_id=boot_id)


def observe(record: Record, chained: bool, at: float, continuing: bool) -> Record:
    """The record after one answer at ``at``: our chain or not. ``continuing`` says the answer
    follows the previous one in the same run with nothing failed between (else a new span
    starts: the gap is unknown)."""
    span = record.current
    if continuing and span is not None and span.chained == chained and at >= span.until:
        spans = (*record.spans[:-1], replace(span, until=at))
    else:
        spans = (*record.spans, Span(chained, at, at))[-MAX_SPANS:]
    since = record.observed_since if record.observed_since is not None else at
    return replace(record, observed_since=since, spans=spans)


def opened_at_boot(record: Record, boot: float, at: float) -> Record:
    """The record after the first answer of the boot, at ``at``, said "not our chain" and
    core/boot_window proved it held since the ``boot``: one span from the boot."""
    if record.spans or record.observed_since is not None:
        raise ValueError("only the first answer of a boot can open the record at the boot")
    since = min(boot, at)
    return replace(record, observed_since=since, spans=(Span(False, since, at),))


def with_verdicts(record: Record, verdicts: Mapping[str, str]) -> Record:
    return replace(record, verdicts=MappingProxyType(dict(verdicts)))


def encode(record: Record) -> bytes:
    doc = {
        "version": VERSION,
        "boot_id": record.boot_id,
        "observed_since": record.observed_since,
        "spans": [[s.chained, s.since, s.until] for s in record.spans],
        "verdicts": dict(sorted(record.verdicts.items())),
    }
    return json.dumps(doc, indent=1).encode() + b"\n"


class Unreadable(ValueError):
    """A record file that is not a record of this format; the reason in a few words."""


def _number(value: Any) -> float:
    # NaN and Infinity are Python's JSON, not a time: the dump could not write them as one.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Unreadable(f"{value!r} is not a time")
    return float(value)


def decode(data: bytes) -> Record:
    """The record in ``data``, or Unreadable saying why not."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise Unreadable("not JSON") from None
    if not isinstance(doc, dict) or doc.get("version") != VERSION:
        raise Unreadable(f"not a version {VERSION} record")
    boot_id, observed, spans, verdicts = (
        doc.get("boot_id"),
        doc.get("observed_since"),
        doc.get("spans"),
        doc.get("verdicts"),
    )
    if not isinstance(boot_id, str) or not isinstance(spans, list):
        raise Unreadable("no boot_id or spans")
    if not isinstance(verdicts, dict) or not all(
        isinstance(k, str) and v in (CHAINED, UNCHAINED) for k, v in verdicts.items()
    ):
        raise Unreadable("verdicts are not sandbox ids to chained or unchained")
    parsed = []
    for span in spans:
        if not isinstance(span, list) or len(span) != 3 or not isinstance(span[0], bool):
            raise Unreadable(f"span {span!r} is not [chained, since, until]")
        parsed.append(Span(span[0], _number(span[1]), _number(span[2])))
    return Record(
        boot_id=boot_id,
        observed_since=None if observed is None else _number(observed),
        spans=tuple(parsed),
        verdicts=MappingProxyType(dict(verdicts)),
    )


def found(data: bytes | None, boot_id: str) -> Found:
    """What the record's file held, for core/boot_window."""
    if data is None:
        return Found.NONE
    try:
        record = decode(data)
    except Unreadable:
        return Found.UNREADABLE
    return Found.THIS_BOOT if record.boot_id == boot_id else Found.OTHER_BOOT


def resume(data: bytes | None, boot_id: str) -> tuple[Record, str | None]:
    """The record to go on with, from the file's bytes (None: no file) on the boot
    ``boot_id``; and why the file's record was not kept (None: kept, or there was none)."""
    if data is None:
        return fresh(boot_id), None
    try:
        record = decode(data)
    except Unreadable as err:
        return fresh(boot_id), f"unreadable ({err}): starting afresh"
    if record.boot_id != boot_id:
        return fresh(boot_id), "from another boot of the node: starting afresh"
    return record, None
