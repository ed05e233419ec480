"""The agent: a transitions AsyncMachine whose states are the life of our chained config.

One task drives the machine: each state's handler looks at the conf dir, does that state's
work and fires the one trigger that follows. The inotify task only raises a flag, so a burst
of changes costs one rescan. Handlers never sleep on a clock when they can wait for the
kernel; the only timers are retry backoffs, and every one of them ends early on a change.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import json
import logging
import stat
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import tenacity
from transitions.extensions.asyncio import AsyncMachine

from chainfsm import (
    binaries,
    discovery,
    logs,
    observing,
    planning,
    reading,
    retrying,
    states,
    validation,
    verification,
    watching,
    writing,
)
from chainfsm.planning import Plan
from chainfsm.settings import Settings
from chainfsm.states import State, Transition, Trigger
from chainfsm.validation import Refusal


class _Stopping(Exception):
    """Raised out of a retry sleep when the agent is asked to stop (or its watch is lost)."""


class _Lost(Exception):
    """Raised out of a look at the dir when the dir itself cannot be listed any more."""


class _Machine(AsyncMachine):
    """AsyncMachine without one cost: the library gathers every callback list, empty or not,
    a future each time; our table has no callbacks, and that was ten per transition."""

    # The library's own stub ignores this override too (an async method over a sync one).
    async def callbacks(self, funcs: Iterable[Any], event_data: Any) -> None:  # type: ignore[override]
        if funcs:
            await super().callbacks(funcs, event_data)


def _describe(data: reading.Read) -> str:
    """A few words on what a file holds, for naming another writer's content."""
    if data is None:
        return "nothing (removed)"
    verdict = validation.verdict("x.conflist", data)
    if isinstance(verdict, Refusal):
        return verdict.detail
    return f"a list running [{', '.join(verdict.plugin_types)}]"


def _is_real_dir(path: Path) -> bool:
    """A directory, not a symlink to one (libcni skips the first and fails on the second)."""
    try:
        return stat.S_ISDIR(path.lstat().st_mode)
    except OSError:
        return False


def sha256(data: reading.Read) -> str | None:
    return hashlib.sha256(data).hexdigest() if isinstance(data, bytes) else None


class Agent:
    """The model of the machine. ``state`` and the trigger methods are bound by AsyncMachine."""

    state: State
    trigger: Callable[..., Awaitable[bool]]

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.machine = _Machine(
            model=self,
            states=State,
            transitions=states.machine_transitions(),
            initial=State.WaitingPrimary,
            auto_transitions=False,
        )
        self.started = time.time()
        self.state_since = time.time()
        self._entered = time.monotonic()
        self.history: collections.deque[Transition] = collections.deque(maxlen=settings.history)
        self.listeners: list[Callable[[Transition], None]] = []
        self.attempt = 0
        self.retries = 0
        self.failures = 0
        self.writes = 0
        self.last_error: str | None = None
        self.plan: Plan | None = None
        #: The bytes of our output as we last wrote or found them verified.
        self.verified_output: bytes | None = None
        self.verified_first: str | None = None
        self.exit_code = 0
        self._reverts: collections.deque[float] = collections.deque()
        #: Set once the watch is armed and the start-up cleanup is done.
        self.ready = asyncio.Event()
        self._changed = asyncio.Event()
        #: The names reported since ``_changed`` was last cleared; None: anything may have.
        self._changed_names: set[str] | None = set()
        self._stopping = asyncio.Event()
        #: Set while the agent waits in ``_wait``: what ``quiet`` looks for.
        self._idle = asyncio.Event()
        #: How many times the agent has looked at the dir.
        self.looks = 0
        #: Called with every name the watches (conf dir, --bin-dir) read: tests sync with them.
        self.taps: list[Callable[[str], None]] = []
        #: Ends every wait, even one that ignores changes: a lost watch must never go unheard.
        self._lost = asyncio.Event()
        self._watch: watching.DirWatch | None = None
        #: What ``run`` closes on its way out: the watches ``_arm`` made.
        self._watches: contextlib.AsyncExitStack | None = None
        self._watch_lost: str | None = None
        self._seen_primary: str | None = None
        #: A look at the dir that one state hands to the next, so the next need not look again.
        self._handed: observing.Snapshot | None = None
        self._versions = binaries.VersionCache()
        #: Consecutive failed removals of our output (a read-only dir): paces the retries.
        self._removal_failures = 0
        #: --bin-dir: why each plugin binary of the chain cannot run, at the last check.
        self.binary_problems: tuple[Refusal, ...] = ()

    # -- what the machine and the outside world read --------------------------------------

    @property
    def watching(self) -> bool:
        """The guard on leaving Failed: false under --once, where Failed is the end."""
        return not self.settings.once

    @property
    def watch_armed(self) -> bool:
        return self._watch is not None and self._watch.armed

    @property
    def primary(self) -> str | None:
        """The primary as last seen in the conf dir."""
        return self._seen_primary

    def situation(self) -> str:
        """Why the agent is where it is, in one line: the last error, else the last
        transition's reason (never a guess such as "waiting for the primary")."""
        if self.last_error is not None:
            return self.last_error
        if self.history:
            return self.history[-1].reason
        which = f" matching {self.settings.primary!r}" if self.settings.primary else ""
        return f"no primary config{which} in {self.settings.net_dir} yet"

    # -- inputs ---------------------------------------------------------------------------

    def notify_change(self, name: str | None = None) -> None:
        """A relevant change in the conf dir (``name`` None: rescan everything)."""
        if name is None:
            self._changed_names = None
        elif self._changed_names is not None:
            self._changed_names.add(name)
        self._changed.set()

    def _on_watch_lost(self, why: str) -> None:
        self._watch_lost = why
        self._lost.set()
        self.notify_change()

    def _consume_changes(self) -> None:
        self._changed.clear()
        self._changed_names = set()

    def request_stop(self, exit_code: int | None = None) -> None:
        """Stop after the step in progress (a write in progress is finished, not cut)."""
        if exit_code is not None:
            self.exit_code = exit_code
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    # -- transitions ----------------------------------------------------------------------

    async def _fire(self, trigger: Trigger, reason: str, level: int = logging.INFO) -> bool:
        source = self.state
        now = time.monotonic()
        if not await self.trigger(str(trigger)):
            return False
        record = Transition(
            time=time.time(),
            trigger=str(trigger),
            source=source.value,
            dest=self.state.value,
            reason=reason,
            primary=self.primary,
            output=self.settings.output,
            attempt=self.attempt,
            ms_in_source=(now - self._entered) * 1000,
        )
        self._entered = now
        if self.state is not source:
            self.state_since = record.time
        self.history.append(record)
        if self.state is State.Failed:
            self.last_error = reason
            self.failures += 1
        logs.event("transition", level, **record.fields())
        for listener in self.listeners:
            listener(record)
        return True

    # -- waiting --------------------------------------------------------------------------

    async def _wait(self, within: float | None = None, changes: bool = True) -> bool:
        """Until a change (True), ``within`` seconds or a stop request (False).

        With ``changes`` false, only the clock or a stop request ends the wait.
        """
        if self._watch is None:
            return await self._arm_before_waiting()
        events = [self._stopping, self._lost]
        if changes:
            events.append(self._changed)
        if not any(e.is_set() for e in events):
            waiters = [asyncio.ensure_future(e.wait()) for e in events]
            self._idle.set()
            try:
                await asyncio.wait(waiters, timeout=within, return_when=asyncio.FIRST_COMPLETED)
            finally:
                self._idle.clear()
                for waiter in waiters:
                    waiter.cancel()
        if self.stopping or self._lost.is_set() or not changes or not self._changed.is_set():
            return False
        self._consume_changes()
        return True

    async def quiet(self) -> None:
        """Return once the agent waits with no change left to handle. For tests: together
        with a tap on the watch, it shows that something did not wake the agent."""
        while True:
            await self._idle.wait()
            if not self._changed.is_set():
                return
            await asyncio.sleep(0)  # it is about to wake: let it leave the wait first

    async def _retry_sleep(self, delay: float) -> None:
        # tenacity's sleep: a change in the dir ends the backoff early.
        await self._wait(delay)
        if self.stopping or self._lost.is_set():
            raise _Stopping

    # -- looking --------------------------------------------------------------------------

    async def _observe(self, consume: bool = True) -> observing.Snapshot:
        """One look at the dir. ``consume``: this look answers every change so far, so clear
        the flag first (what happens from here on is seen by the next look). A look that only
        checks our own write must not consume while another name changed: that may be the
        primary."""
        if consume:
            self._consume_changes()
        if self._watch is not None:
            self._watch.check_identity()
        self.looks += 1
        try:
            snap = await observing.observe(
                self.settings.net_dir, self.settings.output, self.settings.primary
            )
        except OSError as err:
            # The dir itself went away under a handler (deleted, unmounted): the same news as
            # a lost watch, which the loop turns into watch_lost and exit 1, not a traceback.
            self._on_watch_lost(f"cannot list {self.settings.net_dir}: {err.strerror}")
            raise _Lost from err
        self._seen_primary = snap.primary
        return snap

    def _handed_over(self) -> observing.Snapshot | None:
        """The look the previous state handed over, if nothing has changed since it was taken.

        A look costs a listing and two reads; the state that follows a look needs the same one.
        Taken once: a retry looks afresh."""
        snap, self._handed = self._handed, None
        return None if snap is None or self._changed.is_set() else snap

    def _plan(self, snap: observing.Snapshot) -> Plan | Refusal:
        assert snap.primary is not None
        s = self.settings
        return planning.plan(snap.primary, snap.primary_data, s.plugin, s.output, s.rewrites)

    # -- the states' work -----------------------------------------------------------------

    async def _startup(self) -> None:
        """Clear what a crash or an older installer left: our temp files, and an invalid file
        under our output name, which blocks the runtime's whole directory.

        Best effort: on a read-only or full dir the agent stays up, says why, and the states
        retry (the invalid output is removed again from WaitingPrimary and Validating, and
        overwritten by Writing)."""
        net_dir, output = self.settings.net_dir, self.settings.output
        for name in reading.list_names(net_dir):
            if discovery.is_our_temp(name, output):
                try:
                    await writing.remove(net_dir, name)
                except writing.WriteError as err:
                    # The runtime ignores temp names: a leftover costs nothing but space.
                    logs.event("cleanup_failed", logging.WARNING, file=name, reason=str(err))
                    continue
                logs.event("removed", file=name, reason="a temp file of ours from before")
        await self._remove_invalid_output(await reading.read(net_dir, output), "left from before")

    async def _remove_invalid_output(self, data: reading.Read, when: str) -> bool:
        """Remove an invalid file under our output name (it makes the runtime load nothing);
        True when one is still there because the removal failed."""
        output = self.settings.output
        if data is None or _is_real_dir(self.settings.net_dir / output):
            return False  # a real directory is skipped by the runtime; Writing reports it
        verdict = data if isinstance(data, Refusal) else validation.validate(output, data)
        if not isinstance(verdict, Refusal):
            return False
        try:
            await writing.remove(self.settings.net_dir, output)
        except writing.WriteError as err:
            self.last_error = str(err)
            self._removal_failures += 1
            logs.event(
                "cleanup_failed",
                logging.ERROR,
                file=output,
                reason=f"invalid file under our output name ({verdict.detail}) blocks the"
                f" runtime and cannot be removed: {err}; retrying",
            )
            return True
        self._removal_failures = 0
        logs.event(
            "removed",
            logging.WARNING,
            file=output,
            reason=f"invalid file under our output name, {when}: {verdict.detail}",
        )
        return False

    async def _waiting_primary(self) -> None:
        snap = await self._observe()
        if snap.primary is not None:
            self._handed = snap
            await self._fire(Trigger.PRIMARY_FOUND, f"{snap.primary} is the primary")
            return
        stuck = False
        mismatch = await self._glob_mismatch(snap)
        if mismatch is not None:
            # An operator error, not a lost primary: keep the chain the runtime loads. Said
            # once per situation, not at every wake-up while it lasts.
            if mismatch != self.last_error:
                logs.event("primary_unmatched", logging.ERROR, reason=mismatch)
            self.last_error = mismatch
        if mismatch is not None and snap.output_data is not None:
            stuck = await self._remove_invalid_output(snap.output_data, "with no primary")
        elif snap.output_data is not None and not self.settings.keep_on_primary_loss:
            logs.event("withdrawn", file=self.settings.output, reason=await self._withdraw())
            stuck = self._removal_failures > 0
        elif snap.output_data is not None:
            stuck = await self._remove_invalid_output(snap.output_data, "with no primary")
        # A dir made writable again (a remount) sends no inotify event: while a removal
        # fails, a timed retry must bring us back, not only a change.
        delay = retrying.failure_delay(self.settings, self._removal_failures) if stuck else None
        await self._wait(delay)

    async def _withdraw(self) -> str:
        """Remove our output because no primary stands behind it; say what happened.

        A chain with no primary behind it would make the runtime report a network that the
        primary's owner says is not ready.
        """
        output = self.settings.output
        if self.settings.keep_on_primary_loss:
            return f"kept {output} (--keep-on-primary-loss)"
        self.verified_output = None
        try:
            removed = await writing.remove(self.settings.net_dir, output)
        except writing.WriteError as err:
            self.last_error = str(err)
            self._removal_failures += 1
            return f"could not withdraw {output}: {err}; retrying"
        self._removal_failures = 0
        if removed:
            return f"withdrew {output} so the runtime reports the truth"
        return f"{output} was already gone"

    async def _glob_mismatch(self, snap: observing.Snapshot) -> str | None:
        """When ``--primary`` matches nothing but valid config files are there, what to say:
        a typo in the glob must not withdraw a working chain. None otherwise."""
        pattern = self.settings.primary
        if pattern is None or snap.primary is not None:
            return None
        present = discovery.primary_candidates(snap.names, self.settings.output)
        valid = []
        for name in present:
            if validation.valid(name, await reading.read(self.settings.net_dir, name)):
                valid.append(name)
        if not valid:
            return None
        return (
            f"no config file in {self.settings.net_dir} matches --primary {pattern!r}, but"
            f" {', '.join(valid)} {'is a valid config' if len(valid) == 1 else 'are valid configs'}"
            f" (config files there: {', '.join(present)}): check the glob; {self.settings.output}"
            " is left as it is (not withdrawn) and the agent does not report Verified"
        )

    async def _lose_primary(self, snap: observing.Snapshot) -> None:
        mismatch = await self._glob_mismatch(snap)
        if mismatch is not None:
            self.last_error = mismatch
            await self._fire(Trigger.PRIMARY_LOST, mismatch, logging.ERROR)
            return
        await self._fire(Trigger.PRIMARY_LOST, f"{self._loss_reason()}; {await self._withdraw()}")

    async def _validating(self) -> None:
        policy = retrying.validation_policy(self.settings, self._retry_sleep)
        started = time.monotonic()
        refusal: Refusal | None = None
        try:
            async for attempt in policy:
                with attempt:
                    self.attempt = attempt.retry_state.attempt_number
                    snap = self._handed_over() or await self._observe()
                    if snap.primary is None:
                        await self._lose_primary(snap)
                        return
                    plan = self._plan(snap)
                    if isinstance(plan, Refusal):
                        refusal = plan
                        self.retries += 1
                        # No chain to write yet, but an invalid file under our name (someone
                        # truncated it) blocks the runtime's whole dir meanwhile.
                        await self._remove_invalid_output(
                            snap.output_data, "while the primary is not ready"
                        )
                        await self._fire(Trigger.PRIMARY_INVALID, f"not ready yet: {plan}")
                        raise retrying.NotReady(str(plan))
                    self.plan = plan
                    self._handed = snap
                    await self._fire(Trigger.PRIMARY_VALID, self._valid_reason(plan))
                    return
        except _Stopping:
            return
        except tenacity.RetryError:
            elapsed = time.monotonic() - started
            await self._fire(
                Trigger.BUDGET_SPENT,
                f"{refusal} (still, after {self.attempt} attempts over {elapsed:.1f} s); fix or"
                " replace the primary config: chainfsm re-validates on every change",
                logging.ERROR,
            )

    async def _binaries_missing(self, plan: Plan) -> str | None:
        """--bin-dir: why the written chain cannot run pods yet (None: every plugin binary is
        installed and speaks the list's cniVersion, or there is no --bin-dir).

        Checked after the write, never before: a chain withheld until its binary exists leaves
        the runtime on the primary alone, and pods would start without our plugin and keep
        running that way (fail open). Written, pods fail and are retried until it is there."""
        bin_dir = self.settings.bin_dir
        if bin_dir is None:
            self.binary_problems = ()
            return None
        document = json.loads(plan.rendered)
        self.binary_problems = await binaries.check_chain(
            bin_dir, plan.primary, document, self._versions
        )
        if not self.binary_problems:
            return None
        said = "; ".join(p.detail for p in self.binary_problems)
        return (
            f"{self.settings.output} is in place, but {said}: pods on this node cannot start"
            f" until it is installed in {bin_dir} (chainfsm re-checks on every change there)"
        )

    def _valid_reason(self, plan: Plan) -> str:
        return self._link_reason(plan) + "".join(
            f"; in the chain, {edit} (--rewrite)" for edit in plan.rewritten
        )

    def _link_reason(self, plan: Plan) -> str:
        """A symlinked primary is followed, as the runtime follows it (libcni reads with
        os.ReadFile): refusing it would leave the node on the primary alone, without our
        plugin, while the runtime happily loads it. Kubernetes ConfigMap mounts are symlinks.
        Reads still refuse a FIFO, device or oversized target, so following cannot hang us."""
        target = observing.link_target(self.settings.net_dir / plan.primary)
        if target is None:
            return f"{plan.primary} is valid"
        return (
            f"{plan.primary} is valid (a symlink to {target}, followed as the runtime follows"
            " it; a change to the target itself is seen at the next change in the dir)"
        )

    def _loss_reason(self) -> str:
        which = f" matching {self.settings.primary!r}" if self.settings.primary else ""
        gone = f"{self.plan.primary} is gone; " if self.plan else ""
        return f"{gone}no primary config{which} in {self.settings.net_dir}"

    async def _writing(self) -> None:
        assert self.plan is not None
        net_dir, output, plan = self.settings.net_dir, self.settings.output, self.plan
        handed = self._handed_over()
        current = handed.output_data if handed is not None else await reading.read(net_dir, output)
        # A symlink under our name is replaced (the rename replaces the link, never writes
        # through it): its target could change with no event in this dir.
        linked = observing.link_target(net_dir / output) is not None
        if current != plan.rendered or linked:
            try:
                await writing.write_atomic(net_dir, output, plan.rendered)
            except writing.WriteError as err:
                await self._fire(
                    Trigger.WRITE_FAILED,
                    f"{err}; the previous {output} is untouched. Free space or make the dir"
                    " writable: chainfsm retries by itself",
                    logging.ERROR,
                )
                return
            self.writes += 1
            logs.event("written", file=output, sha256=sha256(plan.rendered), primary=plan.primary)
        # Our own rename onto the output was a change too. When nothing else has changed, this
        # look answers it, so the agent does not wake again only to look at its own write.
        names = self._changed_names
        snap = await self._observe(consume=names is not None and names <= {output})
        if snap.output_data != plan.rendered:
            self.notify_change()  # not ours: look again from Verified
        check = verification.verify(
            snap.names, snap.with_output(output), output, plan.expected_plugins
        )
        if check.effective:
            self.verified_output = plan.rendered
            self.verified_first = snap.first
            missing = await self._binaries_missing(plan)
            if missing is not None:
                await self._fire(Trigger.BINARY_MISSING, missing, logging.ERROR)
                return
            self.failures = 0
            self.last_error = None
            done = "written" if current != plan.rendered or linked else "already current"
            await self._fire(Trigger.OUTPUT_VERIFIED, f"{output} {done}: {check.detail}")
            return
        await self._fire(Trigger.VERIFY_FAILED, self._advice(check), logging.ERROR)

    def _advice(self, check: verification.Verification) -> str:
        output = self.settings.output
        if check.effect is verification.Effect.SHADOWED:
            return (
                f"{check.detail}: remove {check.first} or choose an --output name that sorts"
                " before it"
            )
        if check.effect is verification.Effect.BLOCKED:
            return (
                f"{check.detail}: fix or remove {check.first}; the node stays NotReady until then"
            )
        return f"{output} did not verify: {check.detail}; another writer may be changing it"

    async def _verified(self) -> None:
        if not await self._wait():
            return
        snap = await self._observe()
        if snap.primary is None:
            await self._lose_primary(snap)
            return
        assert self.plan is not None
        changes = []
        if snap.primary != self.plan.primary:
            changes.append(f"the primary is now {snap.primary} (was {self.plan.primary})")
        elif snap.primary_data != self.plan.primary_data:
            changes.append(f"{snap.primary} changed")
        if snap.first != self.verified_first:
            changes.append(f"{snap.first} is now first in the runtime's order")
        if snap.output_link is not None or snap.output_data != self.verified_output:
            what = _describe(snap.output_data)
            if snap.output_link is not None:
                # The rename in Writing replaces the link itself; its target is left alone.
                what = f"a symlink to {snap.output_link}, to {what}"
            # Only a valid chain of someone else's counts as a revert to back off from: an
            # invalid file under our name blocks the runtime, so it is replaced at once.
            elif self._output_valid(snap.output_data) and self._note_revert():
                await self._fire(
                    Trigger.REVERT_DETECTED,
                    f"another writer replaced {self.settings.output} {len(self._reverts)} times"
                    f" within {self.settings.revert_window:.0f} s (now it holds {what});"
                    f" backing off for {self.settings.revert_window:.0f} s instead of fighting."
                    " Find the other installer writing to this dir and stop it",
                    logging.ERROR,
                )
                return
            changes.append(f"{self.settings.output} was changed by someone else: it holds {what}")
        if changes:
            self._handed = snap
            await self._fire(Trigger.CHANGE_DETECTED, "; ".join(changes))
            return
        # Nothing changed in the conf dir: the change may have been in --bin-dir.
        missing = await self._binaries_missing(self.plan)
        if missing is not None:
            await self._fire(Trigger.BINARY_MISSING, missing, logging.ERROR)

    def _output_valid(self, data: reading.Read) -> bool:
        return validation.valid(self.settings.output, data)

    def _note_revert(self) -> bool:
        """Count a change of our output by someone else; True when it is a pattern."""
        now = time.monotonic()
        self._reverts.append(now)
        while self._reverts and now - self._reverts[0] > self.settings.revert_window:
            self._reverts.popleft()
        return len(self._reverts) >= self.settings.revert_limit

    async def _failed(self) -> None:
        if not self.watching:
            return
        if self.history and self.history[-1].trigger == Trigger.REVERT_DETECTED:
            self._reverts.clear()
            if await self._back_off_from_revert():
                return
            changed = False
        elif self.history and self.history[-1].trigger == Trigger.BINARY_MISSING:
            await self._await_binaries()
            return
        else:
            changed = await self._wait(retrying.failure_delay(self.settings, self.failures))
        if self.stopping or self._lost.is_set():
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
        assert self.plan is not None
        plan, before = self.plan, self.binary_problems
        while True:
            changed = await self._wait(retrying.BINARY_RECHECK)
            if self.stopping or self._lost.is_set():
                return
            snap = await self._observe()
            if (snap.primary, snap.primary_data, snap.output_data) != (
                plan.primary,
                plan.primary_data,
                self.verified_output,
            ):
                self._handed = snap
                await self._fire(Trigger.CHANGE_DETECTED, "the conf dir changed; trying again")
                return
            if await self._binaries_missing(plan) is None:
                self._handed = snap
                trigger = Trigger.CHANGE_DETECTED if changed else Trigger.RETRY_DUE
                await self._fire(
                    trigger,
                    f"every plugin binary of the chain is installed in {self.settings.bin_dir}",
                )
                return
            if self.binary_problems != before:
                self._handed = snap
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
            if not await self._wait(left):
                return self.stopping or self._lost.is_set()
            snap = await self._observe()
            if not self._output_valid(snap.output_data):
                what = _describe(snap.output_data)
                await self._fire(
                    Trigger.CHANGE_DETECTED,
                    f"{self.settings.output} now holds {what}: replacing it without waiting out"
                    " the back-off, since the runtime cannot load our chain from it",
                )
                return True
        return False

    # -- the loop -------------------------------------------------------------------------

    async def _arm(self) -> str | None:
        """Arm the inotify watches (the conf dir, --bin-dir) and the mount watch; None when
        armed, else why not. They are closed when ``run`` ends, each pump stopped first."""
        stack = self._watches
        assert stack is not None
        try:
            watch = watching.DirWatch(
                self.settings.net_dir, self.notify_change, self._on_watch_lost, taps=self.taps
            )
        except OSError as err:
            return f"cannot watch {self.settings.net_dir}: {err.strerror}"
        stack.callback(watch.close)
        stack.enter_context(watching.MountWatch(watch.check_identity))
        stack.push_async_callback(watching.stop, watching.start(watch, "chainfsm-watch"))
        if self.settings.bin_dir is not None:
            # A binary installed, replaced or made executable there is a change to re-check.
            try:
                bin_watch = watching.DirWatch(
                    self.settings.bin_dir,
                    self.notify_change,
                    self._on_watch_lost,
                    relevant=lambda _: True,
                    mask=watching.BIN_DIR_MASK,
                    taps=self.taps,
                )
            except OSError as err:
                return f"cannot watch --bin-dir {self.settings.bin_dir}: {err.strerror}"
            stack.callback(bin_watch.close)
            pump = watching.start(bin_watch, "chainfsm-watch-bin-dir")
            stack.push_async_callback(watching.stop, pump)
        self._watch = watch
        return None

    async def _arm_before_waiting(self) -> bool:
        """--once looks before it watches: a first look that ends Verified needs no watch (and
        tearing one down costs the kernel a grace period of milliseconds). Before the first
        wait, arm it; True, because a change may have come before it: look again."""
        why = await self._arm()
        if why is not None:
            self._on_watch_lost(why)
            return False
        return True

    async def run(self) -> int:
        """Watch, chain and keep the chain right until stopped (or, with --once, until Verified
        or Failed). Returns the process exit code."""
        handlers = {
            State.WaitingPrimary: self._waiting_primary,
            State.Validating: self._validating,
            State.Writing: self._writing,
            State.Verified: self._verified,
            State.Failed: self._failed,
        }
        net_dir = self.settings.net_dir
        async with contextlib.AsyncExitStack() as self._watches:
            # A sidecar arms the watch before its first look, so nothing is missed between.
            why = None if self.settings.once else await self._arm()
            if why is None and not net_dir.is_dir():
                why = f"cannot watch {net_dir}: No such directory"
            if why is not None:
                logs.event("exit", logging.ERROR, reason=why)
                return 1
            try:
                try:
                    await self._startup()
                except OSError as err:  # the dir went away before the first look
                    self._on_watch_lost(f"cannot list {net_dir}: {err.strerror}")
                else:
                    logs.event(
                        "started",
                        state=self.state.value,
                        net_dir=str(net_dir),
                        output=self.settings.output,
                    )
                self.ready.set()
                while not self.stopping:
                    if self._watch_lost is not None:
                        await self._fire(
                            Trigger.WATCH_LOST,
                            f"{self._watch_lost}: exiting so the kubelet restarts chainfsm with"
                            " the conf dir mounted afresh",
                            logging.ERROR,
                        )
                        self.request_stop(exit_code=1)
                        break
                    try:
                        await handlers[self.state]()
                    except _Lost:
                        continue  # said at the top of the loop
                    if self.settings.once and self.state in (State.Verified, State.Failed):
                        self.exit_code = 0 if self.state is State.Verified else 1
                        break
            finally:
                self._watch = None
        if self.settings.once and self.state is not State.Verified and self.exit_code == 0:
            # An init container that ends without a chain must not report success.
            logs.event(
                "exit",
                logging.ERROR,
                reason=f"stopped in {self.state.value} before Verified: exit 1",
            )
            self.exit_code = 1
        if self.settings.cleanup_on_exit and not self.settings.once:
            try:
                if await writing.remove(net_dir, self.settings.output):
                    logs.event(
                        "withdrawn",
                        file=self.settings.output,
                        reason="--cleanup-on-exit: removed our chain on the way out",
                    )
            except writing.WriteError as err:
                logs.event("exit", logging.ERROR, reason=str(err))
        return self.exit_code
