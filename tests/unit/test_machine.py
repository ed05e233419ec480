"""The machine: its transitions logged, kept, told and counted, and the one frozen
status the probes, the metrics and the dump read. Time is faked, never slept."""

from __future__ import annotations

import dataclasses
import itertools
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from chainfsm.agent.machine import Machine
from chainfsm.agent.status import Status
from chainfsm.core.states import State, Transition, Trigger
from chainfsm.core.times import iso
from chainfsm.settings import Settings
from tests.support.constants import AZURE, OUTPUT


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Wall-clock seconds 100, 200, 300... one per reading."""
    ticks = itertools.count(100, 100)
    monkeypatch.setattr(time, "time", lambda: float(next(ticks)))


def _status(book: Machine, **live: Any) -> Status:
    defaults: dict[str, Any] = {
        "ready": True,
        "stopping": False,
        "watch_armed": True,
        "primary": None,
        "chained_from": None,
        "verified_output": None,
        "binary_problems": (),
    }
    return book.status(**{**defaults, **live})


async def test_a_transition_is_logged_kept_and_told(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    book = Machine(Settings(net_dir=tmp_path))
    told: list[Transition] = []
    book.listeners.append(told.append)
    book.attempt = 3
    with caplog.at_level(logging.INFO, logger="chainfsm"):
        assert await book.fire(Trigger.PRIMARY_FOUND, "10-azure.conflist is the primary", "x")
    assert book.state is State.Validating
    (record,) = book.history
    assert told == [record]
    assert (record.trigger, record.source, record.dest) == (
        "primary_found",
        "WaitingPrimary",
        "Validating",
    )
    assert (record.reason, record.primary, record.output, record.attempt) == (
        "10-azure.conflist is the primary",
        "x",
        OUTPUT,
        3,
    )
    (line,) = [r for r in caplog.records if r.msg == "transition"]
    assert line.levelno == logging.INFO
    assert line.fields == record.fields()  # type: ignore[attr-defined]


async def test_a_trigger_its_guard_refuses_leaves_no_trace(tmp_path: Path) -> None:
    book = Machine(Settings(net_dir=tmp_path, once=True))  # under --once, Failed is the end
    assert await book.fire(Trigger.WATCH_LOST, "gone", None)
    told: list[Transition] = []
    book.listeners.append(told.append)
    assert not await book.fire(Trigger.RETRY_DUE, "retrying after backoff", None)
    assert book.state is State.Failed
    assert [r.trigger for r in book.history] == ["watch_lost"]
    assert told == []


async def test_entering_failed_counts_and_keeps_the_reason_until_recovered(
    tmp_path: Path,
) -> None:
    book = Machine(Settings(net_dir=tmp_path))
    await book.fire(Trigger.PRIMARY_FOUND, "found", None)
    await book.fire(Trigger.BUDGET_SPENT, "still invalid", None, logging.ERROR)
    await book.fire(Trigger.RETRY_DUE, "retrying after backoff", None)
    await book.fire(Trigger.BUDGET_SPENT, "still invalid, again", None, logging.ERROR)
    assert (book.failures, book.last_error) == (2, "still invalid, again")
    assert book.last_trigger == "budget_spent"
    book.recovered()
    assert (book.failures, book.last_error) == (0, None)


async def test_state_since_moves_only_when_the_state_does(tmp_path: Path, clock: None) -> None:
    book = Machine(Settings(net_dir=tmp_path))
    assert (book.started, book.state_since) == (100.0, 200.0)
    await book.fire(Trigger.PRIMARY_FOUND, "found", None)
    assert book.state_since == book.history[-1].time == 300.0
    await book.fire(Trigger.PRIMARY_INVALID, "not ready yet", None)  # Validating again
    assert book.history[-1].time == 400.0
    assert book.state_since == 300.0


async def test_the_history_keeps_the_newest_and_the_status_is_a_frozen_copy(
    tmp_path: Path,
) -> None:
    book = Machine(Settings(net_dir=tmp_path, history=2))
    await book.fire(Trigger.PRIMARY_FOUND, "found", None)
    for n in range(2):
        await book.fire(Trigger.PRIMARY_INVALID, f"not ready {n}", None)
    book.retries, book.writes = 2, 1
    status = _status(book, primary=AZURE)
    assert [r.reason for r in status.history] == ["not ready 0", "not ready 1"]
    assert status.history_capacity == 2
    assert (status.state, status.retries, status.writes) == (State.Validating, 2, 1)
    assert status.primary == AZURE
    await book.fire(Trigger.PRIMARY_INVALID, "not ready 2", None)
    assert [r.reason for r in status.history] == ["not ready 0", "not ready 1"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        status.writes = 5  # type: ignore[misc]


async def test_the_situation_says_the_last_error_first_and_readyz_the_last_reason(
    tmp_path: Path,
) -> None:
    book = Machine(Settings(net_dir=tmp_path, primary="15-*.conflist"))
    status = _status(book)
    assert status.situation == f"no primary config matching '15-*.conflist' in {tmp_path} yet"
    assert status.reason == "starting"
    await book.fire(Trigger.PRIMARY_FOUND, "15-azure.conflist is the primary", None)
    assert _status(book).situation == _status(book).reason == "15-azure.conflist is the primary"
    book.note_error("could not withdraw 05-antrea.conflist: read-only; retrying")
    status = _status(book, chained_from=("15-azure.conflist", b"{}"))
    assert status.situation == "could not withdraw 05-antrea.conflist: read-only; retrying"
    assert status.reason == "15-azure.conflist is the primary"
    assert (status.chained_from, status.chained_from_data) == ("15-azure.conflist", b"{}")


async def test_failing_since_is_the_first_failure_since_verified_and_readyz_says_it(
    tmp_path: Path, clock: None
) -> None:
    """A start-up still on its way says nothing of failing; once the budget is spent, every
    later status says since when (the first failure, not the latest) and how many budgets."""
    from chainfsm.process import http_endpoints

    book = Machine(Settings(net_dir=tmp_path))
    await book.fire(Trigger.PRIMARY_FOUND, "found", None)
    await book.fire(Trigger.PRIMARY_INVALID, "not ready yet: empty", None)
    starting = _status(book)
    assert starting.failing(1000.0) is None
    assert http_endpoints.readyz(starting, 1000.0).body == b"Validating: not ready yet: empty\n"
    await book.fire(Trigger.BUDGET_SPENT, "still invalid", None, logging.ERROR)
    first = book.history[-1].time
    await book.fire(Trigger.RETRY_DUE, "retrying after backoff", None)
    await book.fire(Trigger.PRIMARY_INVALID, "not ready yet: empty", None)
    await book.fire(Trigger.BUDGET_SPENT, "still invalid", None, logging.ERROR)
    await book.fire(Trigger.RETRY_DUE, "retrying after backoff", None)
    await book.fire(Trigger.PRIMARY_INVALID, "not ready yet: empty", None)
    stuck = _status(book)
    assert (stuck.failing_since, stuck.budgets_spent, stuck.failures) == (first, 2, 2)
    assert http_endpoints.readyz(stuck, first + 3725.0).body.decode() == (
        f"Validating: not ready yet: empty; failing since {iso(first)}, 1h02m ago (not"
        " Verified since): 2 entries into Failed, 2 retry budgets spent\n"
    )
    assert iso(first) == "1970-01-01T00:08:20.000+00:00"
    book.recovered()
    await book.fire(Trigger.PRIMARY_VALID, "valid", None)
    await book.fire(Trigger.OUTPUT_VERIFIED, "written", None)
    assert _status(book).failing(first + 4000.0) is None
    assert (book.failing_since, book.budgets_spent) == (None, 0)


async def test_readyz_says_an_error_only_while_it_is_newer_than_the_last_transition(
    tmp_path: Path, clock: None
) -> None:
    book = Machine(Settings(net_dir=tmp_path, primary="15-*.conflist"))
    book.note_error("no config file matches --primary '15-*.conflist'")
    assert _status(book).now == "no config file matches --primary '15-*.conflist'"
    await book.fire(Trigger.PRIMARY_FOUND, "15-azure.conflist is the primary", None)
    # The error is the situation until Verified, but not what is happening now.
    assert _status(book).situation == "no config file matches --primary '15-*.conflist'"
    assert _status(book).now == "15-azure.conflist is the primary"
