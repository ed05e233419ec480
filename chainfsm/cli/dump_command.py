"""``chainfsm dump``: signal the running agent, wait for its fresh dump and print it.

Meant for ``kubectl exec <pod> -c chainfsm -- chainfsm dump``: one command, no shell needed.
The pid is checked before it is signalled (a stale pid file may name an unrelated process now,
which SIGUSR1 would kill), and the watch on the dump's directory is armed before the signal is sent,
so the new dump cannot be missed.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import signal
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import asyncinotify
from asyncinotify import Mask

from chainfsm import settings
from chainfsm.cli import json_output
from chainfsm.edge import off_loop, pids
from chainfsm.process import state_dump

_DUMP_FILE = settings.by_name("dump_file")
DEFAULT_FILE = Path(_DUMP_FILE.default)


class NoDump(Exception):
    """Why no dump could be had, in one line."""


def agent_pid(dump_file: Path, command: str = "dump") -> tuple[int, int | None]:
    """The pid the agent left beside its dump file, and its start time when it wrote one;
    ``command``, the one asking, for the hint to run it in the pod."""
    path = state_dump.pid_file(dump_file)
    try:
        text = path.read_text()
    except OSError as err:
        raise NoDump(
            f"cannot read {path} ({err.strerror}): is an agent running here with --dump-file"
            f" {dump_file}? Give the agent's --dump-file (or CHAINFSM_DUMP_FILE), or its --pid"
            " (its dump file is then read from its command line); in a pod, exec into the"
            f" chainfsm container (kubectl exec POD -c chainfsm -- chainfsm {command})"
        ) from err
    found = pids.parse_pid_file(text)
    if found is None:
        raise NoDump(f"{path} holds {text[:20]!r}, not a pid")
    return found


def open_agent(pid: int, started: int | None, source: str) -> int:
    """A pidfd of ``pid``, once it is known to be a chainfsm agent (and, with ``started``, the
    very process that wrote the pid file), or NoDump in one line.

    The pidfd pins the process: if it ends after the check and the number goes to another
    process, a signal sent through the pidfd fails instead of reaching the newcomer. So the
    check holds for the signal that follows it.
    """
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError as err:
        raise NoDump(f"no process {pid} ({source}): the agent is not running") from err
    except OSError as err:
        raise NoDump(f"cannot open process {pid}: {err.strerror}") from err
    try:
        try:
            argv = pids.cmdline(pid)
        except OSError as err:
            raise NoDump(f"cannot read process {pid}'s command line: {err.strerror}") from err
        if not pids.is_agent(argv):
            shown = " ".join(argv)[:80] or "a kernel thread"
            raise NoDump(
                f"process {pid} ({source}) is {shown!r}, not a chainfsm agent; not signalling it"
            )
        if started is not None and pids.start_time(pid) != started:
            raise NoDump(
                f"process {pid} ({source}) is a chainfsm agent started after that pid file was"
                " written: the file is stale; not signalling it"
            )
    except NoDump:
        os.close(pidfd)
        raise
    return pidfd


#: Seconds between two looks at the dump file when its dir cannot be watched.
POLL_EVERY = 0.05


def _stamp(path: Path) -> tuple[int, int, int] | None:
    """What a new dump renamed over ``path`` changes (None: no file there)."""
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_ino, info.st_mtime_ns, info.st_ctime_ns


async def request(send: Callable[[], None], dump_file: Path, within: float) -> bytes:
    """Call ``send`` (which signals an agent) and return the dump written to ``dump_file``
    within ``within`` seconds. The watch is armed first, so the new dump cannot be missed;
    where inotify cannot be armed (the uid's inotify limits used up, the very situation a
    dump is asked for), the file is polled instead: the agent renames each dump into place,
    so a new one is a new inode."""
    try:
        inotify = asyncinotify.Inotify()
    except OSError:
        return await _polled(send, dump_file, within)
    with inotify:
        try:
            inotify.add_watch(dump_file.parent, Mask.MOVED_TO | Mask.CLOSE_WRITE | Mask.ONLYDIR)
        except OSError as err:
            if err.errno not in (errno.ENOSPC, errno.ENOMEM):
                raise NoDump(f"cannot watch {dump_file.parent}: {err.strerror}") from err
            return await _polled(send, dump_file, within)
        send()
        try:
            async with asyncio.timeout(within):
                async for event in inotify:
                    if event.name is not None and str(event.name) == dump_file.name:
                        break
        except TimeoutError as err:
            raise _no_dump_within(dump_file, within) from err
        return await off_loop.run(dump_file.read_bytes)


async def _polled(send: Callable[[], None], dump_file: Path, within: float) -> bytes:
    before = _stamp(dump_file)
    send()
    try:
        async with asyncio.timeout(within):
            # No event to wait for without inotify: a clock, until the file is new.
            while True:
                if _stamp(dump_file) not in (before, None):
                    break
                await asyncio.sleep(POLL_EVERY)
    except TimeoutError as err:
        raise _no_dump_within(dump_file, within) from err
    return await off_loop.run(dump_file.read_bytes)


def _no_dump_within(dump_file: Path, within: float) -> NoDump:
    return NoDump(
        f"no dump written to {dump_file} within {within:g} s: is that the agent's --dump-file?"
    )


async def ask(
    pid: int,
    dump_file: Path,
    within: float,
    started: int | None = None,
    source: str = "from --pid",
) -> bytes:
    """Check that ``pid`` is a chainfsm agent, send it SIGUSR1 and return its fresh dump.
    ``source`` says where the pid came from, for the message if it is refused."""
    pidfd = open_agent(pid, started, source)

    def send() -> None:
        try:
            signal.pidfd_send_signal(pidfd, signal.SIGUSR1)
        except ProcessLookupError as err:
            raise NoDump(f"process {pid} ended before it was signalled") from err
        except PermissionError as err:
            raise NoDump(f"not allowed to signal process {pid}") from err

    try:
        return await request(send, dump_file, within)
    finally:
        os.close(pidfd)


def fetch(
    pid: int | None, dump_file: Path | None, timeout: float, command: str = "dump"
) -> dict[str, Any]:
    """The running agent's fresh dump, or NoDump (OSError, ValueError) in one line.

    ``dump_file`` None: the default, or with ``pid`` the one that agent runs with. ``command``:
    the one asking (dump, status), named in the hints."""
    started, source = None, "from --pid"
    if pid is None:
        dump_file = dump_file or DEFAULT_FILE
        pid, started = agent_pid(dump_file, command)
        source = f"from {state_dump.pid_file(dump_file)}"
    elif dump_file is None:
        dump_file = agents_dump_file(pid)
    data = asyncio.run(ask(pid, dump_file, timeout, started, source))
    doc = json.loads(data)
    if not isinstance(doc, dict):
        raise ValueError(f"{dump_file} holds no JSON object")
    return doc


def agents_dump_file(pid: int) -> Path:
    """The dump file of the agent ``pid`` (its --dump-file, else its CHAINFSM_DUMP_FILE, else
    the default), as this process reaches it: through ``/proc/PID/root``, so it is found from
    the node or from another container too. The default when ``pid`` is no agent or its
    command line is unreadable (the pid check that follows says why)."""
    try:
        argv = pids.cmdline(pid)
    except OSError:
        return DEFAULT_FILE
    if not pids.is_agent(argv):
        return DEFAULT_FILE  # refused next, its environment unread
    try:
        environ = pids.environ(pid)
    except OSError:
        environ = {}  # another user's: its flags still count
    named = dump_file_of(argv, environ)
    seen = pids.PROC / str(pid) / ("root" if named.is_absolute() else "cwd")
    try:
        seen.stat()  # readable only by the same user or root
    except OSError:
        return named
    return seen / named.relative_to(named.anchor)


def dump_file_of(argv: Sequence[str], environ: Mapping[str, str]) -> Path:
    """The --dump-file an agent started with ``argv`` and ``environ`` runs with, as its
    settings resolve it (the last flag, else the variable, else the default). Pure."""
    flag, given = _DUMP_FILE.flag, None
    words = iter(argv)
    for word in words:
        if word == flag:
            given = next(words, None)
        elif word.startswith(flag + "="):
            given = word[len(flag) + 1 :]
    text = given if given is not None else environ.get(_DUMP_FILE.env)
    if not text:
        return DEFAULT_FILE
    return Path(text)


def main(pid: int | None, dump_file: Path | None, with_diagram: bool, timeout: float) -> int:
    """Print the dump, or the failure object: stdout is always one JSON document."""
    try:
        doc = fetch(pid, dump_file, timeout)
    except (NoDump, OSError, ValueError) as err:
        return json_output.fail("dump", f"no dump: {err}", 1, True)
    if with_diagram:
        from chainfsm.cli import diagram
        from chainfsm.core.states import State

        doc["diagram"] = diagram.mermaid(State(doc["state"]))
    json_output.document(doc)
    return 0
