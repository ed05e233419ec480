"""The chain record's file on the host (a hostPath under /run), and the boot it belongs to.

Written atomically (the same write as the chain's, off the conf dir's writer thread), so an
agent killed mid-write leaves the old record or the new one. What it holds: chain_record.
"""

from __future__ import annotations

from pathlib import Path

from chainfsm.core import boot_window, chain_record
from chainfsm.core.boot_window import Found
from chainfsm.core.chain_record import Record
from chainfsm.edge import off_loop, writing

#: The kernel's id of this boot: a new one after every reboot.
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
#: Its ``btime`` line: when the node booted.
PROC_STAT = Path("/proc/stat")


class RecordError(Exception):
    """The record could not be read or written; one line why."""


def boot_id(path: Path = BOOT_ID) -> str:
    try:
        return path.read_text().strip()
    except OSError as err:
        raise RecordError(f"cannot read the boot id from {path}: {err.strerror}") from None


def boot_time(path: Path = PROC_STAT) -> float:
    """When this boot began (Unix time, whole seconds rounded down)."""
    try:
        text = path.read_text()
    except OSError as err:
        raise RecordError(f"cannot read the boot time from {path}: {err.strerror}") from None
    stamp = boot_window.boot_time(text)
    if stamp is None:
        raise RecordError(f"cannot read the boot time from {path}: no btime line")
    return stamp


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise RecordError(f"record {path} is a directory") from None
    except OSError as err:
        raise RecordError(f"cannot read record {path}: {err.strerror}") from None


async def load(path: Path, boot: str) -> tuple[Record, str | None]:
    """The record to go on with, and why the file's was not kept (None: kept or none)."""
    data = await off_loop.run(_read, path)
    return chain_record.resume(data, boot)


async def load_found(path: Path, boot: str) -> tuple[Record, str | None, Found]:
    """As ``load``, and what the file held (for the start-up window's proof)."""
    data = await off_loop.run(_read, path)
    record, why = chain_record.resume(data, boot)
    return record, why, chain_record.found(data, boot)


async def save(path: Path, record: Record) -> None:
    try:
        await off_loop.run(path.parent.mkdir, parents=True, exist_ok=True)
    except FileExistsError:
        # mkdir's own words ("File exists") would hide that a file stands where the dir goes.
        raise RecordError(f"cannot write record {path}: {path.parent} is not a directory") from None
    except OSError as err:
        raise RecordError(f"cannot write record {path}: {err.strerror}") from None
    try:
        await writing.write_atomic(
            path.parent, path.name, chain_record.encode(record), executor=None
        )
    except OSError as err:
        raise RecordError(f"cannot write record {path}: {err.strerror}") from None
    except writing.WriteError as err:
        raise RecordError(f"cannot write record {path}: {err}") from None
