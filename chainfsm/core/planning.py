"""The plan: the chain to write for one primary, judged in one place for every caller.

Purely computational and deterministic: the primary's name, what one read of it gave, and the
chain's settings (plugin, output name, rewrites) in; the ``Plan`` the agent writes (and
``render`` prints, ``explain`` compares against) or the one refusal that says why there is none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from chainfsm.core import chaining, validation
from chainfsm.core.validation import NetworkList, Refusal


# A NamedTuple, not a frozen dataclass: made at import, where each dataclass costs every
# start-up about half a millisecond (docs/performance.md, "Start-up in issue 21").
class Plan(NamedTuple):
    """What Validating found and Writing writes: the chain for one primary's content."""

    primary: str
    primary_data: bytes
    rendered: bytes
    expected_plugins: tuple[dict[str, Any], ...]
    #: The runtime's verdict on ``rendered`` under our output's name, made once: verification
    #: takes it for our output as read back when the bytes are the same.
    rendered_verdict: NetworkList
    #: The --rewrite edits applied to the primary's plugins in the chain, described.
    rewritten: tuple[str, ...] = ()

    @property
    def judged(self) -> tuple[bytes, NetworkList]:
        """Our bytes and the verdict on them, for ``verification.verify``."""
        return self.rendered, self.rendered_verdict


def plan(
    primary: str,
    data: bytes | Refusal | None,
    plugin: Mapping[str, Any],
    output: str,
    rewrites: Sequence[chaining.Rewrite] | None = None,
) -> Plan | Refusal:
    """The chain for the primary named ``primary`` as one read of it gave it (None: it is not
    there), chained with ``plugin`` into ``output`` with ``rewrites`` (None: ``rewrites_for``
    the plugin); or why the primary cannot be chained. Pure."""
    verdict = validation.verdict(primary, data)
    if isinstance(verdict, Refusal):
        return verdict
    assert isinstance(data, bytes)  # only bytes validate
    # The chain once: its plugins are both what is written and what verification expects.
    expected, applied = chaining.chain(verdict, plugin, rewrites)
    made = chaining.render_chain(verdict, expected, output)
    if isinstance(made, Refusal):
        return made
    rendered, rendered_verdict = made
    return Plan(primary, data, rendered, tuple(expected), rendered_verdict, tuple(applied))
