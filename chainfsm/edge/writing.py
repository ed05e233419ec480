"""Atomic writes into the conf dir: the runtime sees the old file or the new one, never a part.

A temp file in the same directory under a name the runtime ignores, every byte checked,
fsync, mode 0644, rename over the output (which replaces a symlink rather than following it),
fsync of the directory so the rename survives a crash.
"""

from __future__ import annotations

import os
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path

from chainfsm.core import discovery
from chainfsm.edge import off_loop, reading


class WriteError(Exception):
    """A write that did not happen, with one line that says why; nothing was left behind."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fill(fd: int, data: bytes, where: Path) -> None:
    """Write every byte of ``data`` to ``fd``, make it 0644, fsync and close it."""
    # Unbuffered, so a short write (a full tmpfs can cut one short without an error)
    # shows in the count instead of vanishing in a buffer.
    with open(fd, "wb", buffering=0) as handle:
        written = 0
        while written < len(data):
            count = handle.write(data[written:])
            if not count:
                raise WriteError(f"{where} took only {written} of {len(data)} bytes")
            written += count
        os.fchmod(fd, 0o644)  # the umask must not decide what the runtime may read
        os.fsync(fd)


def _write_durably(fd: int, data: bytes, temp: Path, target: Path) -> None:
    """Fill the temp file, check it reads back as written, rename it over the target and
    fsync the directory. Raises WriteError or OSError."""
    _fill(fd, data, temp.parent)
    if reading.read(temp.parent, temp.name) != data:
        raise WriteError(f"{temp.name} did not read back as written; the disk may be full")
    temp.replace(target)
    _fsync_dir(target.parent)


#: The one thread that writes, syncs and removes in the conf dir (the agent does one at a time
#: anyway). asyncio's default pool grew to several idle threads that all woke for each trip and
#: then fought over the GIL: a third of the agent's system calls were futex calls. Only the
#: conf dir's writes queue here: a hung fsync there must not hold up a write elsewhere.
_WRITER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chainfsm-writer")


async def write_atomic(
    net_dir: Path, output: str, data: bytes, *, executor: Executor | None = _WRITER
) -> None:
    """Replace ``net_dir/output`` with ``data`` atomically, or raise WriteError.

    ``executor`` runs the write: the conf dir's one writer thread by default; None is
    asyncio's default pool, for files elsewhere (the state dump), which must not wait behind
    a write to the conf dir whose fsync hangs.
    """
    # os.urandom is what secrets.token_hex reads; importing secrets (hmac, hashlib, base64)
    # cost --once a millisecond of start-up.
    temp = net_dir / discovery.temp_name(output, os.urandom(6).hex())
    try:
        fd = os.open(
            temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644
        )
    except OSError as err:
        raise WriteError(f"cannot create a temp file in {net_dir}: {err.strerror}") from err
    try:
        # The whole write is one trip off the loop: the fsyncs can block for long, and each
        # trip costs two thread wake-ups, more than the small write itself (see benchmarks/).
        await off_loop.run_on(executor, _write_durably, fd, data, temp, net_dir / output)
    except OSError as err:
        raise WriteError(f"cannot write {output} in {net_dir}: {err.strerror}") from err
    finally:
        try:
            temp.unlink()
        except FileNotFoundError:
            pass  # renamed into place: the normal case
        except OSError:
            pass  # a read-only dir keeps it; the next start removes our temp files


async def remove(net_dir: Path, name: str) -> bool:
    """Remove ``net_dir/name`` durably; False when it was not there. Raises WriteError."""
    try:
        await off_loop.run_on(_WRITER, os.remove, net_dir / name)
    except FileNotFoundError:
        return False
    except OSError as err:
        raise WriteError(f"cannot remove {name} from {net_dir}: {err.strerror}") from err
    try:
        await off_loop.run_on(_WRITER, _fsync_dir, net_dir)
    except OSError as err:
        raise WriteError(f"removed {name} but cannot sync {net_dir}: {err.strerror}") from err
    return True
