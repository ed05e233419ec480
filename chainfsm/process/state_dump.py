"""The state dump: on SIGUSR1, one JSON document of what the agent knows, in a file and a log line.

The signal handler only sets an event; the ``chainfsm-dump`` task takes the snapshot and
writes it. The agent's status is one frozen value taken on the event loop (so it is
consistent), the file reads and the write happen after, and a burst of signals collapses
into one more dump: the machine is never waited on, and it never waits on a dump.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chainfsm import __version__, logs
from chainfsm.core import chaining, escaping, validation
from chainfsm.core.times import iso
from chainfsm.edge import off_loop, pids, reading, writing
from chainfsm.edge.confdir import sha256
from chainfsm.settings import Settings

if TYPE_CHECKING:
    from chainfsm.agent.status import Status


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, chaining.Rewrite):
        return {"type": value.type, "key": value.key, "from": value.old, "to": value.new}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def settings_fields(settings: Settings) -> dict[str, Any]:
    """The effective settings as JSON values. Pure."""
    return {f.name: _plain(getattr(settings, f.name)) for f in dataclasses.fields(settings)}


def verdict_fields(name: str | None, data: reading.Read) -> dict[str, Any]:
    """A file's name, sha256 and the runtime's verdict on it, as JSON values. Pure."""
    if name is None:
        return {"file": None, "sha256": None, "valid": None, "verdict": "no such file"}
    if data is None:
        return {"file": name, "sha256": None, "valid": None, "verdict": validation.ABSENT}
    verdict = validation.verdict(name, data)
    if isinstance(verdict, validation.Refusal):
        return {
            "file": name,
            "sha256": sha256(data),
            "valid": False,
            "verdict": verdict.detail,
            "rule": str(verdict.rule),
        }
    return {
        "file": name,
        "sha256": sha256(data),
        "valid": True,
        "verdict": f"valid: {verdict.summary}",
    }


def runtime_fields(status: Status) -> dict[str, Any] | None:
    """--cri-socket: the runtime's last answer on our chain (None: no socket set). Pure."""
    socket = status.settings.cri_socket
    if socket is None:
        return None
    check = status.runtime
    if check is None:
        return {
            "socket": str(socket),
            "confirmed": False,
            "loaded": None,
            "verdict": None,
            "detail": "not asked yet",
            "time": None,
            "questions": 0,
        }
    answer = check.confirmation
    return {
        "socket": str(check.socket),
        "confirmed": answer.confirmed,
        "loaded": answer.loaded,
        "verdict": str(answer.verdict),
        "detail": answer.detail,
        "time": iso(check.time),
        "questions": check.questions,
    }


def agent_fields(status: Status, now: float) -> dict[str, Any]:
    """What the agent knows, from its status at one moment, as JSON values. Pure."""
    history = status.history
    return {
        "version": __version__,
        "pid": os.getpid(),
        "time": iso(now),
        "uptime_seconds": round(now - status.started, 3),
        "state": status.state.value,
        "state_since": iso(status.state_since),
        "seconds_in_state": round(now - status.state_since, 3),
        # Why it is in that state, in one line: what `chainfsm status` prints.
        "situation": status.situation,
        "watch_armed": status.watch_armed,
        "watch_degraded": status.watch_degraded,
        "last_error": status.last_error,
        # Since when the chain has been failing (None: not since the last Verified), so a
        # stuck node does not read like one still starting.
        "failing": (
            {
                "since": iso(status.failing_since),
                "seconds": round(now - status.failing_since, 3),
                "failures": status.failures,
                "budgets_spent": status.budgets_spent,
            }
            if status.failing_since is not None
            else None
        ),
        "counters": {
            "attempt": status.attempt,
            "retries": status.retries,
            "failures": status.failures,
            "writes": status.writes,
        },
        "chained_from": (
            {"file": status.chained_from, "sha256": sha256(status.chained_from_data)}
            if status.chained_from is not None
            else None
        ),
        "verified_output_sha256": sha256(status.verified_output),
        # Fail closed: the chain may be written while its binaries are not there yet.
        "binaries": {
            "bin_dir": _plain(status.settings.bin_dir),
            "missing": [p.detail for p in status.binary_problems],
            # In place, but their VERSION cannot be asked from here: said, not refused.
            "unchecked": list(status.binary_unchecked),
        },
        "runtime": runtime_fields(status),
        # The sandbox passes fill these in (process/sandbox_watch); every key is always there,
        # null when its setting is off: without --cri-socket (or with --once), or before the
        # first pass.
        "unchained_sandboxes": None,
        "sandboxes": None,
        # --untaint: null when not set.
        "untaint": (
            {
                "key": status.untaint.key,
                "node": status.untaint.node,
                "present": status.untaint.present,
                "done": status.untaint.done,
                "removed": status.untaint.removed,
                "last_error": status.untaint.last_error,
                "api_calls": status.untaint.calls,
            }
            if status.untaint is not None
            else None
        ),
        "history": {
            "capacity": status.history_capacity,
            "transitions": [{"time": iso(t.time), **t.fields()} for t in history],
        },
        "settings": settings_fields(status.settings),
    }


def snapshot(status: Status) -> dict[str, Any]:
    """The whole dump: the agent's status, then the primary and our output as they are now."""
    doc = agent_fields(status, time.time())
    settings = status.settings
    primary = status.primary
    primary_data = reading.read(settings.net_dir, primary) if primary else None
    output_data = reading.read(settings.net_dir, settings.output)
    doc["primary"] = verdict_fields(primary, primary_data)
    doc["output"] = verdict_fields(settings.output, output_data)
    return doc


def encode(doc: Mapping[str, Any]) -> bytes:
    # A file name that is not UTF-8 (lone surrogates) must not crash the dump.
    return escaping.utf8(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


def pid_file(dump_file: Path) -> Path:
    """Where the agent leaves its pid for ``chainfsm dump`` to signal."""
    return dump_file.with_name(dump_file.name + ".pid")


class Dumper:
    """Writes a dump each time ``request`` is called (from a signal handler: no work there)."""

    def __init__(
        self,
        status: Callable[[], Status],
        path: Path,
        more: Callable[[], Mapping[str, Any]] | None = None,
        up: asyncio.Event | None = None,
    ) -> None:
        self.status = status
        self.path = path
        #: Fields from beside the agent (the sandbox watch), added to each dump.
        self.more = more
        self._wanted = asyncio.Event()
        #: Set once the agent is up: the pid file is taken then, not before (an agent that
        #: fails to start must not name itself there). None: at once.
        self._up = up

    def request(self) -> None:
        self._wanted.set()

    async def dump_once(self) -> None:
        """Take and write one snapshot; a failure is logged, never raised into the agent."""
        doc = snapshot(self.status())
        if self.more is not None:
            doc.update(self.more())
        # The line first: once the file is there, so is the line.
        logs.event("dump", file=str(self.path), snapshot=doc)
        try:
            await off_loop.run(self.path.parent.mkdir, parents=True, exist_ok=True)
            # The same atomic write as the chain's (a reader sees the old dump or the new one),
            # but not on the conf dir's writer thread: a dump must come out while a write
            # there hangs in fsync, which is when it is wanted most.
            await writing.write_atomic(self.path.parent, self.path.name, encode(doc), executor=None)
        except OSError as err:
            logs.event(
                "dump", logging.WARNING, file=str(self.path), reason=f"not written: {err.strerror}"
            )
        except writing.WriteError as err:
            logs.event("dump", logging.WARNING, file=str(self.path), reason=f"not written: {err}")

    def _write_pid(self) -> bool:
        """Write our pid beside the dump, unless the file there names another agent that runs;
        True when written (and so ours to remove)."""
        path = pid_file(self.path)
        holder = _read_pid_file(path)
        if holder is not None and holder[0] != os.getpid() and pids.running_agent(*holder):
            self._pid_trouble(
                f"left to the agent it names, which runs (pid {holder[0]});"
                f" chainfsm dump reaches this one with --pid {os.getpid()}"
            )
            return False
        # The start time beside the pid lets ``chainfsm dump`` tell this process from a
        # later one given the same number after we are gone.
        started = pids.start_time(os.getpid())
        staged = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Renamed into place: a reader never sees a half-written pid.
            staged.write_text(f"{os.getpid()} {started or ''}".rstrip() + "\n")
            staged.replace(path)
        except OSError as err:
            with contextlib.suppress(OSError):
                staged.unlink(missing_ok=True)
            self._pid_trouble(f"no pid file ({err.strerror}); chainfsm dump needs --pid")
            return False
        return True

    def _remove_pid(self) -> None:
        """Remove the pid file if it still names us: another agent may have taken it since."""
        path = pid_file(self.path)
        holder = _read_pid_file(path)
        if holder is None or holder[0] != os.getpid():
            return
        try:
            path.unlink(missing_ok=True)
        except OSError as err:
            # On the way out: one line, never a crashed task.
            self._pid_trouble(f"pid file not removed ({err.strerror})")

    def _pid_trouble(self, reason: str) -> None:
        logs.event("dump", logging.WARNING, file=str(pid_file(self.path)), reason=reason)

    async def run(self) -> None:
        """Serve dump requests until cancelled; the pid file once the agent is up."""
        taking: asyncio.Future[bool] | None = None
        try:
            # The dir at once, as before the pid file was put off until the agent is up: a
            # `chainfsm dump` from then on has a dir to watch (a failure is said later).
            with contextlib.suppress(OSError):
                await off_loop.run(self.path.parent.mkdir, parents=True, exist_ok=True)
            if self._up is not None:
                await self._up.wait()
            # Shielded: an agent that ends at once must still learn whether it wrote the file.
            taking = asyncio.ensure_future(off_loop.run(self._write_pid))
            await asyncio.shield(taking)
            while True:
                await self._wanted.wait()
                # Cleared before the snapshot: a signal during the write asks for one more.
                self._wanted.clear()
                await self.dump_once()
        finally:
            if taking is not None:
                await asyncio.wait([taking])
                # Only a pid file we wrote: one we could not overwrite names another agent.
                if not taking.cancelled() and taking.exception() is None and taking.result():
                    self._remove_pid()


def _read_pid_file(path: Path) -> tuple[int, int | None] | None:
    """The pid and start time in a pid file; None when there is none (or not a pid)."""
    try:
        return pids.parse_pid_file(path.read_text())
    except (OSError, UnicodeDecodeError):
        return None
