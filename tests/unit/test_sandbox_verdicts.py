"""Which sandboxes the record proves were networked without the chain, and which a repair may
stop."""

from __future__ import annotations

from chainfsm.core import chain_record, sandbox_verdicts
from chainfsm.core.chain_record import CHAINED, UNCHAINED, Span
from chainfsm.core.sandbox_verdicts import Seen

BOOT = "boot"


def sandbox(
    name: str,
    created: float,
    ready: bool = True,
    host: bool | None = False,
    ns: str = "default",
) -> Seen:
    return Seen(
        id=name * 8,
        namespace=ns,
        name=name,
        created_at=int(created * 1e9),
        ready=ready,
        host_network=host,
    )


def test_a_listing_inside_the_current_span_proves_its_verdict_for_sandboxes_made_in_it() -> None:
    record = chain_record.fresh(BOOT)
    span = Span(False, 10.0, 20.0)
    listed = [sandbox("early", 9.0), sandbox("a", 11.0), sandbox("b", 19.0)]
    record, verdicts = sandbox_verdicts.classify(record, listed, span)
    assert [s.name for s in verdicts.unchained] == ["a", "b"]
    assert verdicts.unknown == 1  # made before the span: set up before anyone looked
    assert dict(record.verdicts) == {"aaaaaaaa": UNCHAINED, "bbbbbbbb": UNCHAINED}


def test_a_chained_span_proves_chained() -> None:
    _, verdicts = sandbox_verdicts.classify(
        chain_record.fresh(BOOT), [sandbox("a", 11.0)], Span(True, 10.0, 20.0)
    )
    assert verdicts == sandbox_verdicts.Verdicts((), chained=1, unknown=0)


def test_a_proof_outlives_the_span_and_the_listing_without_a_span_proves_nothing_new() -> None:
    record, _ = sandbox_verdicts.classify(
        chain_record.fresh(BOOT), [sandbox("a", 11.0)], Span(False, 10.0, 20.0)
    )
    # Later (another run, another span, or no answer at all): "a" stays unchained; "b", set
    # up while nobody could say, is unknown.
    record, verdicts = sandbox_verdicts.classify(
        record, [sandbox("a", 11.0), sandbox("b", 25.0)], None
    )
    assert [s.name for s in verdicts.unchained] == ["a"]
    assert verdicts.unknown == 1
    assert dict(record.verdicts) == {"aaaaaaaa": UNCHAINED}


def test_host_network_sandboxes_are_never_classified_listed_or_counted() -> None:
    record, verdicts = sandbox_verdicts.classify(
        chain_record.fresh(BOOT), [sandbox("h", 11.0, host=True)], Span(False, 10.0, 20.0)
    )
    assert verdicts == sandbox_verdicts.Verdicts()
    assert dict(record.verdicts) == {}


def test_a_sandbox_whose_network_namespace_is_not_told_is_unknown_and_never_proven() -> None:
    record, verdicts = sandbox_verdicts.classify(
        chain_record.fresh(BOOT), [sandbox("m", 11.0, host=None)], Span(False, 10.0, 20.0)
    )
    assert verdicts == sandbox_verdicts.Verdicts(unknown=1)
    assert dict(record.verdicts) == {}


def test_a_sandbox_not_ready_is_not_reported_nor_proven_but_keeps_its_proof() -> None:
    record, _ = sandbox_verdicts.classify(
        chain_record.fresh(BOOT), [sandbox("a", 11.0)], Span(False, 10.0, 20.0)
    )
    stopped = [sandbox("a", 11.0, ready=False), sandbox("n", 12.0, ready=False)]
    record, verdicts = sandbox_verdicts.classify(record, stopped, Span(False, 10.0, 30.0))
    assert verdicts == sandbox_verdicts.Verdicts()
    assert dict(record.verdicts) == {"aaaaaaaa": UNCHAINED}


def test_ids_no_longer_listed_are_dropped_from_the_record() -> None:
    record = chain_record.with_verdicts(chain_record.fresh(BOOT), {"gone": CHAINED})
    record, _ = sandbox_verdicts.classify(record, [], Span(True, 1.0, 2.0))
    assert dict(record.verdicts) == {}


def test_the_unchained_are_listed_oldest_first() -> None:
    listed = [sandbox("c", 13.0), sandbox("a", 11.0), sandbox("b", 12.0)]
    _, verdicts = sandbox_verdicts.classify(
        chain_record.fresh(BOOT), listed, Span(False, 10.0, 20.0)
    )
    assert [s.name for s in verdicts.unchained] == ["a", "b", "c"]


def test_the_rate_counts_the_stops_of_the_last_minute() -> None:
    assert sandbox_verdicts.allowance([], 100.0, 5) == 5
    assert sandbox_verdicts.allowance([39.0, 50.0, 99.0], 100.0, 5) == 3
    assert sandbox_verdicts.allowance([40.0], 100.0, 1) == 1  # a minute ago: out of the window
    assert sandbox_verdicts.allowance([60.0, 70.0, 80.0], 100.0, 2) == 0


def test_excluded_namespaces_are_left_alone() -> None:
    listed = [sandbox("a", 1.0, ns="kube-system"), sandbox("b", 2.0), sandbox("c", 3.0, ns="x")]
    chosen, left = sandbox_verdicts.repairable(listed, ("kube-system", "x"))
    assert [s.name for s in chosen] == ["b"]
    assert [s.name for s in left] == ["a", "c"]
