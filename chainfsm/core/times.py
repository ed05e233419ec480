"""Times as the outside reads them: the one wording of an instant and of a span. Pure."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(stamp: float) -> str:
    """A Unix time as UTC ISO 8601, to the millisecond: the dump, the record's report and
    ``explain`` say instants alike."""
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="milliseconds")


def duration(seconds: float) -> str:
    """``seconds`` as a person reads it: ``850ms``, ``42s``, ``3m12s``, ``2h05m``, ``3d04h``:
    /readyz and ``chainfsm status`` say spans alike."""
    if seconds < 1:
        return f"{max(seconds, 0.0) * 1000:.0f}ms"
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"
