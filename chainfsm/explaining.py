"""``chainfsm explain``: why a node's CNI conf dir does or does not run our chain.

``explain`` is purely computational (a listing, file contents and which binaries exist in,
an Explanation out); ``look`` does the reads, with or without the agent running. The verdict
is said in the runtime's own terms, because that is what the operator sees on the node.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from chainfsm import chaining, discovery, reading, validation, verification
from chainfsm.validation import NetworkList, Refusal
from chainfsm.verification import Effect


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
    missing_binaries: tuple[str, ...]
    leftovers: tuple[str, ...]
    effect: str
    effective: bool
    verdict: str

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


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


def _verdict(name: str, data: reading.Read) -> NetworkList | Refusal:
    if data is None:
        return Refusal(name, validation.Rule.UNREADABLE, "vanished while read")
    if isinstance(data, Refusal):
        return data
    return validation.validate(name, data)


def _sentence(refusal: Refusal) -> str:
    return f"{refusal.file} {refusal.detail}"


def explain(
    net_dir: str,
    names: Iterable[str],
    contents: Mapping[str, reading.Read],
    output: str,
    plugin: Mapping[str, Any],
    pattern: str | None = None,
    bin_dir: str | None = None,
    binaries: Mapping[str, bool] | None = None,
) -> Explanation:
    """The whole story of a conf dir for our chain. Pure.

    ``contents`` holds what was read of every config file; ``binaries`` whether each plugin
    type is an executable in ``bin_dir`` (None: the bin dir was not checked).
    """
    names = list(names)
    order = discovery.runtime_order(names)
    verdicts = {name: _verdict(name, contents.get(name)) for name in order}
    primary = discovery.find_primary(names, output, pattern)
    primary_verdict = verdicts.get(primary) if primary else None
    rendered: bytes | Refusal | None = None
    expected: list[dict[str, Any]] | None = None
    if isinstance(primary_verdict, NetworkList):
        rendered = chaining.render(primary_verdict, plugin, output)
        expected = chaining.chained_plugins(primary_verdict, plugin)
    loaded: dict[str, bytes | Refusal] = {
        name: data for name, data in contents.items() if data is not None
    }
    check = verification.verify(names, loaded, output, expected)

    files: list[FileReport] = []
    for index, name in enumerate(order):
        verdict = verdicts[name]
        roles = tuple(
            role for role, hit in (("ours", name == output), ("primary", name == primary)) if hit
        )
        if isinstance(verdict, Refusal):
            valid, rule, detail = False, str(verdict.rule), verdict.detail
        else:
            plugins = ", ".join(verdict.plugin_types)
            valid, rule, detail = True, None, f"network {verdict.name!r}, plugins [{plugins}]"
        runtime = "loads first" if index == 0 else "not reached"
        files.append(FileReport(name, index + 1, runtime, valid, rule, detail, roles))
    leftovers: list[str] = []
    for name in discovery.ignored_names(names):
        kind = leftover_kind(name, output)
        leftovers.append(f"{name}: {kind}")
        files.append(FileReport(name, None, "ignored", None, None, kind, ("leftover",)))

    status, status_detail = _output_status(check, output, names, contents, rendered)
    needed: list[str] = []
    first_verdict = verdicts.get(check.first) if check.first else None
    for source in (
        first_verdict,
        validation.validate(output, rendered) if isinstance(rendered, bytes) else None,
    ):
        if isinstance(source, NetworkList):
            needed.extend(t for t in source.plugin_types if t not in needed)
    missing = tuple(t for t in needed if binaries is not None and not binaries.get(t, False))

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
        leftovers=tuple(leftovers),
        effect=str(check.effect),
        effective=effective,
        verdict=_final(check, status, primary, primary_verdict, missing, bin_dir),
    )


def _output_status(
    check: verification.Verification,
    output: str,
    names: list[str],
    contents: Mapping[str, reading.Read],
    rendered: bytes | Refusal | None,
) -> tuple[str, str]:
    if output not in names:
        return "absent", f"{output} is not in the conf dir"
    if check.effect is Effect.BLOCKED:
        return "blocked", check.detail
    if check.effect is Effect.SHADOWED:
        return "shadowed", check.detail
    if check.effect is Effect.INVALID:
        return "invalid", check.detail
    if not isinstance(rendered, bytes):
        why = rendered.detail if isinstance(rendered, Refusal) else "there is no valid primary"
        return "unchecked", f"{output} is present; it cannot be compared because {why}"
    if contents.get(output) == rendered:
        return "current", f"{output} is exactly what chainfsm renders from the primary now"
    return "stale", f"{output} differs from what chainfsm renders from the primary now"


def _final(
    check: verification.Verification,
    status: str,
    primary: str | None,
    primary_verdict: NetworkList | Refusal | None,
    missing: tuple[str, ...],
    bin_dir: str | None,
) -> str:
    """The one-line verdict, in the runtime's terms."""
    if check.first is None:
        return (
            "the runtime will report: cni plugin not initialized, because the conf dir holds"
            " no config file"
        )
    if check.first_refusal is not None:
        return "the runtime will report: cni plugin not initialized, because " + _sentence(
            check.first_refusal
        )
    if missing:
        return (
            f"the runtime loads {check.first}, but plugin binaries {', '.join(missing)} are"
            f" missing from {bin_dir}: pods cannot start (and from cniVersion 1.1.0 the node"
            " reports NetworkReady=false)"
        )
    if primary is None:
        return (
            f"the runtime loads {check.first}, but there is no primary config: chainfsm waits"
            " for one (and withdraws its chain)"
        )
    if isinstance(primary_verdict, Refusal):
        return (
            f"the runtime loads {check.first}, but the primary {_sentence(primary_verdict)}:"
            " chainfsm waits for it to become valid"
        )
    if status == "current" and check.effective:
        return f"the runtime loads {check.first}: the chain is effective ({check.detail})"
    if status == "stale" and check.effective:
        return (
            f"the runtime loads {check.first}, with the right plugins, but it differs from what"
            " chainfsm renders now; the agent rewrites it"
        )
    return f"the runtime loads {check.first}, not our chain: {check.detail}"


def executable(bin_dir: Path, name: str) -> bool:
    """Whether ``bin_dir/name`` is a file the runtime can execute."""
    path = bin_dir / name
    return path.is_file() and os.access(path, os.X_OK)


def look(
    net_dir: Path,
    output: str,
    plugin: Mapping[str, Any],
    pattern: str | None = None,
    bin_dir: Path | None = None,
) -> Explanation:
    """Read the conf dir (and the bin dir) and explain it; OSError when it cannot be listed."""
    names = reading.list_names(net_dir)
    contents = {name: reading.read_sync(net_dir, name) for name in discovery.runtime_order(names)}
    binaries: dict[str, bool] | None = None
    if bin_dir is not None:
        types = {str(plugin["type"])}
        for name, data in contents.items():
            verdict = _verdict(name, data)
            if isinstance(verdict, NetworkList):
                types.update(verdict.plugin_types)
        binaries = {kind: executable(bin_dir, kind) for kind in types}
    return explain(
        str(net_dir),
        names,
        contents,
        output,
        plugin,
        pattern,
        str(bin_dir) if bin_dir else None,
        binaries,
    )


def _row(cells: Iterable[str], widths: list[int]) -> str:
    return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()


def text(report: Explanation) -> str:
    """The report for a person at a terminal, one line per item whatever the names hold. Pure."""
    shown = validation.printable  # a newline or escape in a file name must not break a line
    lines = [
        f"conf dir {shown(report.net_dir)}, in the runtime's order (containerd loads the first):"
    ]
    rows = [("#", "FILE", "RUNTIME", "VERDICT", "ROLE")]
    for f in report.files:
        if f.valid is None:
            verdict = f.detail
        elif f.valid:
            verdict = f"valid: {f.detail}"
        else:
            verdict = f"INVALID [{f.rule}]: {f.detail}"
        pos = str(f.position) if f.position is not None else "-"
        rows.append((pos, shown(f.name), f.runtime, shown(verdict), ", ".join(f.roles)))
    if len(rows) == 1:
        rows.append(("-", "(empty)", "", "", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(4)] + [0]
    lines += ["  " + _row(r, widths) for r in rows]
    first = (
        f"{report.first} ({'loads' if report.first_loads else 'load FAILS'})"
        if report.first
        else "none: no config file"
    )
    primary = report.primary or "none"
    if report.primary:
        primary += " (valid)" if report.primary_valid else " (INVALID)"
    if report.bin_dir is None:
        binaries = "not checked (pass --bin-dir /opt/cni/bin)"
    elif report.missing_binaries:
        binaries = f"MISSING from {report.bin_dir}: {', '.join(report.missing_binaries)}"
    else:
        binaries = f"all present in {report.bin_dir}"
    leftovers = ", ".join(n.split(": ", 1)[0] for n in report.leftovers) or "none"
    lines += [
        "",
        f"loaded first: {shown(first)}",
        f"primary:      {shown(primary)}",
        f"our output:   {report.output_status}: {shown(report.output_detail)}",
        f"binaries:     {shown(binaries)}",
        f"leftovers:    {shown(leftovers)}",
        "",
        f"verdict: {shown(report.verdict)}",
    ]
    return "\n".join(lines) + "\n"
