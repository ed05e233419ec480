"""The agent: the five states' handlers and the loop that runs them.

One task drives the machine: each state's handler looks at the conf dir, does that state's
work and fires the one trigger that follows. The inotify task only raises a flag, so a burst
of changes costs one rescan. Handlers never sleep on a clock when they can wait for the
kernel; the only timers are retry backoffs, and every one of them ends early on a change.

The plumbing is elsewhere: what wakes the agent in ``wakeups``; the machine, its history and
counters in ``machine`` (and the ``status.Status`` the outside reads); the watches in
``watching``; the conf dir's I/O (looks, writes and removals) in ``confdir.ConfDir``, which
holds none of the agent's state; the plugin binaries in ``binary_checks``; what a look saw and
what was verified in ``core.snapshot``, and what changed since in ``core.drift`` (both pure);
the exit code in ``core.exit_codes`` (``exits`` says why).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import tenacity

from chainfsm import logs
from chainfsm.agent import binary_checks, exits, machine, retry, wakeups
from chainfsm.agent.wakeups import Wakeups
from chainfsm.core import discovery, drift, exit_codes, planning, verification
from chainfsm.core.planning import Plan
from chainfsm.core.snapshot import Baseline, Read, Snapshot
from chainfsm.core.states import State, Trigger
from chainfsm.core.validation import Refusal
from chainfsm.edge import confdir, watching, writing
from chainfsm.settings import Settings

if TYPE_CHECKING:
    from chainfsm.agent.runtime_check import RuntimeCheck
    from chainfsm.agent.status import Status
    from chainfsm.core.confirmation import Confirmation
    from chainfsm.core.taints import View


class Agent:
    """The handlers of the five states and the loop.

    What it depends on is passed in, each keyword with the production default: ``wakeups``
    (holding the record of changes the watches write into), ``backoff`` (the retries' waits),
    ``conf_dir`` (the conf dir's I/O port: a test's counts its looks), and from the process
    around it: ``untaint_view`` (--untaint: the view of the task that lifts the taint) and
    ``before_first_write`` (awaited once, before the first write of this run: the sandbox
    passes' start-up look, which must see the conf dir before our chain is in it)."""

    def __init__(
        self,
        settings: Settings,
        *,
        wakeups: Wakeups | None = None,
        backoff: retry.Backoff | None = None,
        conf_dir: confdir.ConfDir | None = None,
        untaint_view: Callable[[], View] | None = None,
        before_first_write: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.settings = settings
        self.wakeups = wakeups if wakeups is not None else Wakeups()
        self.backoff = backoff if backoff is not None else retry.Backoff()
        self.machine = machine.Machine(settings)
        changes = self.wakeups.changes
        self.watches = watching.Watches(
            settings.net_dir, settings.bin_dir, changes, settings.poll_interval
        )
        self.binaries = binary_checks.BinaryChecks(settings)
        self.confdir = conf_dir if conf_dir is not None else confdir.ConfDir(settings)
        #: The primary as last seen.
        self.primary: str | None = None
        #: What the agent last verified in the conf dir (None: nothing yet).
        self.baseline: Baseline | None = None
        #: Consecutive failed removals of our output (a read-only dir): paces the retries.
        self.removal_failures = 0
        #: A look that one state hands to the next, so the next need not look again.
        self._handed: Snapshot | None = None
        #: Set once the watch is armed and the start-up cleanup is done.
        self.ready = asyncio.Event()
        self.plan: Plan | None = None
        #: When someone else replaced our output lately (monotonic seconds).
        self._reverts: tuple[float, ...] = ()
        #: --cri-socket: the runtime, asked before Verified.
        self.runtime: RuntimeCheck | None = None
        if settings.cri_socket is not None:
            # Imported only then: an agent without the socket starts no slower for it.
            from chainfsm.agent import runtime_check

            self.runtime = runtime_check.RuntimeCheck(settings, settings.cri_socket)
        self.untaint_view = untaint_view
        #: Taken (set to None) when awaited: once per run.
        self.before_first_write = before_first_write
        #: While Verified: the runtime's answer that it no longer loads our chain (None: none).
        self._runtime_lost: Confirmation | None = None

    @property
    def state(self) -> State:
        return self.machine.state

    def request_stop(self, exit_code: int | None = None) -> None:
        """Stop after the step in progress (a write in progress is finished, not cut)."""
        self.wakeups.request_stop(exit_code)

    def status(self) -> Status:
        """What the agent knows now, in one frozen value (for probes, metrics and the dump)."""
        plan = self.plan
        return self.machine.status(
            ready=self.ready.is_set(),
            stopping=self.wakeups.stopping,
            watch_armed=self.watches.armed,
            primary=self.primary,
            chained_from=(plan.primary, plan.primary_data) if plan else None,
            verified_output=self.baseline.output_data if self.baseline is not None else None,
            binary_problems=self.binaries.problems,
            binary_unchecked=self.binaries.unchecked,
            runtime=self.runtime.last if self.runtime is not None else None,
            untaint=self.untaint_view() if self.untaint_view is not None else None,
            watch_degraded=self.watches.degraded,
        )

    def runtime_said(self, answer: Confirmation, asked_at: float) -> None:
        """An answer of the runtime asked at ``asked_at`` (Unix time) by someone else than
        the agent (the sandbox passes). When it says the runtime no longer loads our chain
        while Verified, and was asked after Verified began, wake the agent to leave Verified.
        An earlier answer may predate the runtime's reload of our write: it is left alone."""
        from chainfsm.core.confirmation import LOST

        if answer.verdict not in LOST or self.state is not State.Verified:
            return
        if asked_at < self.machine.state_since:
            return
        self._runtime_lost = answer
        self.wakeups.notify_change()

    async def _fire(self, trigger: Trigger, reason: str, level: int = logging.INFO) -> bool:
        return await self.machine.fire(trigger, reason, self.primary, level)

    # -- the conf dir ---------------------------------------------------------------------

    def _look(self, consume: bool = True) -> Snapshot:
        """One look at the dir. ``consume``: this look answers every change so far, so clear
        the flag first (what happens from here on is seen by the next look). A look that only
        checks our own write must not consume while another name changed: that may be the
        primary."""
        # Before the consume: what the check reports (a poll, while inotify is out) is
        # answered by this look.
        self.watches.check_identity()
        if consume:
            self.wakeups.consume()
        return self._seen(self.confdir.look)

    def _look_at_write(self, before: Snapshot | None) -> Snapshot:
        """The look after our own write. When only our output changed since ``before`` (the
        look the write was planned from), this look answers the rename's event and needs not
        be a full one: the dir is listed again and our output and the first file read, the
        primary kept from ``before``. Otherwise a full look that consumes nothing, so the
        change to another name (that may be the primary) wakes the next one."""
        output = self.settings.output
        # First the check: while inotify is out, its poll is what reports the changes since
        # (our write, and perhaps the primary's), and must be counted in.
        self.watches.check_identity()
        if not self.wakeups.only_changed(output):
            return self._seen(self.confdir.look)
        self.wakeups.consume()
        if before is None:
            return self._seen(self.confdir.look)
        return self._seen(functools.partial(self.confdir.recheck, before))

    def _seen(self, look: Callable[[], Snapshot]) -> Snapshot:
        """Take ``look``; a dir that cannot be listed is a lost watch (``Lost`` goes on up to
        the loop, which says so)."""
        try:
            snap = look()
        except confdir.Lost as err:
            self.wakeups.lose(str(err))
            raise
        self.primary = snap.primary
        return snap

    def _hand_over(self, snap: Snapshot) -> None:
        """Leave ``snap`` for the next state."""
        self._handed = snap

    def _handed_over(self) -> Snapshot | None:
        """The look the previous state handed over, if nothing has changed since it was taken.

        A look costs a listing and two reads; the state that follows a look needs the same one.
        Taken once: a retry looks afresh."""
        snap, self._handed = self._handed, None
        return None if snap is None or self.wakeups.pending else snap

    def _record(self, removal: confdir.Removal | None) -> bool:
        """Record what a removal of our output came to; True when it failed."""
        if removal is None:
            return False
        if removal.error is not None:
            self.machine.note_error(removal.error)
            self.removal_failures += 1
            return True
        self.removal_failures = 0
        return False

    async def _withdraw(self) -> str:
        """Remove our output because no primary stands behind it; say what happened.

        A chain with no primary behind it would make the runtime report a network that the
        primary's owner says is not ready.
        """
        if self.settings.keep_on_primary_loss:
            return f"kept {self.settings.output} (--keep-on-primary-loss)"
        if self.baseline is not None:
            self.baseline = self.baseline._replace(output_data=None)
        said, removal = await self.confdir.withdraw()
        self._record(removal)
        return said

    async def _tidy_without_primary(self, data: Read, mismatch: bool) -> bool:
        """No primary behind our output (``data``): withdraw it, or, with
        --keep-on-primary-loss or a --primary that matches nothing (``mismatch``: a typo in
        the glob must not withdraw a working chain), only remove it if invalid. True while a
        removal keeps failing."""
        if data is None:
            return False
        if not mismatch and not self.settings.keep_on_primary_loss:
            logs.event("withdrawn", file=self.settings.output, reason=await self._withdraw())
            return self.removal_failures > 0
        return self._record(await self.confdir.remove_invalid_output(data, "with no primary"))

    # -- the states -----------------------------------------------------------------------

    async def _waiting_primary(self) -> None:
        snap = self._look()
        if snap.primary is not None:
            self._hand_over(snap)
            await self._fire(Trigger.PRIMARY_FOUND, f"{snap.primary} is the primary")
            return
        mismatch = self.confdir.glob_mismatch(snap)
        if mismatch is not None:
            # An operator error, not a lost primary: keep the chain the runtime loads. Said
            # once per situation, not at every wake-up while it lasts.
            if mismatch != self.machine.last_error:
                logs.event("primary_unmatched", logging.ERROR, reason=mismatch)
            self.machine.note_error(mismatch)
        elif present := self._candidates(snap):
            # Config files there, none of them matched by --primary: /readyz names them, so a
            # typo in the glob does not read like a primary still to come.
            self.machine.note_error(
                discovery.no_primary(self.settings.primary, self.settings.net_dir, present)
            )
        stuck = await self._tidy_without_primary(snap.output_data, mismatch is not None)
        # A dir made writable again (a remount) sends no inotify event: while a removal
        # fails, a timed retry must bring us back, not only a change.
        failures = self.removal_failures
        delay = retry.failure_delay(self.settings, failures, self.backoff) if stuck else None
        await self.wakeups.wait(delay)

    async def _lose_primary(self, snap: Snapshot) -> None:
        mismatch = self.confdir.glob_mismatch(snap)
        if mismatch is not None:
            self.machine.note_error(mismatch)
            await self._fire(Trigger.PRIMARY_LOST, mismatch, logging.ERROR)
            return
        lost = _loss_reason(self.settings, self.plan, self._candidates(snap))
        await self._fire(Trigger.PRIMARY_LOST, f"{lost}; {await self._withdraw()}")

    def _candidates(self, snap: Snapshot) -> list[str]:
        """With --primary, the config files there that it might have meant; else none."""
        if self.settings.primary is None:
            return []
        return discovery.primary_candidates(snap.names, self.settings.output)

    async def _validating(self) -> None:
        policy = retry.validation_policy(self.settings, self.wakeups.retry_sleep, self.backoff)
        started = time.monotonic()
        refusal: Refusal | None = None
        try:
            async for attempt in policy:
                with attempt:
                    self.machine.attempt = attempt.retry_state.attempt_number
                    snap = self._handed_over() or self._look()
                    if snap.primary is None:
                        await self._lose_primary(snap)
                        return
                    s = self.settings
                    plan = planning.plan(
                        snap.primary, snap.primary_data, s.plugin, s.output, s.rewrites
                    )
                    if isinstance(plan, Refusal):
                        refusal = plan
                        self.machine.retries += 1
                        # No chain to write yet, but an invalid file under our name (someone
                        # truncated it) blocks the runtime's whole dir meanwhile.
                        self._record(
                            await self.confdir.remove_invalid_output(
                                snap.output_data, "while the primary is not ready"
                            )
                        )
                        await self._fire(Trigger.PRIMARY_INVALID, f"not ready yet: {plan}")
                        raise retry.NotReady(str(plan))
                    self.plan = plan
                    self._hand_over(snap)
                    reason = _valid_reason(plan, self.settings)
                    await self._fire(Trigger.PRIMARY_VALID, reason)
                    return
        except wakeups.Stopping:
            return
        except tenacity.RetryError:
            elapsed = time.monotonic() - started
            said = _budget_reason(refusal, self.machine.attempt, elapsed)
            await self._fire(Trigger.BUDGET_SPENT, said, logging.ERROR)

    async def _writing(self) -> None:
        assert self.plan is not None
        output, plan = self.settings.output, self.plan
        if self.before_first_write is not None:
            hook, self.before_first_write = self.before_first_write, None
            await hook()
        before = self._handed_over()
        current = before.output_data if before is not None else self.confdir.read_output()
        try:
            # Our temp file's events wait in the kernel meanwhile, read in one go after.
            with self.watches.held():
                wrote = await self.confdir.put(plan.rendered, plan.primary, current)
        except writing.WriteError as err:
            said = f"{err}; the previous {output} is untouched. {_WRITE_ADVICE}"
            await self._fire(Trigger.WRITE_FAILED, said, logging.ERROR)
            return
        if wrote:
            self.machine.writes += 1
        # Our own rename onto the output was a change too. When nothing else has changed, this
        # look answers it, so the agent does not wake again only to look at its own write.
        snap = self._look_at_write(before)
        if snap.output_data != plan.rendered:
            self.wakeups.notify_change()  # not ours: look again from Verified
        check = verification.verify(
            snap.names, snap.with_output(output), output, plan.expected_plugins, plan.judged
        )
        if not check.effective:
            said = verification.advice(check, output, plan.primary)
            await self._fire(Trigger.VERIFY_FAILED, said, logging.ERROR)
            return
        baseline = Baseline(plan.primary, plan.primary_data, snap.first, plan.rendered)
        self.baseline = baseline
        while True:
            try:
                missing = await self._missing_binaries(plan)
                break
            except _Interrupted:
                if self.wakeups.ended:
                    return
            # Something changed while a plugin took its time over VERSION: the conf dir
            # comes first (our output deleted meanwhile must be back at once), and the
            # query goes on in the background for the check that follows.
            if await self._moved_meanwhile(baseline, _CHECKING):
                return
        if missing is not None:
            await self._fire(Trigger.BINARY_MISSING, missing, logging.ERROR)
            return
        done = "written" if wrote else "already current"
        said = f"{output} {done}: {check.detail}"
        if self.runtime is not None:
            # Asked only now: the chain is written whatever the runtime says, or whether it
            # answers at all.
            while True:
                try:
                    answer = await self.runtime.confirm(
                        plan.rendered,
                        (plan.primary, plan.primary_data),
                        self.wakeups.pause,
                        lambda: self.wakeups.pending,
                    )
                except wakeups.Stopping:
                    return
                if answer.confirmed or not self.wakeups.pending:
                    break
                # The wait ended on a change. Under load that may be only the late event of
                # our own rename: look, and ask again unless the dir really moved.
                if await self._moved_meanwhile(baseline, _ASKING):
                    return
            if not answer.confirmed:
                from chainfsm.core import confirmation  # imported with the socket already

                why = confirmation.unconfirmed_reason(answer, output)
                await self._fire(Trigger.RUNTIME_UNCONFIRMED, why, logging.ERROR)
                return
            said += f"; {answer.detail}"
        # With --bin-dir, what could not be asked from here is said, not refused.
        said += "".join(f"; not checked here: {note}" for note in self.binaries.unchecked)
        self.machine.recovered()
        await self._fire(Trigger.OUTPUT_VERIFIED, said)

    async def _moved_meanwhile(self, baseline: Baseline, during: str) -> bool:
        """Look at the dir in the middle of Writing: when it moved from ``baseline``, hand the
        look over and fire change_detected, its reason ending with ``during``. True then."""
        snap = self._look()
        reasons = drift.since(baseline, snap).reasons(self.settings.output)
        if not reasons:
            return False
        self._hand_over(snap)
        await self._fire(Trigger.CHANGE_DETECTED, f"{'; '.join(reasons)} {during}")
        return True

    async def _verified(self) -> None:
        if not await self.wakeups.wait():
            return
        lost, self._runtime_lost = self._runtime_lost, None
        snap = self._look()
        if snap.primary is None:
            await self._lose_primary(snap)
            return
        plan, baseline = self.plan, self.baseline
        assert plan is not None
        assert baseline is not None
        output, window = self.settings.output, self.settings.revert_window
        found = drift.since(baseline, snap)
        # Only a valid chain of someone else's counts as a revert to back off from: an
        # invalid file under our name blocks the runtime, so it is replaced at once.
        if (
            found.replaced_by is not None
            and not found.linked
            and self.confdir.output_valid(snap.output_data)
            and self._note_revert()
        ):
            said = _revert_reason(output, len(self._reverts), window, found.replaced_by)
            await self._fire(Trigger.REVERT_DETECTED, said, logging.ERROR)
            return
        reasons = found.reasons(output)
        if lost is not None:
            # The dir as we left it, but the runtime's own view moved: through Validating
            # and Writing the runtime is asked again, and runtime_unconfirmed names what it
            # loaded if it still does not run our chain.
            reasons = (*reasons, f"the runtime no longer loads our chain: {lost.detail}")
        if reasons:
            self._hand_over(snap)
            await self._fire(Trigger.CHANGE_DETECTED, "; ".join(reasons))
            return
        # Nothing changed in the conf dir: the change may have been in --bin-dir.
        try:
            missing = await self._missing_binaries(plan)
        except _Interrupted:
            return  # the change that came first is answered by the next look
        if missing is not None:
            await self._fire(Trigger.BINARY_MISSING, missing, logging.ERROR)

    async def _missing_binaries(self, plan: Plan) -> str | None:
        """The binary check for the chain, given up (``_Interrupted``) when a change, a stop
        request or a lost watch comes first: a plugin that hangs on VERSION must never delay
        the answer to the conf dir. The check is never taken as passed when it is given up
        (fail closed); its queries go on, for the next check to join."""
        if self.settings.bin_dir is None:
            return None
        check = asyncio.ensure_future(self.binaries.missing(plan.primary, plan.rendered))
        if await self.wakeups.until_done(check):
            return check.result()
        check.cancel()
        await asyncio.gather(check, return_exceptions=True)
        raise _Interrupted

    def _note_revert(self) -> bool:
        """Count a change of our output by someone else; True when it is a pattern."""
        window = self.settings.revert_window
        self._reverts = drift.within_window(self._reverts, time.monotonic(), window)
        return len(self._reverts) >= self.settings.revert_limit

    async def _failed(self) -> None:
        if not self.machine.watching:
            return
        if self.machine.last_trigger == Trigger.REVERT_DETECTED:
            self._reverts = ()
            if await self._back_off_from_revert():
                return
            changed = False
        elif self.machine.last_trigger == Trigger.BINARY_MISSING:
            await self._await_binaries()
            return
        else:
            delay = retry.failure_delay(self.settings, self.machine.failures, self.backoff)
            changed = await self.wakeups.wait(delay)
        if self.wakeups.ended:
            return
        if changed:
            where = "the conf dir or --bin-dir" if self.settings.bin_dir else "the conf dir"
            await self._fire(Trigger.CHANGE_DETECTED, f"{where} changed; trying again")
        else:
            await self._fire(Trigger.RETRY_DUE, "retrying after backoff")

    async def _await_binaries(self) -> None:
        """Failed on binary_missing: our chain is in place and only the bin dir can help.
        Re-check in place at every wake-up, so an answer that has not changed costs no
        transition and no log line (a node installs many binaries while it boots); move on
        when the binaries are there, the problem is a different one, or the conf dir changed.
        The timer covers a change inotify cannot see, such as a bind mount swapped."""
        plan, before, baseline = self.plan, self.binaries.problems, self.baseline
        assert plan is not None
        assert baseline is not None
        while True:
            changed = await self.wakeups.wait(retry.BINARY_RECHECK)
            if self.wakeups.ended:
                return
            snap = self._look()
            if drift.conf_dir_moved(baseline, snap):
                self._hand_over(snap)
                await self._fire(Trigger.CHANGE_DETECTED, "the conf dir changed; trying again")
                return
            try:
                missing = await self._missing_binaries(plan)
            except _Interrupted:
                continue  # the change that came first is answered by the next look
            if missing is None:
                self._hand_over(snap)
                trigger = Trigger.CHANGE_DETECTED if changed else Trigger.RETRY_DUE
                said = f"every plugin binary of the chain is installed in {self.settings.bin_dir}"
                await self._fire(trigger, said)
                return
            if self.binaries.problems != before:
                self._hand_over(snap)
                await self._fire(Trigger.CHANGE_DETECTED, "--bin-dir changed; checking again")
                return

    async def _back_off_from_revert(self) -> bool:
        """Sit out ``--revert-window`` while another writer keeps a valid chain of its own
        under our name, without fighting it: its every write is a change, and answering each
        would be the write loop. One thing ends the back-off early: an invalid file (or a
        removal) under our name, which leaves the runtime loading nothing or not our chain.
        True when the agent moved on (or is stopping), False when the window ran out."""
        deadline = time.monotonic() + self.settings.revert_window
        while (left := deadline - time.monotonic()) > 0:
            if not await self.wakeups.wait(left):
                return self.wakeups.ended
            snap = self._look()
            if not self.confdir.output_valid(snap.output_data):
                said = _invalid_reason(self.settings.output, drift.describe(snap.output_data))
                await self._fire(Trigger.CHANGE_DETECTED, said)
                return True
        return False

    # -- the loop -------------------------------------------------------------------------

    async def run(self) -> int:
        """Watch, chain and keep the chain right until stopped (or, with --once, until Verified
        or Failed). Returns the process exit code."""
        net_dir, once = self.settings.net_dir, self.settings.once
        async with contextlib.AsyncExitStack() as stack:
            arm = functools.partial(self.watches.arm, stack)
            if once:
                # --once looks before it watches: a first look that ends Verified needs no
                # watch (and tearing one down costs the kernel a grace period of milliseconds).
                self.wakeups.arm_before_first_wait(arm)
            elif (why := arm()) is not None:
                # A sidecar arms the watch before its first look, so nothing is missed between.
                return exits.fail(why)
            if not net_dir.is_dir():
                return exits.fail(f"cannot watch {net_dir}: No such directory")
            try:
                if await self._startup():
                    output = self.settings.output
                    logs.event(
                        "started", state=self.state.value, net_dir=str(net_dir), output=output
                    )
                self.ready.set()
                finished = await self._loop()
            finally:
                self.watches.disarm()
                await self.binaries.close()
                if self.runtime is not None:
                    self.runtime.close()
        code, why = exit_codes.at_end(once, self.state, finished, self.wakeups.exit_code)
        if why is not None:
            code = exits.fail(why)
        elif not finished and self.wakeups.exit_code is None:
            # A plain stop (SIGTERM, SIGINT) says so; any other stop said why already.
            logs.event("stopped", state=self.state.value, exit_code=code)
        if self.settings.cleanup_on_exit and not once:
            await self.confdir.withdraw_on_exit()
        return code

    async def _startup(self) -> bool:
        """The conf dir's start-up cleanup; False when the dir cannot be listed (gone before
        the first look): the watch is then lost."""
        try:
            self._record(await self.confdir.startup())
        except confdir.Lost as err:
            self.wakeups.lose(str(err))
            return False
        return True

    async def _loop(self) -> bool:
        """Run the current state's handler until stopped; True when --once reached its end."""
        handlers = {
            State.WaitingPrimary: self._waiting_primary,
            State.Validating: self._validating,
            State.Writing: self._writing,
            State.Verified: self._verified,
            State.Failed: self._failed,
        }
        while not self.wakeups.stopping:
            if self.wakeups.lost_why is not None:
                said = f"{self.wakeups.lost_why}: {_RESTART}"
                await self._fire(Trigger.WATCH_LOST, said, logging.ERROR)
                self.request_stop(exit_code=exit_codes.FAILED)
                return False
            try:
                await handlers[self.state]()
            except confdir.Lost:
                continue  # said at the top of the loop
            if self.settings.once and self.state in (State.Verified, State.Failed):
                return True
        return False


class _Interrupted(Exception):
    """A check of the plugin binaries given up for a change (or a stop) that came first."""


# -- the reasons' words -----------------------------------------------------------------------

_CHECKING = "(seen while the chain's plugin binaries were being checked)"
_ASKING = "(seen while the runtime was asked to confirm the chain)"

_WRITE_ADVICE = "Free space or make the dir writable: chainfsm retries by itself"
_RESTART = "exiting so the kubelet restarts chainfsm with the conf dir mounted afresh"


def _budget_reason(refusal: Refusal | None, attempts: int, elapsed: float) -> str:
    return (
        f"{refusal} (still, after {attempts} attempts over {elapsed:.1f} s); fix or replace the"
        " primary config: chainfsm re-validates on every change"
    )


def _revert_reason(output: str, count: int, window: float, what: str | None) -> str:
    return (
        f"another writer replaced {output} {count} times within {window:.0f} s (now it holds"
        f" {what}); backing off for {window:.0f} s instead of fighting. Find the other"
        " installer writing to this dir and stop it"
    )


def _invalid_reason(output: str, what: str) -> str:
    return (
        f"{output} now holds {what}: replacing it without waiting out the back-off, since the"
        " runtime cannot load our chain from it"
    )


def _valid_reason(plan: Plan, settings: Settings) -> str:
    return _link_reason(plan, settings) + "".join(
        f"; in the chain, {edit} (--rewrite)" for edit in plan.rewritten
    )


def _link_reason(plan: Plan, settings: Settings) -> str:
    """A symlinked primary is followed, as the runtime follows it (libcni reads with
    os.ReadFile): refusing it would leave the node on the primary alone, without our
    plugin, while the runtime happily loads it. Kubernetes ConfigMap mounts are symlinks.
    Reads still refuse a FIFO, device or oversized target, so following cannot hang us."""
    target = confdir.link_target(settings.net_dir / plan.primary)
    if target is None:
        return f"{plan.primary} is valid"
    return (
        f"{plan.primary} is valid (a symlink to {target}, followed as the runtime follows"
        " it; a change to the target itself is seen at the next change in the dir)"
    )


def _loss_reason(settings: Settings, plan: Plan | None, present: list[str]) -> str:
    gone = f"{plan.primary} is gone; " if plan else ""
    return gone + discovery.no_primary(settings.primary, settings.net_dir, present)
