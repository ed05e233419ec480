"""What the runtime will load from the conf dir, and whether our chain is the thing it loads.

Purely computational: a listing and the contents of the files that matter in, an outcome out.
containerd loads the first config file in byte order (``max_conf_num = 1``) and aborts the
whole load when that file is invalid, so only the first file and our output matter.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from chainfsm.core import discovery, validation
from chainfsm.core.validation import NetworkList, Refusal

#: What containerd reports (NetworkReady=false, NetworkPluginNotReady) when its load fails.
NOT_INITIALIZED = "cni plugin not initialized"

#: What was read of the files that matter: bytes, a read refusal, or None for a file not there.
Contents = Mapping[str, "bytes | Refusal | None"]


class Effect(enum.StrEnum):
    """How the directory stands for our chain."""

    EFFECTIVE = "effective"  # ours is first, valid, and runs the primary's plugins plus ours
    NO_CONFIG = "no-config"  # no config file at all: the runtime loads nothing
    MISSING = "output-missing"  # ours is absent: the runtime loads another file, or nothing
    SHADOWED = "shadowed"  # a valid config of someone else sorts first: ours is never read
    BLOCKED = "blocked"  # an invalid config sorts first: the runtime loads nothing at all
    INVALID = "output-invalid"  # ours is first and invalid: the runtime loads nothing at all
    STALE = "output-stale"  # ours is first and valid but not the primary's plugins plus ours


# A NamedTuple, not a frozen dataclass: made at import, where each dataclass costs every
# start-up about half a millisecond (docs/performance.md, "Start-up in issue 21").
class Verification(NamedTuple):
    effect: Effect
    #: The file the runtime loads first, if any.
    first: str | None
    #: Why that load fails, if it does (then the runtime reports "cni plugin not initialized").
    first_refusal: Refusal | None
    #: One sentence for logs and for ``chainfsm explain``.
    detail: str

    @property
    def effective(self) -> bool:
        return self.effect is Effect.EFFECTIVE

    @property
    def runtime_ready(self) -> bool:
        """Whether the runtime's load succeeds (with our chain or without it)."""
        return self.first is not None and self.first_refusal is None

    def runtime_report(self) -> str:
        """The runtime's verdict in its own terms: the one place that says it (``explain``
        quotes it)."""
        if self.first is None:
            return f"{NOT_INITIALIZED}, because the conf dir holds no config file"
        if self.first_refusal is not None:
            return f"{NOT_INITIALIZED}, because {self.first_refusal.sentence}"
        return f"network ready, loading {self.first}"


#: Bytes already validated and the verdict on them (a plan's chain: ``Plan.judged``).
Judged = tuple[bytes, NetworkList]


def load(name: str, contents: Contents, judged: Judged | None = None) -> NetworkList | Refusal:
    """The verdict on one file from the contents the caller read (not read: not there); taken
    from ``judged`` when the file is the one judged there and holds the same bytes."""
    data = contents.get(name)
    if judged is not None and judged[1].file == name and data == judged[0]:
        return judged[1]
    return validation.verdict(name, data)


def verify(
    names: Iterable[str],
    contents: Contents,
    output: str,
    expected_plugins: Sequence[Mapping[str, Any]] | None = None,
    judged: Judged | None = None,
) -> Verification:
    """Whether the runtime, reading a directory of ``names``, would run our chain.

    ``contents`` holds the bytes (or a read refusal) of at least the first config file and of
    ``output``. With ``expected_plugins``, our output must hold exactly those plugins.
    ``judged``: bytes validated already (our chain as planned), not validated again: the
    agent reads back what it wrote, and those bytes are the plan's.
    """
    order = discovery.runtime_order(names)
    if not order:
        return Verification(Effect.NO_CONFIG, None, None, "the conf dir holds no config file")
    first = order[0]
    first_verdict = load(first, contents, judged)
    first_refusal = first_verdict if isinstance(first_verdict, Refusal) else None
    if output not in order:
        tail = f", which is invalid: {first_refusal.detail}" if first_refusal else ""
        return Verification(
            Effect.MISSING,
            first,
            first_refusal,
            f"{output} is absent; the runtime loads {first}{tail}",
        )
    if first != output:
        if first_refusal:
            return Verification(
                Effect.BLOCKED,
                first,
                first_refusal,
                f"{first} sorts before {output} and is invalid ({first_refusal.detail}),"
                " so the runtime loads nothing",
            )
        return Verification(
            Effect.SHADOWED,
            first,
            None,
            f"{first} sorts before {output}, so the runtime loads it and never reads ours",
        )
    if isinstance(first_verdict, Refusal):
        return Verification(
            Effect.INVALID, first, first_verdict, f"{first_verdict}, so the runtime loads nothing"
        )
    if expected_plugins is not None and list(first_verdict.plugins) != list(expected_plugins):
        have = ", ".join(first_verdict.plugin_types)
        want = ", ".join(str(p.get("type")) for p in expected_plugins)
        same = " (same types, other settings)" if have == want else ""
        return Verification(
            Effect.STALE, first, None, f"{output} runs [{have}], not [{want}]{same}"
        )
    return Verification(
        Effect.EFFECTIVE,
        first,
        None,
        f"{output} is first and runs [{', '.join(first_verdict.plugin_types)}]",
    )


def advice(check: Verification, output: str, primary: str | None) -> str:
    """What to do about a chain that did not verify, in one sentence: the reason of
    verify_failed and what ``render`` warns. ``primary``: the file the chain was made from,
    which must never be the thing to remove."""
    if check.effect is Effect.SHADOWED and check.first is not None and check.first == primary:
        return f"{check.detail}: {discovery.rename_advice(output, primary)}"
    if check.effect is Effect.SHADOWED:
        return (
            f"{check.detail}: remove {check.first} or choose an --output name that sorts before it"
        )
    if check.effect is Effect.BLOCKED:
        return f"{check.detail}: fix or remove {check.first}; the node stays NotReady until then"
    return f"{output} did not verify: {check.detail}; another writer may be changing it"
