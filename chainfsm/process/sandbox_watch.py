"""Pods networked without the chain: passes over the runtime's sandboxes, the record on the
host, and the opt-in repair.

Each pass lists the sandboxes, then asks the runtime which config it has loaded, then lets
core/sandbox_verdicts judge the listing by the record (core/chain_record) and writes the record
back. A pass runs at start, every ``--sandbox-interval`` seconds, and after each transition of
the agent, asking again with a short back-off until the runtime says it loaded our chain (its
reload follows our write by milliseconds). The chain work never waits on a pass: the passes
run in their own task, and a runtime that does not answer costs one line, not a transition.

The first pass of the boot may prove the start-up window (core/boot_window): with no record of
this boot and nothing under our output's name, it looks before the agent's first write (the
agent waits for it, at most ``--cri-confirm-seconds``), and a first answer "not our chain"
then holds since the boot. Every answer that says the runtime no longer loads our chain is
handed to the agent (``on_answer``), which leaves Verified on it.

With ``--repair-unchained stop``, a pass stops (CRI ``StopPodSandbox``) the ``unchained``
sandboxes outside the excluded namespaces, at most ``--repair-max-per-minute``; the kubelet
then makes the pod a new sandbox, through the chain. ``dry-run`` logs what it would stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chainfsm import logs
from chainfsm.core import boot_window, chain_record, confirmation, cri_messages, sandbox_verdicts
from chainfsm.core.boot_window import Found
from chainfsm.core.chain_record import Record
from chainfsm.core.confirmation import Confirmation
from chainfsm.core.cri_messages import NamespaceMode
from chainfsm.core.sandbox_verdicts import Seen, Verdicts
from chainfsm.core.states import State, Transition
from chainfsm.core.times import iso
from chainfsm.edge import cri, off_loop, record_file
from chainfsm.process import background
from chainfsm.settings import Settings

#: After a transition, ask again from this delay, doubling up to the interval, until the
#: runtime says our chain (or the agent leaves Verified).
QUICK_FIRST = 0.02
QUICK_LAST = 5.0


@dataclass(frozen=True, slots=True)
class Report:
    """The latest pass, for the dump, the metrics and ``explain``."""

    record: Record
    verdicts: Verdicts
    #: When the pass ended (Unix time), and why the last pass failed (None: it did not).
    at: float
    error: str | None = None
    stops: int = 0
    record_file: str = ""

    def fields(self) -> dict[str, Any]:
        """As the dump shows it (JSON values)."""
        record = self.record
        return {
            "record": {
                "file": self.record_file,
                "boot_id": record.boot_id,
                "observed_since": _maybe_iso(record.observed_since),
                "confirmed_since": _maybe_iso(record.confirmed_since),
                "lost_at": _maybe_iso(record.lost_at),
                "spans": [
                    {"chained": s.chained, "since": iso(s.since), "until": iso(s.until)}
                    for s in record.spans
                ],
            },
            "checked": iso(self.at),
            "error": self.error,
            "unchained_sandboxes": [sandbox_fields(s) for s in self.verdicts.unchained],
            "counts": {
                "unchained": len(self.verdicts.unchained),
                "chained": self.verdicts.chained,
                "unknown": self.verdicts.unknown,
            },
            "repair": {"stops": self.stops},
        }


def sandbox_fields(sandbox: Seen) -> dict[str, str]:
    return {
        "id": sandbox.id,
        "namespace": sandbox.namespace,
        "name": sandbox.name,
        "created": iso(sandbox.created),
    }


def _maybe_iso(stamp: float | None) -> str | None:
    return None if stamp is None else iso(stamp)


async def look(client: cri.CriClient, known: dict[str, bool | None]) -> list[Seen]:
    """The runtime's sandboxes, each with whether it is on the host network (asked once per
    sandbox, kept in ``known``: a sandbox's namespaces never change). A sandbox removed
    between the listing and its status is left out, as if listed a moment later."""
    listed = await client.list_sandboxes()
    seen = []
    for sandbox in listed:
        if sandbox.id in known:
            host = known[sandbox.id]
        else:
            try:
                mode = (await client.sandbox_status(sandbox.id)).network_mode
            except cri.CriError as err:
                if err.status != "NOT_FOUND":
                    raise
                continue
            host = known[sandbox.id] = None if mode is None else mode is NamespaceMode.NODE
        seen.append(
            Seen(
                id=sandbox.id,
                namespace=sandbox.namespace,
                name=sandbox.name,
                created_at=sandbox.created_at,
                ready=sandbox.state is cri_messages.SandboxState.READY,
                host_network=host,
            )
        )
    for gone in known.keys() - {s.id for s in listed}:
        del known[gone]
    return seen


class SandboxWatch:
    """The passes, in the ``chainfsm-sandboxes`` task; ``report`` is the latest."""

    def __init__(
        self,
        settings: Settings,
        socket: Path,
        ours: Callable[[], bytes | None],
        clock: Callable[[], float] = time.time,
        on_answer: Callable[[Confirmation, float], None] | None = None,
    ) -> None:
        self.settings = settings
        self.client = cri.CriClient(socket)
        #: Our chain as written: what the runtime's loaded config is compared with.
        self.ours = ours
        self.net_dir = str(settings.net_dir.resolve())
        self.clock = clock
        self.path = settings.record_file
        #: Each judged answer and when it was asked (for the agent: Verified follows it).
        self.on_answer = on_answer
        self.report: Report | None = None
        self.stops = 0
        self._record: Record | None = None
        self._continuing = False
        self._known: dict[str, bool | None] = {}
        self._stopped_at: list[float] = []
        self._announced: set[str] = set()
        self._wake = asyncio.Event()
        self._quick = False
        self._last_error: str | None = None
        self._no_boot: str | None = None
        #: The next delay of the quick passes after a transition into Verified.
        self._backoff = QUICK_FIRST
        #: What the record's file held at start; whether our output was there at the start-up
        #: look (None: not looked, or it could not tell).
        self._found: Found | None = None
        self._output_present: bool | None = None
        #: Set once the start-up look is done (or cannot prove anything): the agent's first
        #: write waits for it.
        self._startup = asyncio.Event()

    async def startup_done(self) -> None:
        """Until the start-up pass has looked: the proof of the start-up window needs a look
        before our chain is in the dir. At most ``--cri-confirm-seconds``, the agent's bound on
        waiting for the runtime: one slow to answer holds the chain back no longer."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.settings.cri_confirm_seconds):
                await self._startup.wait()

    def dump_fields(self) -> dict[str, Any]:
        """The dump's ``unchained_sandboxes`` and ``sandboxes`` (None before the first pass)."""
        report = self.report
        if report is None:
            return {"unchained_sandboxes": None, "sandboxes": None}
        fields = report.fields()
        return {"unchained_sandboxes": fields.pop("unchained_sandboxes"), "sandboxes": fields}

    def observe(self, record: Transition) -> None:
        """A machine listener: a transition may change what the runtime loads; look soon."""
        self._quick = record.dest == State.Verified.value
        if not self._quick:
            # On the way to a write, or a change seen in the dir: the runtime may load another
            # config and come back before the next answer, so two answers that agree across
            # this prove nothing between them. (Into Verified nothing changed since Writing.)
            self._continuing = False
        self._wake.set()

    async def _start(self) -> str | None:
        """The record to go on with; why it could not be had (then the passes go on, with a
        fresh record they cannot write: nothing is proven that would not be kept)."""
        try:
            boot = await off_loop.run(record_file.boot_id)
        except record_file.RecordError as err:
            self._no_boot = str(err)
            self._record = chain_record.fresh("")
            return self._no_boot
        try:
            self._record, why, self._found = await record_file.load_found(self.path, boot)
        except record_file.RecordError as err:
            self._record = chain_record.fresh(boot)
            return str(err)
        if why is not None:
            logs.event("record", file=str(self.path), reason=why)
        if self._found in (Found.NONE, Found.OTHER_BOOT):
            self._output_present = await _present(self.settings.net_dir / self.settings.output)
        return None

    async def _opened_at_boot(
        self, record: Record, judged: Confirmation, status: cri_messages.RuntimeStatus
    ) -> bool:
        """Whether this first answer of the boot proves the window since the boot."""
        if self._found is None or record.spans or record.observed_since is not None:
            return False
        try:
            loaded = status.cni_config()
        except cri_messages.MalformedMessage:
            return False
        plugins = [n.plugins for n in loaded.networks] if loaded is not None else []
        return boot_window.opens_at_boot(
            self._found,
            self._output_present,
            judged.verdict,
            plugins,
            str(self.settings.plugin["type"]),
        )

    async def pass_once(self) -> Report:
        """One pass: list, ask, judge, write the record, repair. A runtime that cannot be
        asked ends the pass with the reason (the record keeps what it had)."""
        error: str | None = None
        if self._record is None:
            error = await self._start()
            if self._output_present is not False:
                self._startup.set()  # nothing to prove: the agent's write need not wait
        if self._no_boot is not None:
            # Without the boot id no record can be told from another boot's: prove nothing.
            return self._reported(self._record, Verdicts(), self._no_boot)
        record = self._record
        assert record is not None
        verdicts = self.report.verdicts if self.report else Verdicts()
        try:
            listed_at = self.clock()
            seen = await look(self.client, self._known)
            asked_at = self.clock()
            status = await self.client.status()
            judged = confirmation.confirm(status, self.net_dir, self.settings.output, self.ours())
            if self.on_answer is not None:
                self.on_answer(judged, asked_at)
            answer = confirmation.PROVES[judged.verdict]
            at = self.clock()
            span = None
            if answer is None:
                self._continuing = False
            elif await self._opened_at_boot(record, judged, status):
                boot = await off_loop.run(record_file.boot_time)
                record = chain_record.opened_at_boot(record, boot, at)
                self._continuing = True
                span = record.current
                logs.event(
                    "record",
                    file=str(self.path),
                    since=iso(boot),
                    reason=f"no record of this boot, no {self.settings.output} at the first"
                    f" look, and the runtime's first answer is not our chain ({judged.detail}):"
                    " not our chain since the boot",
                )
            else:
                record = chain_record.observe(record, answer, at, self._continuing)
                self._continuing = True
                current = record.current
                if current is not None and current.since <= listed_at:
                    span = current
            record, verdicts = sandbox_verdicts.classify(record, seen, span)
        except (cri.CriError, record_file.RecordError) as err:
            self._continuing = False
            error = _also(error, str(err))
        finally:
            # The start-up look is over (proven or not): the agent may write.
            self._startup.set()
        self._record = record
        try:
            await record_file.save(self.path, record)
        except record_file.RecordError as err:
            error = _also(error, str(err))
        if error is None:
            self._say_changes(record, verdicts)
            # Only with the record written: a stop rests on a proof that must be kept.
            await self._repair(verdicts)
        return self._reported(record, verdicts, error)

    def crashed(self, error: BaseException) -> None:
        """The passes stopped for good: say so where the last pass is read (the gauge of a
        failed pass, the dump's error), and never hold the agent's first write back."""
        self._startup.set()
        why = f"the passes over the sandboxes stopped: {error!r}; restart the container"
        self._reported(self._record, self.report.verdicts if self.report else Verdicts(), why)

    def _reported(self, record: Record | None, verdicts: Verdicts, error: str | None) -> Report:
        if error != self._last_error and error is not None:
            logs.event("sandboxes", logging.WARNING, reason=error)
        self._last_error = error
        record = record or chain_record.fresh("")
        self.report = Report(record, verdicts, self.clock(), error, self.stops, str(self.path))
        return self.report

    def _say_changes(self, record: Record, verdicts: Verdicts) -> None:
        """One line when the runtime's verdict on our chain turns, and one when the verdicts
        on the sandboxes change: never a line per pass, nor per new span of the same verdict."""
        before = self.report
        span = record.current
        if span is not None and (
            before is None
            or before.record.current is None
            or before.record.current.chained != span.chained
        ):
            logs.event(
                "runtime_chain",
                chained=span.chained,
                since=iso(span.since),
                reason="the runtime's loaded config is our chain"
                if span.chained
                else "the runtime's loaded config is not our chain",
            )
        old = before.verdicts if before is not None else None
        if old is None or (
            [s.id for s in old.unchained],
            old.chained,
            old.unknown,
        ) != ([s.id for s in verdicts.unchained], verdicts.chained, verdicts.unknown):
            logs.event(
                "sandboxes",
                logging.WARNING if verdicts.unchained else logging.INFO,
                unchained=len(verdicts.unchained),
                chained=verdicts.chained,
                unknown=verdicts.unknown,
                pods=" ".join(s.pod for s in verdicts.unchained),
            )

    async def _repair(self, verdicts: Verdicts) -> None:
        mode = self.settings.repair_unchained
        if mode == "off":
            return
        chosen, _ = sandbox_verdicts.repairable(
            verdicts.unchained, self.settings.repair_exclude_namespaces
        )
        if mode == "dry-run":
            self._announced &= {s.id for s in verdicts.unchained}
            for sandbox in chosen:
                if sandbox.id not in self._announced:
                    self._announced.add(sandbox.id)
                    _log_repair(sandbox, "would stop")
            return
        now = self.clock()
        room = sandbox_verdicts.allowance(
            self._stopped_at, now, self.settings.repair_max_per_minute
        )
        self._stopped_at = [t for t in self._stopped_at if now - t < sandbox_verdicts.RATE_WINDOW]
        for sandbox in chosen[:room]:
            try:
                await self.client.stop_sandbox(sandbox.id)
            except cri.CriError as err:
                _log_repair(sandbox, f"not stopped: {err}", logging.WARNING)
                return
            self.stops += 1
            self._stopped_at.append(self.clock())
            _log_repair(sandbox, "stopped")

    async def run(self) -> None:
        """Passes until cancelled: at start, every interval, and soon after a transition."""
        interval = self.settings.sandbox_interval
        while True:
            # Cleared before the pass: a transition during it asks for one more.
            self._wake.clear()
            report = await self.pass_once()
            delay = interval
            if self._quick:
                current = report.record.current
                if report.error is None and current is not None and current.chained:
                    self._quick = False
                else:
                    delay = self._next_quick(delay)
            else:
                self._backoff = QUICK_FIRST
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    def _next_quick(self, interval: float) -> float:
        delay = min(self._backoff, interval)
        self._backoff = min(self._backoff * 2, QUICK_LAST)
        return delay

    def close(self) -> None:
        self.client.close()


def _log_repair(sandbox: Seen, action: str, level: int = logging.INFO) -> None:
    """One line per sandbox, naming the pod."""
    logs.event(
        "repair",
        level,
        action=action,
        pod=sandbox.pod,
        sandbox=sandbox.id,
        created=iso(sandbox.created),
        reason="networked without the chain (the record proves the runtime had not loaded it)",
    )


async def _present(path: Path) -> bool | None:
    """Whether anything is at ``path`` (None: it cannot be told)."""
    try:
        await off_loop.run(os.lstat, path)
    except FileNotFoundError:
        return False
    except OSError:
        return None
    return True


def _also(error: str | None, more: str) -> str:
    return more if error is None else f"{error}; {more}"


@contextlib.asynccontextmanager
async def watching(
    settings: Settings,
    socket: Path | None,
    ours: Callable[[], bytes | None],
    on_answer: Callable[[Confirmation, float], None] | None = None,
) -> AsyncIterator[SandboxWatch | None]:
    """The watch in its task while the agent runs, when a CRI socket is set; else None."""
    if socket is None:
        yield None
        return
    watch = SandboxWatch(settings, socket, ours, on_answer=on_answer)
    try:
        async with background.task(watch.run(), "chainfsm-sandboxes", watch.crashed):
            yield watch
    finally:
        watch.close()
