"""How the conf dir drifted from what the agent verified, and the revert window. Pure."""

from __future__ import annotations

import json

import pytest

from chainfsm.core import drift
from chainfsm.core.snapshot import Baseline, Snapshot
from chainfsm.core.validation import Refusal, Rule
from tests.support.constants import AZURE, OUTPUT

PRIMARY = json.dumps({"name": "azure", "plugins": [{"type": "azure-vnet"}]}).encode()
CHAIN = json.dumps({"name": "azure", "plugins": [{"type": "azure-vnet"}, {"type": "antrea"}]})
OURS = CHAIN.encode()
THEIRS = json.dumps({"name": "azure", "plugins": [{"type": "cilium-cni"}]}).encode()
BASELINE = Baseline(AZURE, PRIMARY, OUTPUT, OURS)


def snap(
    primary: str | None = AZURE,
    primary_data: bytes = PRIMARY,
    output_data: bytes | Refusal | None = OURS,
    first: str | None = OUTPUT,
    output_link: str | None = None,
) -> Snapshot:
    names = tuple(n for n in (primary, OUTPUT if output_data is not None else None) if n)
    return Snapshot(names, primary, primary_data, output_data, first, None, output_link)


def test_no_drift_when_the_dir_is_as_verified() -> None:
    found = drift.since(BASELINE, snap())
    assert found == drift.Drift(())
    assert found.reasons(OUTPUT) == ()
    assert not drift.conf_dir_moved(BASELINE, snap())


@pytest.mark.parametrize(
    ("now", "reasons"),
    [
        (
            snap(primary="15-azure.conflist"),
            ["the primary is now 15-azure.conflist (was 10-azure.conflist)"],
        ),
        (snap(primary_data=PRIMARY + b" "), ["10-azure.conflist changed"]),
        (
            snap(first="00-other.conflist"),
            ["00-other.conflist is now first in the runtime's order"],
        ),
        (
            snap(primary_data=b"{}", first=AZURE),
            ["10-azure.conflist changed", "10-azure.conflist is now first in the runtime's order"],
        ),
    ],
)
def test_the_primary_and_the_first_file_are_named_in_order(
    now: Snapshot, reasons: list[str]
) -> None:
    found = drift.since(BASELINE, now)
    assert list(found.reasons(OUTPUT)) == reasons
    assert found.replaced_by is None


@pytest.mark.parametrize(
    ("output_data", "what"),
    [
        (THEIRS, "a list running [cilium-cni]"),
        (None, "nothing (removed)"),
        (
            Refusal(OUTPUT, Rule.UNREADABLE, "cannot be read: EIO"),
            "a config that cannot be read: EIO",
        ),
        (b"", "a config that is empty (0 bytes)"),
        (b"  ", "a config that holds only whitespace"),
        (b'{"cniVersion":"1.0.0","name":"a","plugins":[]}', 'a config whose "plugins" is empty'),
        (
            b'{"cniVersion":"1.0.0","name":"a","plugins":[{}]}',
            'a config whose plugins[0] has no "type"',
        ),
    ],
)
def test_our_output_changed_by_someone_else_says_what_it_holds(
    output_data: bytes | Refusal | None, what: str
) -> None:
    found = drift.since(BASELINE, snap(primary_data=b"{}", output_data=output_data))
    assert (found.replaced_by, found.linked) == (what, False)
    assert found.reasons(OUTPUT) == (
        "10-azure.conflist changed",
        f"05-antrea.conflist was changed by someone else: it holds {what}",
    )
    assert drift.conf_dir_moved(BASELINE, snap(output_data=output_data))


def test_a_symlink_under_our_name_is_a_change_even_to_our_own_bytes() -> None:
    found = drift.since(BASELINE, snap(output_link="/tmp/elsewhere"))
    assert found.linked
    assert (
        found.replaced_by == "a symlink to /tmp/elsewhere, to a list running [azure-vnet, antrea]"
    )


def test_a_new_first_file_alone_does_not_end_the_wait_for_binaries() -> None:
    assert not drift.conf_dir_moved(BASELINE, snap(first="00-other.conflist"))
    assert drift.conf_dir_moved(BASELINE, snap(primary_data=b"{}"))
    assert drift.conf_dir_moved(BASELINE, snap(primary="15-azure.conflist"))


@pytest.mark.parametrize(
    ("earlier", "now", "kept"),
    [
        ((), 100.0, (100.0,)),
        ((10.0, 50.0, 90.0), 100.0, (50.0, 90.0, 100.0)),  # 10 is 90 s old, over the 60 s window
        ((40.0,), 100.0, (40.0, 100.0)),  # exactly the window: still inside
        ((1.0, 2.0), 1000.0, (1000.0,)),
    ],
)
def test_the_revert_window_keeps_the_replacements_within_it(
    earlier: tuple[float, ...], now: float, kept: tuple[float, ...]
) -> None:
    assert drift.within_window(earlier, now, 60.0) == kept
