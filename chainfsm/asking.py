"""``chainfsm dump``: signal the running agent, wait for its fresh dump and print it.

Meant for ``kubectl exec <pod> -- chainfsm dump``: one command, no shell needed. The watch
on the dump's directory is armed before the signal is sent, so the new dump cannot be missed.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import asyncinotify
from asyncinotify import Mask

from chainfsm import dumping, printing


class AskError(Exception):
    """Why no dump could be had, in one line."""


def agent_pid(dump_file: Path) -> int:
    """The pid the agent left beside its dump file."""
    path = dumping.pid_file(dump_file)
    try:
        text = path.read_text().strip()
    except OSError as err:
        raise AskError(
            f"cannot read {path} ({err.strerror}): is the agent running with --dump-file"
            f" {dump_file}? Pass --pid otherwise"
        ) from err
    if not text.isdigit():
        raise AskError(f"{path} holds {text[:20]!r}, not a pid")
    return int(text)


async def ask(pid: int, dump_file: Path, within: float) -> bytes:
    """Send SIGUSR1 to ``pid`` and return the dump it writes to ``dump_file`` within ``within``
    seconds."""
    try:
        inotify = asyncinotify.Inotify()
        inotify.add_watch(dump_file.parent, Mask.MOVED_TO | Mask.CLOSE_WRITE | Mask.ONLYDIR)
    except OSError as err:
        raise AskError(f"cannot watch {dump_file.parent}: {err.strerror}") from err
    with inotify:
        try:
            os.kill(pid, signal.SIGUSR1)
        except ProcessLookupError as err:
            raise AskError(f"no process {pid}: the agent is not running") from err
        except PermissionError as err:
            raise AskError(f"not allowed to signal process {pid}") from err
        try:
            async with asyncio.timeout(within):
                async for event in inotify:
                    if event.name is not None and str(event.name) == dump_file.name:
                        break
        except TimeoutError as err:
            raise AskError(
                f"process {pid} wrote no dump to {dump_file} within {within:g} s: is it"
                " chainfsm, and is that its --dump-file?"
            ) from err
        return await asyncio.to_thread(dump_file.read_bytes)


def main(pid: int | None, dump_file: Path, with_diagram: bool, timeout: float) -> int:
    try:
        data = asyncio.run(ask(pid or agent_pid(dump_file), dump_file, timeout))
        doc: dict[str, Any] = json.loads(data)
    except (AskError, OSError, ValueError) as err:
        print(f"chainfsm: no dump: {err}", file=sys.stderr)
        return 1
    if with_diagram:
        from chainfsm import diagram
        from chainfsm.states import State

        doc["diagram"] = diagram.mermaid(State(doc["state"]))
    printing.out(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    if with_diagram:
        printing.out("\n" + doc["diagram"])
    return 0
