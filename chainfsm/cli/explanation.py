"""``chainfsm explain``: the reads and the printing around core's ``explanation``.

``look`` does the reads, with or without the agent running, and checks the binaries with the
agent's own check (``binaries.check_chain``); ``core/explanation.explain`` judges what was read;
``text`` prints it for a person.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from chainfsm.core import chaining, discovery, escaping
from chainfsm.core.explanation import BinaryCheck, Explanation, explain
from chainfsm.core.validation import Refusal
from chainfsm.edge import binaries, reading


def bin_dir_check(bin_dir: Path) -> BinaryCheck:
    """The agent's binary check on ``bin_dir`` (it runs each binary's VERSION), with the IPAM
    types that have no binary there as information."""

    def check(
        file: str, document: Mapping[str, Any]
    ) -> tuple[Sequence[Refusal], list[str], Sequence[str]]:
        found = binaries.check_chain_now(bin_dir, file, document)
        return found.problems, binaries.absent_ipam(bin_dir, document), found.unchecked

    return check


def look(
    net_dir: Path,
    output: str,
    plugin: Mapping[str, Any],
    pattern: str | None = None,
    bin_dir: Path | None = None,
    rewrites: Sequence[chaining.Rewrite] | None = None,
) -> Explanation:
    """Read the conf dir (and the bin dir) and explain it; OSError when it cannot be listed."""
    names = reading.list_names(net_dir)
    contents = {name: reading.read(net_dir, name) for name in discovery.runtime_order(names)}
    return explain(
        str(net_dir),
        names,
        contents,
        output,
        plugin,
        pattern,
        str(bin_dir) if bin_dir else None,
        bin_dir_check(bin_dir) if bin_dir is not None else None,
        rewrites,
    )


def _row(cells: Iterable[str], widths: list[int]) -> str:
    return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()


def text(report: Explanation) -> str:
    """The report for a person at a terminal, one line per item whatever the names hold. Pure."""
    shown = escaping.one_line  # a newline or escape in a file name must not break a line
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
        bins = "not checked (pass --bin-dir /opt/cni/bin)"
    elif report.missing_binaries:
        bins = "NOT READY: " + "; ".join(report.missing_binaries)
    else:
        bins = f"every plugin of the chain is in {report.bin_dir} and speaks its cniVersion"
    if report.unchecked_binaries and not report.missing_binaries:
        bins = f"every plugin of the chain is in {report.bin_dir}"
    if report.ipam_not_in_bin_dir:
        bins += (
            f" (IPAM {', '.join(report.ipam_not_in_bin_dir)}: no binary there, which is fine"
            " when the plugin handles its IPAM itself, as azure-vnet does with azure-cns)"
        )
    if report.unchecked_binaries:
        # Last, so the IPAM note above is not read as part of the last plugin's.
        bins += f"; NOT CHECKED here: {'; '.join(report.unchecked_binaries)}"
    leftovers = ", ".join(n.split(": ", 1)[0] for n in report.leftovers) or "none"
    lines += [
        "",
        f"loaded first: {shown(first)}",
        f"primary:      {shown(primary)}",
        f"our output:   {report.output_status}: {shown(report.output_detail)}",
        f"binaries:     {shown(bins)}",
        f"leftovers:    {shown(leftovers)}",
        "",
        f"verdict: {shown(report.verdict)}",
    ]
    if report.runtime is not None:
        from chainfsm.core.confirmation import Verdict

        if report.runtime.verdict == Verdict.UNASKED:
            lines.append(f"runtime: not confirmed: {shown(report.runtime.detail)}")
        else:
            said = (
                "CONFIRMS our chain" if report.runtime.confirmed else "does NOT confirm our chain"
            )
            lines.append(
                f"runtime: {shown(report.runtime.socket)} {said}: {shown(report.runtime.detail)}"
            )
    if report.disagreement is not None:
        lines.append(f"DISAGREEMENT: {shown(report.disagreement)}")
    return "\n".join(lines) + "\n"
