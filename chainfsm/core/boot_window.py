"""Pure: whether the start-up window of this boot is proven "not our chain", from the boot on.

On AKS the node boots, the primary appears, the node turns Ready and pods are set up before
chainfsm's container starts (a slow image pull). Those pods ran through whatever the runtime
had loaded then, and no agent was there to ask. The record can still prove it for the first
agent run of the boot, when all of these hold:

1. no record of this boot (the file is absent, or of another boot id): no agent with the
   record has run on this boot. An unreadable record proves nothing, nor does one of this boot;
2. the agent's first look, before its first write, finds nothing under our output's name. A
   file there, whatever it holds, may have been loaded earlier on this boot (an older chain
   left from before the reboot, a ``--once`` run without the record, another installer);
3. the runtime's first answer, taken after that look, is "not our chain" (``not-ready``,
   ``load-error`` or ``other-config``), and nothing it loaded from the conf dir runs our
   plugin's type.

Then the runtime did not load our chain from the boot to that answer: our output was not in the
dir when we first looked, we had not yet written it, and the runtime's config at the answer
does not run our plugin. What this rests on, beyond the spans' own assumption: nothing else
wrote a config running our plugin after the boot and removed it again before our first look
(e.g. a chain under our output's name, written and deleted by some other tool: a second
chainer on the node, which chainfsm does not support; or an agent of ours without the record,
earlier on this boot, that removed its output). docs/operations.md says so.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from chainfsm.core.confirmation import PROVES, Verdict
from chainfsm.core.numbers import whole_number


class Found(enum.StrEnum):
    """What the record's file held when the agent started."""

    NONE = "none"  # no file
    OTHER_BOOT = "other-boot"  # a record of another boot id
    UNREADABLE = "unreadable"  # not a record of this format
    THIS_BOOT = "this-boot"  # a record of this boot: an agent has run since the boot


#: The runtime's answers that say "not our chain" for sure (the others prove nothing).
NOT_OURS = frozenset(verdict for verdict, ours in PROVES.items() if ours is False)


def opens_at_boot(
    found: Found,
    output_present: bool | None,
    verdict: Verdict,
    loaded_plugins: Iterable[Iterable[str]],
    plugin_type: str,
) -> bool:
    """Whether the first "not our chain" span begins at the boot rather than at the answer.

    ``output_present``: whether the first look found anything under our output's name (None:
    it could not tell). ``loaded_plugins``: the plugin types of each config the runtime
    reports it loaded from the conf dir."""
    if found not in (Found.NONE, Found.OTHER_BOOT):
        return False
    if output_present is not False:
        return False
    if verdict not in NOT_OURS:
        return False
    return not any(plugin_type in plugins for plugins in loaded_plugins)


def boot_time(stat: str) -> float | None:
    """The boot's Unix time from ``/proc/stat``'s ``btime`` line (whole seconds, rounded down,
    so never after the boot); None when there is none."""
    for line in stat.splitlines():
        key, _, value = line.partition(" ")
        if key == "btime":
            seconds = whole_number(value.strip())
            return None if seconds is None else float(seconds)
    return None
