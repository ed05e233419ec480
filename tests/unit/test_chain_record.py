"""The chain record: spans from the runtime's answers, its file format, and the boot it holds."""

from __future__ import annotations

import pytest

from chainfsm.core import chain_record
from chainfsm.core.chain_record import Record, Span

BOOT = "4f1a0d3e-0000-4000-8000-000000000001"


def answers(*steps: tuple[bool, float, bool]) -> Record:
    """The record after answers (ours?, at, continuing), from a fresh one."""
    record = chain_record.fresh(BOOT)
    for chained, at, continuing in steps:
        record = chain_record.observe(record, chained, at, continuing)
    return record


def test_answers_that_agree_in_one_run_make_one_span() -> None:
    record = answers(
        (False, 10.0, False), (False, 11.0, True), (True, 12.0, True), (True, 15, True)
    )
    assert record.spans == (Span(False, 10.0, 11.0), Span(True, 12.0, 15.0))
    assert record.observed_since == 10.0
    assert record.confirmed_since == 12.0
    assert record.lost_at is None


def test_an_answer_after_a_gap_starts_a_new_span_even_when_it_agrees() -> None:
    # The agent restarted (or an ask failed) between 11 and 20: nothing is known there.
    record = answers((True, 10.0, False), (True, 11.0, True), (True, 20.0, False))
    assert record.spans == (Span(True, 10.0, 11.0), Span(True, 20.0, 20.0))
    assert record.observed_since == 10.0


def test_losing_the_chain_says_when_it_was_last_seen() -> None:
    record = answers((True, 10.0, False), (True, 11.0, True), (False, 12.0, True))
    assert record.confirmed_since is None
    assert record.lost_at == 11.0


def test_spans_are_bounded_and_the_first_observation_stays() -> None:
    steps = [(i % 2 == 0, float(i), True) for i in range(chain_record.MAX_SPANS + 10)]
    record = answers(*steps)
    assert len(record.spans) == chain_record.MAX_SPANS
    assert record.spans[-1].since == float(chain_record.MAX_SPANS + 9)
    assert record.observed_since == 0.0


def test_the_file_round_trips() -> None:
    record = chain_record.with_verdicts(
        answers((False, 1.5, False), (True, 2.25, True)),
        {"b" * 64: chain_record.UNCHAINED, "a" * 64: chain_record.CHAINED},
    )
    assert chain_record.decode(chain_record.encode(record)) == record


def test_a_record_from_another_boot_is_started_afresh() -> None:
    data = chain_record.encode(answers((True, 1.0, False)))
    kept, why = chain_record.resume(data, BOOT)
    assert kept.spans
    assert why is None
    fresh, why = chain_record.resume(data, "another-boot")
    assert fresh == chain_record.fresh("another-boot")
    assert why == "from another boot of the node: starting afresh"


def test_no_file_is_a_fresh_record_and_says_nothing() -> None:
    assert chain_record.resume(None, BOOT) == (chain_record.fresh(BOOT), None)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "not JSON"),
        (b"{", "not JSON"),
        (b"[" * 100_000, "not JSON"),  # nested past the parser's depth: no RecursionError
        (b"[]", "not a version 1 record"),
        (b'{"version": 2}', "not a version 1 record"),
        (b'{"version": 1, "spans": []}', "no boot_id or spans"),
        (
            b'{"version": 1, "boot_id": "x", "spans": [[true, 1]], "verdicts": {}}',
            "is not [chained, since, until]",
        ),
        (
            b'{"version": 1, "boot_id": "x", "spans": [[true, "1", 2]], "verdicts": {}}',
            "is not a time",
        ),
        (
            b'{"version": 1, "boot_id": "x", "spans": [[true, NaN, 2]], "verdicts": {}}',
            "is not a time",
        ),
        (
            b'{"version": 1, "boot_id": "x", "observed_since": Infinity, "spans": [],'
            b' "verdicts": {}}',
            "is not a time",
        ),
        (
            b'{"version": 1, "boot_id": "x", "spans": [], "verdicts": {"a": "maybe"}}',
            "verdicts are not",
        ),
    ],
)
def test_an_unreadable_record_is_started_afresh_with_the_reason(data: bytes, why: str) -> None:
    record, reason = chain_record.resume(data, BOOT)
    assert record == chain_record.fresh(BOOT)
    assert reason is not None
    assert why in reason
    assert reason.endswith("starting afresh")
