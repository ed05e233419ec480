"""What wakes the agent, without inotify: the flags the watches and signals set, and the waits
on them. Real asyncio; every wait ends on an event (or a zero timeout), never on a clock."""

from __future__ import annotations

import asyncio

import pytest

from chainfsm.agent.wakeups import Stopping, Wakeups
from chainfsm.edge.changes import Changes
from tests.support.constants import AZURE, HANG_GUARD, OUTPUT
from tests.support.seams import ObservedWakeups


async def test_a_change_before_the_wait_ends_it_at_once_and_is_consumed() -> None:
    wakeups = Wakeups()
    wakeups.notify_change(AZURE)
    assert wakeups.pending
    assert await asyncio.wait_for(wakeups.wait(), HANG_GUARD) is True
    assert not wakeups.pending


async def test_a_change_during_the_wait_wakes_it() -> None:
    wakeups = ObservedWakeups()
    waiting = asyncio.create_task(wakeups.wait())
    # The wait has begun, with nothing to handle
    await asyncio.wait_for(wakeups.quiet(), HANG_GUARD)
    assert not waiting.done()
    wakeups.notify_change(AZURE)
    assert await asyncio.wait_for(waiting, HANG_GUARD) is True
    assert not wakeups.pending


async def test_the_clock_ends_a_wait_with_no_change() -> None:
    wakeups = Wakeups()
    assert await asyncio.wait_for(wakeups.wait(0), HANG_GUARD) is False
    assert not wakeups.ended


async def test_a_stop_request_ends_a_wait_and_keeps_the_exit_code_asked_for() -> None:
    wakeups = ObservedWakeups()
    waiting = asyncio.create_task(wakeups.wait())
    await asyncio.wait_for(wakeups.quiet(), HANG_GUARD)
    wakeups.request_stop(exit_code=1)
    assert await asyncio.wait_for(waiting, HANG_GUARD) is False
    assert wakeups.stopping
    assert wakeups.ended
    wakeups.request_stop()  # a later plain stop (SIGTERM) keeps the code asked for
    assert wakeups.exit_code == 1


async def test_a_stop_wins_over_a_pending_change() -> None:
    wakeups = Wakeups()
    wakeups.notify_change(AZURE)
    wakeups.request_stop()
    assert wakeups.exit_code is None
    assert await asyncio.wait_for(wakeups.wait(), HANG_GUARD) is False


async def test_a_lost_watch_ends_every_wait_for_good() -> None:
    wakeups = ObservedWakeups()
    waiting = asyncio.create_task(wakeups.wait())
    await asyncio.wait_for(wakeups.quiet(), HANG_GUARD)
    wakeups.lose("the watch on /etc/cni/net.d ended")
    assert await asyncio.wait_for(waiting, HANG_GUARD) is False
    assert wakeups.ended
    assert not wakeups.stopping
    assert wakeups.lost_why == "the watch on /etc/cni/net.d ended"
    # Losing the watch is also a change (rescan everything), yet no wait reports it.
    assert wakeups.pending
    assert await asyncio.wait_for(wakeups.wait(), HANG_GUARD) is False


async def test_a_retry_sleep_ends_early_on_a_change_and_raises_once_stopped() -> None:
    wakeups = ObservedWakeups()
    wakeups.notify_change(AZURE)
    # Returns on the change, not after an hour
    await asyncio.wait_for(wakeups.retry_sleep(3600.0), HANG_GUARD)
    assert not wakeups.pending
    sleeping = asyncio.create_task(wakeups.retry_sleep(3600.0))
    await asyncio.wait_for(wakeups.quiet(), HANG_GUARD)
    wakeups.request_stop()
    with pytest.raises(Stopping):
        await asyncio.wait_for(sleeping, HANG_GUARD)


async def test_a_retry_sleep_raises_when_the_watch_is_lost() -> None:
    wakeups = Wakeups()
    wakeups.lose("gone")
    with pytest.raises(Stopping):
        await asyncio.wait_for(wakeups.retry_sleep(3600.0), HANG_GUARD)


def test_only_changed_tells_a_look_at_our_own_write_from_another_change() -> None:
    wakeups = Wakeups()
    assert wakeups.only_changed(OUTPUT)  # nothing changed at all
    wakeups.notify_change(OUTPUT)
    assert wakeups.only_changed(OUTPUT)
    wakeups.notify_change(AZURE)
    assert not wakeups.only_changed(OUTPUT)
    wakeups.consume()
    assert wakeups.only_changed(OUTPUT)
    wakeups.notify_change()  # an overflow: anything may have changed
    wakeups.notify_change(OUTPUT)
    assert not wakeups.only_changed(OUTPUT)


async def test_the_tests_quiet_returns_only_while_a_wait_has_nothing_to_handle() -> None:
    wakeups = ObservedWakeups()
    quiet = asyncio.create_task(wakeups.quiet())
    await asyncio.sleep(0)  # quiet now waits for a wait to begin
    wakeups.notify_change(AZURE)
    assert (
        await asyncio.wait_for(wakeups.wait(), HANG_GUARD) is True
    )  # answered at once: the agent never idled
    await asyncio.sleep(0)  # one turn of the loop: quiet runs up to its own wait
    assert not quiet.done()
    waiting = asyncio.create_task(wakeups.wait())
    await asyncio.wait_for(quiet, HANG_GUARD)
    assert not waiting.done()
    # A change while it idles: quiet must wait for the next idle wait, not see this one.
    wakeups.notify_change(AZURE)
    again = asyncio.create_task(wakeups.quiet())
    assert await asyncio.wait_for(waiting, HANG_GUARD) is True
    assert not again.done()
    waiting = asyncio.create_task(wakeups.wait())
    await asyncio.wait_for(again, HANG_GUARD)
    wakeups.request_stop()
    assert await asyncio.wait_for(waiting, HANG_GUARD) is False


async def test_the_first_wait_arms_instead_of_waiting_when_asked() -> None:
    wakeups = Wakeups()
    armed: list[str] = []

    def arm() -> str | None:
        armed.append("armed")
        return None

    wakeups.arm_before_first_wait(arm)
    assert armed == []
    # True with no change: one may have come before the watch, so look again.
    assert await asyncio.wait_for(wakeups.wait(), HANG_GUARD) is True
    assert armed == ["armed"]
    assert (
        await asyncio.wait_for(wakeups.wait(0), HANG_GUARD) is False
    )  # from then on, a plain wait
    assert armed == ["armed"]


async def test_a_watch_that_cannot_be_armed_at_the_first_wait_is_lost() -> None:
    wakeups = Wakeups()
    wakeups.arm_before_first_wait(lambda: "cannot watch /etc/cni/net.d: Permission denied")
    assert await asyncio.wait_for(wakeups.wait(), HANG_GUARD) is False
    assert wakeups.lost_why == "cannot watch /etc/cni/net.d: Permission denied"
    with pytest.raises(Stopping):
        await asyncio.wait_for(wakeups.retry_sleep(3600.0), HANG_GUARD)


async def test_the_watches_record_is_what_the_wakeups_read_and_wait_on() -> None:
    changes = Changes()
    wakeups = Wakeups(changes)
    changes.heard(".settle-0", relevant=False)  # read, but nothing the runtime reads
    assert not wakeups.pending
    changes.heard(AZURE, relevant=True)
    assert wakeups.pending
    assert wakeups.only_changed(AZURE)
    assert await asyncio.wait_for(wakeups.wait(), HANG_GUARD) is True
    assert not changes.pending  # the wait consumed it in the record itself
    changes.lose("the watch on /etc/cni/net.d ended")
    assert wakeups.ended
    assert wakeups.lost_why == "the watch on /etc/cni/net.d ended"
