"""``explain``'s verdict, judged from bytes: no conf dir, no binaries, no runtime (the command
on real dirs and binaries: tests/agent/test_explanation.py)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from chainfsm.core import chaining, planning
from chainfsm.core.confirmation import Confirmation, Verdict
from chainfsm.core.explanation import BinaryCheck, Explanation, beside_runtime, explain
from chainfsm.core.validation import Refusal, Rule
from tests.support.constants import OUTPUT
from tests.support.primaries import primary_bytes

PRIMARY = "10-azure.conflist"
PLUGIN = dict(chaining.DEFAULT_PLUGIN)


def _chain() -> bytes:
    plan = planning.plan(PRIMARY, primary_bytes(), PLUGIN, OUTPUT, chaining.DEFAULT_REWRITES)
    assert isinstance(plan, planning.Plan), str(plan)
    return plan.rendered


def _explain(
    contents: Mapping[str, bytes],
    binary_check: BinaryCheck | None = None,
    bin_dir: str | None = None,
) -> Explanation:
    return explain(
        "/etc/cni/net.d",
        list(contents),
        contents,
        OUTPUT,
        PLUGIN,
        bin_dir=bin_dir,
        binary_check=binary_check,
        rewrites=chaining.DEFAULT_REWRITES,
    )


def test_our_chain_first_and_current_is_effective() -> None:
    report = _explain({PRIMARY: primary_bytes(), OUTPUT: _chain()})
    assert (report.output_status, report.effective, report.agreed_effective) == (
        "current",
        True,
        True,
    )
    assert report.verdict.startswith("the runtime loads 05-antrea.conflist: the chain is effective")


def test_the_binary_check_is_asked_about_the_chain_the_agent_writes_and_its_words_kept() -> None:
    asked: list[tuple[str, Mapping[str, Any]]] = []
    missing = Refusal(PRIMARY, Rule.PLUGIN_BINARY, 'plugin "antrea" is not in /opt/cni/bin')

    def check(
        file: str, document: Mapping[str, Any]
    ) -> tuple[Sequence[Refusal], Sequence[str], Sequence[str]]:
        asked.append((file, document))
        return [missing], ["azure-cns"], []

    report = _explain({PRIMARY: primary_bytes(), OUTPUT: _chain()}, check, "/opt/cni/bin")
    assert asked == [(PRIMARY, json.loads(_chain()))]
    assert report.missing_binaries == (missing.detail,)
    assert report.ipam_not_in_bin_dir == ("azure-cns",)
    assert report.effective is False
    assert report.verdict == (
        'the runtime loads 05-antrea.conflist, but plugin "antrea" is not in /opt/cni/bin: pods on'
        " this node cannot start until it is installed (and from cniVersion 1.1.0 the node"
        " reports NetworkReady=false)"
    )


@pytest.mark.parametrize(
    ("ours_effective", "verdict", "disagrees", "agreed"),
    [
        (True, Verdict.CONFIRMED, False, True),
        (True, Verdict.READY_UNSAID, False, True),
        (True, Verdict.OTHER_CONFIG, True, False),
        (False, Verdict.CONFIRMED, True, False),
        (False, Verdict.NOT_READY, False, False),
        # Not asked: no verdict to disagree with, and nothing confirmed the chain.
        (True, Verdict.UNASKED, False, False),
        (False, Verdict.UNASKED, False, False),
    ],
)
def test_the_runtime_s_verdict_beside_ours(
    ours_effective: bool, verdict: Verdict, disagrees: bool, agreed: bool
) -> None:
    files = {PRIMARY: primary_bytes()} | ({OUTPUT: _chain()} if ours_effective else {})
    report = _explain(files)
    assert report.effective is ours_effective
    answer = Confirmation(verdict, None, "what the runtime said")
    both = beside_runtime(report, "/run/containerd/containerd.sock", answer)
    assert both.runtime is not None
    assert (both.runtime.verdict, both.runtime.confirmed) == (str(verdict), answer.confirmed)
    assert (both.disagreement is not None, both.agreed_effective) == (disagrees, agreed)
    if disagrees:
        ours = "effective" if ours_effective else "not effective"
        assert both.disagreement == (
            f"chainfsm says the chain is {ours} ({report.verdict}); the runtime says otherwise:"
            " what the runtime said"
        )
    assert report.runtime is None  # a new value: ours is left as it was
