"""The start-up window's rule (core/boot_window) as a table, and the record it opens."""

from __future__ import annotations

import pytest

from chainfsm.core import boot_window, chain_record
from chainfsm.core.boot_window import Found
from chainfsm.core.confirmation import Verdict

PRIMARY_ALONE = [("azure-vnet", "portmap")]
#: Antrea's own install-cni patches the primary in place: a chain under another name.
PATCHED = [("azure-vnet", "portmap", "antrea")]

CASES = [
    # found, output present at the first look, the first answer, what it loaded -> opens
    (Found.NONE, False, Verdict.OTHER_CONFIG, PRIMARY_ALONE, True),
    (Found.OTHER_BOOT, False, Verdict.OTHER_CONFIG, PRIMARY_ALONE, True),
    (Found.NONE, False, Verdict.NOT_READY, [], True),
    (Found.NONE, False, Verdict.LOAD_ERROR, [], True),
    (Found.NONE, False, Verdict.LOAD_ERROR, PRIMARY_ALONE, True),
    # an agent ran on this boot, or the record cannot tell
    (Found.THIS_BOOT, False, Verdict.OTHER_CONFIG, PRIMARY_ALONE, False),
    (Found.UNREADABLE, False, Verdict.OTHER_CONFIG, PRIMARY_ALONE, False),
    # something under our output's name, or it could not be told
    (Found.NONE, True, Verdict.OTHER_CONFIG, PRIMARY_ALONE, False),
    (Found.NONE, None, Verdict.OTHER_CONFIG, PRIMARY_ALONE, False),
    (Found.OTHER_BOOT, True, Verdict.NOT_READY, [], False),
    # an answer that is not "not our chain" for sure
    (Found.NONE, False, Verdict.CONFIRMED, PRIMARY_ALONE, False),
    (Found.NONE, False, Verdict.READY_UNSAID, [], False),
    (Found.NONE, False, Verdict.OTHER_DIR, [], False),
    (Found.NONE, False, Verdict.UNASKED, [], False),
    # it runs our plugin, by whoever's hand
    (Found.NONE, False, Verdict.OTHER_CONFIG, PATCHED, False),
    (Found.NONE, False, Verdict.NOT_READY, PATCHED, False),
    (Found.NONE, False, Verdict.OTHER_CONFIG, [("loopback",), *PATCHED], False),
]


@pytest.mark.parametrize(("found", "present", "verdict", "loaded", "opens"), CASES)
def test_the_window_opens_at_the_boot_only_when_all_three_hold(
    found: Found,
    present: bool | None,
    verdict: Verdict,
    loaded: list[tuple[str, ...]],
    opens: bool,
) -> None:
    assert boot_window.opens_at_boot(found, present, verdict, loaded, "antrea") is opens


@pytest.mark.parametrize(
    ("stat", "boot"),
    [
        ("cpu  1 2 3\nbtime 1764806400\nprocesses 9\n", 1764806400.0),
        ("cpu  1 2 3\n", None),
        ("btime soon\n", None),
        ("btimex 12\n", None),
    ],
)
def test_the_boot_time_is_proc_stat_s_btime(stat: str, boot: float | None) -> None:
    assert boot_window.boot_time(stat) == boot


def test_the_record_opened_at_the_boot_holds_one_span_not_ours_from_the_boot() -> None:
    record = chain_record.opened_at_boot(chain_record.fresh("b"), 100.0, 250.0)
    assert record.observed_since == 100.0
    assert record.spans == (chain_record.Span(False, 100.0, 250.0),)
    # The next answer continues it, or starts our chain.
    later = chain_record.observe(record, True, 260.0, continuing=True)
    assert later.spans[0] == chain_record.Span(False, 100.0, 250.0)
    assert later.confirmed_since == 260.0
    assert later.observed_since == 100.0


def test_only_a_record_with_no_answer_yet_can_be_opened_at_the_boot() -> None:
    record = chain_record.observe(chain_record.fresh("b"), False, 50.0, continuing=False)
    with pytest.raises(ValueError, match="first answer"):
        chain_record.opened_at_boot(record, 10.0, 60.0)


def test_what_the_record_file_held() -> None:
    ours = chain_record.encode(chain_record.fresh("this"))
    assert chain_record.found(None, "this") is Found.NONE
    assert chain_record.found(ours, "this") is Found.THIS_BOOT
    assert chain_record.found(ours, "another") is Found.OTHER_BOOT
    assert chain_record.found(b"{", "this") is Found.UNREADABLE
