"""Whether the runtime's own report confirms our chain: its CRI Status against what we wrote.

Purely computational: a decoded ``RuntimeStatus`` (or the one line that says why the runtime
could not be asked), our conf dir, our output's name and bytes in; a ``Confirmation`` out.

containerd says, in a verbose Status, the conf dir it reads (``cniconfig.PluginConfDir``) and
the config it loaded from it, with the file's bytes as it read them (``Config.Source``). Our
chain is confirmed only when the runtime reports NetworkReady, reads our conf dir, its last
load succeeded, and the first config it loaded is byte for byte what we wrote. A runtime that
does not say what it loaded (CRI-O's ``info`` has no ``cniconfig``) is confirmed on
NetworkReady alone, and the confirmation says so.
"""

from __future__ import annotations

import enum
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from chainfsm.core.cri_messages import CniNetwork, MalformedMessage, RuntimeStatus

#: containerd's own first network: ``lo`` in every pod, never from the conf dir.
_LOOPBACK = ("cni-loopback", ("loopback",))


class Verdict(enum.StrEnum):
    """What the runtime's report says of our chain."""

    CONFIRMED = "confirmed"  # NetworkReady, our dir, loaded ours as we wrote it
    READY_UNSAID = "ready-unsaid"  # NetworkReady; the runtime does not say what it loaded
    NOT_READY = "not-ready"  # NetworkReady is false
    LOAD_ERROR = "load-error"  # its last load of the dir failed, or loaded nothing
    OTHER_CONFIG = "other-config"  # it loaded a config that is not ours as we wrote it
    OTHER_DIR = "other-dir"  # it reads another conf dir than --net-dir
    UNASKED = "unasked"  # the runtime could not be asked, or its answer not read


#: What waiting cannot change: the runtime reloads its conf dir by itself, within tens of
#: milliseconds, so the other verdicts may be a reload still to come.
SETTLED = frozenset({Verdict.CONFIRMED, Verdict.READY_UNSAID, Verdict.OTHER_DIR, Verdict.UNASKED})


#: What says the runtime no longer loads our chain, once it did: what makes Verified go.
#: (``unasked`` does not: a runtime that cannot be asked for a moment has not changed what it
#: loaded; ``ready-unsaid`` is confirmed.)
LOST = frozenset({Verdict.NOT_READY, Verdict.LOAD_ERROR, Verdict.OTHER_CONFIG, Verdict.OTHER_DIR})

#: What each verdict proves for the chain record: our chain loaded (True), another config or
#: none (False), or nothing (None: it did not say what it loaded, it reads another dir than
#: --net-dir, which may be ours mounted elsewhere, or it could not be asked).
PROVES: Mapping[Verdict, bool | None] = MappingProxyType(
    {
        Verdict.CONFIRMED: True,
        Verdict.NOT_READY: False,
        Verdict.LOAD_ERROR: False,
        Verdict.OTHER_CONFIG: False,
        Verdict.READY_UNSAID: None,
        Verdict.OTHER_DIR: None,
        Verdict.UNASKED: None,
    }
)


@dataclass(frozen=True, slots=True)
class Confirmation:
    verdict: Verdict
    #: What the runtime loaded, in a few words; None when it does not say or was not asked.
    loaded: str | None
    #: One sentence, for the reason of a transition, the dump and ``explain``.
    detail: str

    @property
    def confirmed(self) -> bool:
        """The runtime agrees: Verified may stand (fail closed: everything else is no)."""
        return self.verdict in (Verdict.CONFIRMED, Verdict.READY_UNSAID)

    @property
    def settled(self) -> bool:
        """Asking again soon cannot change it (the runtime reloads by itself otherwise)."""
        return self.verdict in SETTLED


def unasked(why: str) -> Confirmation:
    """The runtime could not be asked (``why``: the client's one line)."""
    return Confirmation(Verdict.UNASKED, None, f"the runtime could not be asked: {why}")


def describe(network: CniNetwork) -> str:
    return f"{network.name} [{', '.join(network.plugins)}]"


def _from_dir(networks: Sequence[CniNetwork]) -> list[CniNetwork]:
    return [n for n in networks if (n.name, n.plugins) != _LOOPBACK]


def _not_ready(status: RuntimeStatus) -> str:
    found = status.condition("NetworkReady")
    if found is None:
        return "the runtime reports no NetworkReady condition"
    said = ": ".join(part for part in (found.reason, found.message) if part)
    return "the runtime reports NetworkReady=false" + (f" ({said})" if said else "")


def confirm(
    status: RuntimeStatus,
    net_dir: str,
    output: str,
    written: bytes | None,
    primary: tuple[str, bytes] | None = None,
) -> Confirmation:
    """Whether ``status`` confirms that the runtime runs ``written`` (our ``output``) from
    ``net_dir`` (resolved, as the runtime names it). ``primary``: its name and bytes, to say
    when the runtime still loads the primary alone."""
    try:
        loaded_conf = status.cni_config()
    except MalformedMessage as err:
        return unasked(f"its cniconfig cannot be read: {err}")
    load_status = status.cni_load_status
    failed_load = load_status not in (None, "OK")
    if loaded_conf is None:
        if failed_load:
            # Fail closed, as with a cniconfig below: a failed last load is not our chain loaded,
            # whatever NetworkReady says.
            return Confirmation(
                Verdict.LOAD_ERROR,
                None,
                "the runtime's last load of its conf dir failed:"
                f" {' '.join(str(load_status).split())}, and it does not say which config it"
                " loaded",
            )
        if not status.network_ready:
            return Confirmation(
                Verdict.NOT_READY,
                None,
                f"{_not_ready(status)}, and it does not say which config it loaded",
            )
        return Confirmation(
            Verdict.READY_UNSAID,
            None,
            "the runtime reports NetworkReady but does not say which config it loaded (no"
            " cniconfig in its Status): confirmed on NetworkReady alone",
        )
    theirs = posixpath.normpath(loaded_conf.plugin_conf_dir)
    ours = posixpath.normpath(net_dir)
    if theirs != ours:
        return Confirmation(
            Verdict.OTHER_DIR,
            None,
            f"the runtime reads its conf dir {theirs}, not --net-dir {ours}: the dir chainfsm"
            " writes is not the runtime's conf_dir (mount the host's conf dir at the same path,"
            " or point --net-dir at it)",
        )
    from_dir = _from_dir(loaded_conf.networks)
    first = from_dir[0] if from_dir else None
    loaded = describe(first) if first is not None else None
    if failed_load:
        return Confirmation(
            Verdict.LOAD_ERROR,
            loaded,
            f"the runtime's last load of {theirs} failed: {' '.join(str(load_status).split())}",
        )
    if not status.network_ready:
        return Confirmation(Verdict.NOT_READY, loaded, _not_ready(status))
    if first is None:
        return Confirmation(Verdict.LOAD_ERROR, None, f"the runtime loaded no config from {theirs}")
    source = first.source.encode()
    if written is not None and source == written:
        return Confirmation(
            Verdict.CONFIRMED,
            f"{output} as we wrote it, {loaded}",
            f"the runtime loaded {output} as we wrote it, running {loaded}",
        )
    instead = describe(first)
    if primary is not None and source == primary[1]:
        instead = f"the primary {primary[0]} alone, {instead}"
    elif written is not None:
        instead = f"{instead}, not {output} as we wrote it"
    return Confirmation(Verdict.OTHER_CONFIG, instead, f"the runtime loaded {instead}")


def unconfirmed_reason(answer: Confirmation, output: str) -> str:
    """Why the runtime did not confirm the chain we wrote (``output``): the reason of
    runtime_unconfirmed."""
    if answer.verdict is Verdict.UNASKED:
        return (
            f"{output} is written, but {answer.detail}; not Verified until the runtime"
            " confirms it (--cri-socket)"
        )
    if answer.verdict is Verdict.OTHER_DIR:
        return f"{output} is written, but {answer.detail}"
    return f"{output} is written and first in the dir, but {answer.detail}"
