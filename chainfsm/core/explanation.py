"""``explain``'s verdict: why a node's CNI conf dir does or does not run our chain.

Purely computational: a listing, the contents of the config files and a binary check in, an
``Explanation`` out (``cli/explanation`` does the reads and the printing). The verdict is said
in the runtime's own terms, because that is what the operator sees on the node.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from chainfsm.core import (
    chaining,
    discovery,
    planning,
    plugin_problems,
    validation,
    verification,
)
from chainfsm.core.validation import NetworkList, Refusal
from chainfsm.core.verification import Effect

if TYPE_CHECKING:
    from chainfsm.core.confirmation import Confirmation

#: Why a chain's binaries cannot run (file, list) -> (refusals, IPAM types not in the bin dir,
#: plugins in place whose VERSION cannot be asked from here).
BinaryCheck = Callable[
    [str, Mapping[str, Any]], tuple[Sequence[Refusal], Sequence[str], Sequence[str]]
]


@dataclass(frozen=True, slots=True)
class FileReport:
    name: str
    #: Position in the runtime's order (1 is loaded first); None: the runtime ignores the file.
    position: int | None
    #: What the runtime does with it: "loads first", "not reached", "ignored".
    runtime: str
    #: None when the runtime ignores the file.
    valid: bool | None
    rule: str | None
    detail: str
    #: "ours", "primary", "leftover"
    roles: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Explanation:
    net_dir: str
    output: str
    files: tuple[FileReport, ...]
    first: str | None
    first_loads: bool
    primary: str | None
    primary_valid: bool
    #: "current", "stale", "absent", "shadowed", "blocked", "invalid", "unchecked"
    output_status: str
    output_detail: str
    bin_dir: str | None
    #: Why each plugin binary of the chain cannot run, as the agent's check says it.
    missing_binaries: tuple[str, ...]
    #: IPAM types with no binary in ``bin_dir``: information, never a failure.
    ipam_not_in_bin_dir: tuple[str, ...]
    leftovers: tuple[str, ...]
    effect: str
    effective: bool
    verdict: str
    #: Plugins in place whose VERSION check cannot run here (a script for an interpreter the
    #: agent's filesystem lacks): said, not refused, as the agent does.
    unchecked_binaries: tuple[str, ...] = ()
    #: --cri-socket: the runtime's own verdict, and where it differs from ours.
    runtime: RuntimeSide | None = None
    disagreement: str | None = None

    @property
    def agreed_effective(self) -> bool:
        """Exit 0: our chain is effective, and the runtime (when asked) says so too."""
        return self.effective and (self.runtime is None or self.runtime.confirmed)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class RuntimeSide:
    """What the runtime itself says over its CRI socket (a verbose ``Status``)."""

    socket: str
    confirmed: bool
    verdict: str
    loaded: str | None
    detail: str


def beside_runtime(report: Explanation, socket: str, answer: Confirmation) -> Explanation:
    """``report`` with the runtime's verdict beside ours. Pure."""
    from chainfsm.core.confirmation import Verdict

    side = RuntimeSide(socket, answer.confirmed, str(answer.verdict), answer.loaded, answer.detail)
    disagreement = None
    # A runtime that could not be asked has no verdict to disagree with (the exit is still 1:
    # nothing confirmed the chain).
    if report.effective != answer.confirmed and answer.verdict is not Verdict.UNASKED:
        ours = "the chain is effective" if report.effective else "the chain is not effective"
        disagreement = (
            f"chainfsm says {ours} ({report.verdict}); the runtime says otherwise: {answer.detail}"
        )
    return dataclasses.replace(report, runtime=side, disagreement=disagreement)


def leftover_kind(name: str, output: str) -> str:
    """What another writer's (or our own) non-config file is, in a few words. Pure."""
    if discovery.is_our_temp(name, output):
        return "chainfsm's temp file from a crash (the agent removes it at start)"
    if name.endswith(".tmp"):
        return "another writer's temp file (Azure CNS leaves <name><random>.tmp)"
    if name.endswith("-old"):
        return "a previous version another writer kept"
    if "bak" in name.lower():
        return "a backup another writer kept"
    return "not a config file (not .conf, .conflist or .json)"


def explain(
    net_dir: str,
    names: Iterable[str],
    contents: verification.Contents,
    output: str,
    plugin: Mapping[str, Any],
    pattern: str | None = None,
    bin_dir: str | None = None,
    binary_check: BinaryCheck | None = None,
    rewrites: Sequence[chaining.Rewrite] | None = None,
) -> Explanation:
    """The whole story of a conf dir for our chain. Pure, given a pure ``binary_check``.

    ``contents`` holds what was read of every config file; ``binary_check`` says why the
    binaries of a chain cannot run (None: the bin dir was not checked). It is asked about the
    chain the agent would write or, with no valid primary, about the list the runtime loads
    first.
    """
    names = list(names)
    order = discovery.runtime_order(names)
    verdicts = {name: validation.verdict(name, contents.get(name)) for name in order}
    primary = discovery.find_primary(names, output, pattern)
    primary_verdict = verdicts.get(primary) if primary else None
    # A --primary that matches nothing while valid configs are there: a typo, as the agent says.
    unmatched = [
        name
        for name in discovery.primary_candidates(names, output)
        if pattern is not None and primary is None and isinstance(verdicts[name], NetworkList)
    ]
    # Only a valid primary has a chain to compare against (or a reason it cannot be chained).
    plan: planning.Plan | Refusal | None = None
    expected: Sequence[Mapping[str, Any]] | None = None
    if primary is not None and isinstance(primary_verdict, NetworkList):
        plan = planning.plan(primary, contents.get(primary), plugin, output, rewrites)
        # A chain that cannot be rendered still says which plugins ours should run.
        expected = (
            plan.expected_plugins
            if isinstance(plan, planning.Plan)
            else chaining.chained_plugins(primary_verdict, plugin, rewrites)
        )
    check = verification.verify(names, contents, output, expected)

    files: list[FileReport] = []
    for index, name in enumerate(order):
        verdict = verdicts[name]
        roles = tuple(
            role for role, hit in (("ours", name == output), ("primary", name == primary)) if hit
        )
        if isinstance(verdict, Refusal):
            valid, rule, detail = False, str(verdict.rule), verdict.detail
        else:
            valid, rule, detail = True, None, verdict.summary
        runtime = "loads first" if index == 0 else "not reached"
        files.append(FileReport(name, index + 1, runtime, valid, rule, detail, roles))
    leftovers: list[str] = []
    for name in discovery.ignored_names(names):
        kind = leftover_kind(name, output)
        leftovers.append(f"{name}: {kind}")
        files.append(FileReport(name, None, "ignored", None, None, kind, ("leftover",)))

    status, status_detail = _output_status(check, output, names, contents, plan)
    first_verdict = verdicts.get(check.first) if check.first else None
    missing: tuple[str, ...] = ()
    ipam: tuple[str, ...] = ()
    unchecked: tuple[str, ...] = ()
    checked: tuple[str, Mapping[str, Any]] | None = None
    if isinstance(plan, planning.Plan):
        checked = (plan.primary, json.loads(plan.rendered))
    elif isinstance(first_verdict, NetworkList):
        checked = (first_verdict.file, first_verdict.document)
    if binary_check is not None and checked is not None:
        problems, absent, not_asked = binary_check(*checked)
        missing = tuple(p.detail for p in problems)
        ipam = tuple(absent)
        unchecked = tuple(not_asked)

    effective = check.effective and status == "current" and not missing
    return Explanation(
        net_dir=net_dir,
        output=output,
        files=tuple(files),
        first=check.first,
        first_loads=check.runtime_ready,
        primary=primary,
        primary_valid=isinstance(primary_verdict, NetworkList),
        output_status=status,
        output_detail=status_detail,
        bin_dir=bin_dir,
        missing_binaries=missing,
        ipam_not_in_bin_dir=ipam,
        leftovers=tuple(leftovers),
        effect=str(check.effect),
        effective=effective,
        verdict=_final(
            check, status, primary, primary_verdict, missing, pattern, unmatched, output
        ),
        unchecked_binaries=unchecked,
    )


def _output_status(
    check: verification.Verification,
    output: str,
    names: list[str],
    contents: verification.Contents,
    plan: planning.Plan | Refusal | None,
) -> tuple[str, str]:
    if output not in names:
        return "absent", f"{output} is not in the conf dir"
    if check.effect is Effect.BLOCKED:
        return "blocked", check.detail
    if check.effect is Effect.SHADOWED:
        return "shadowed", check.detail
    if check.effect is Effect.INVALID:
        return "invalid", check.detail
    if not isinstance(plan, planning.Plan):
        why = plan.detail if isinstance(plan, Refusal) else "there is no valid primary"
        return "unchecked", f"{output} is present; it cannot be compared because {why}"
    if contents.get(output) == plan.rendered:
        return "current", f"{output} is exactly what chainfsm renders from the primary now"
    return "stale", f"{output} differs from what chainfsm renders from the primary now"


def _final(
    check: verification.Verification,
    status: str,
    primary: str | None,
    primary_verdict: NetworkList | Refusal | None,
    missing: tuple[str, ...],
    pattern: str | None,
    unmatched: list[str],
    output: str,
) -> str:
    """The one-line verdict, in the runtime's terms."""
    if not check.runtime_ready:
        return f"the runtime will report: {check.runtime_report()}"
    if missing:
        return (
            f"the runtime loads {check.first}, but {'; '.join(missing)}: pods on this node"
            f" cannot start until {plugin_problems.awaited(missing)} (and from cniVersion 1.1.0"
            " the node reports NetworkReady=false)"
        )
    if primary is None and unmatched:
        return (
            f"the runtime loads {check.first}, but no config file matches --primary"
            f" {pattern!r} while {', '.join(unmatched)} is valid: check the glob; chainfsm"
            f" {'writes no chain' if status == 'absent' else 'keeps its chain as it is'} and"
            " does not report Verified"
        )
    if primary is None:
        return (
            f"the runtime loads {check.first}, but there is no primary config: chainfsm waits"
            " for one (and withdraws its chain)"
        )
    if isinstance(primary_verdict, Refusal):
        return (
            f"the runtime loads {check.first}, but the primary {primary_verdict.sentence}:"
            " chainfsm waits for it to become valid"
        )
    if status == "current" and check.effective:
        return f"the runtime loads {check.first}: the chain is effective ({check.detail})"
    if status == "stale" and check.effective:
        return (
            f"the runtime loads {check.first}, with the right plugins, but it differs from what"
            " chainfsm renders now; the agent rewrites it"
        )
    # The check's own words name the file the runtime loads again: said once here.
    if status == "absent":
        return f"the runtime loads {check.first}, not our chain: {output} is not in the conf dir"
    if status == "shadowed":
        return (
            f"the runtime loads {check.first}, not our chain: it sorts before {output}, which"
            " the runtime never reads"
        )
    return f"the runtime loads {check.first}, not our chain: {check.detail}"
