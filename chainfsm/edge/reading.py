"""Reading the conf dir the way the runtime does, without ever hanging on what lies there.

The I/O side of discovery and validation: listings and file contents in, the values the pure
modules take out. A FIFO, a device or a directory under a config name must never block us.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from chainfsm.core.snapshot import Read as Read  # said here too: reads give it
from chainfsm.core.validation import MAX_BYTES, Refusal, Rule, too_large


def list_names(net_dir: Path) -> list[str]:
    """The entries libcni considers: everything but directories (a symlink to one is kept, as
    libcni keeps it, and then fails to read it)."""
    with os.scandir(net_dir) as entries:
        return [e.name for e in entries if not e.is_dir(follow_symlinks=False)]


def _open_regular(path: Path, name: str) -> int | Refusal | None:
    # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as err:
        return Refusal(name, Rule.UNREADABLE, f"cannot be opened: {err.strerror}")
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        return Refusal(name, Rule.NOT_REGULAR, f"is {kind}")
    if info.st_size > MAX_BYTES:
        os.close(fd)
        return too_large(name, info.st_size)
    return fd


def _read_fd(fd: int, name: str) -> bytes | Refusal:
    """Read ``fd`` to its end or one byte past the cap, and close it.

    The first read asks for the size fstat gives (plus one, to see the end): asking for the
    cap made Python allocate a megabyte for every read, five times the cost of the read.
    """
    chunks: list[bytes] = []
    total = 0
    try:
        want = min(os.fstat(fd).st_size, MAX_BYTES) + 1
        while total <= MAX_BYTES:
            chunk = os.read(fd, want)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            want = min(1 << 16, MAX_BYTES + 1 - total)  # it grew while we read
    except OSError as err:
        return Refusal(name, Rule.UNREADABLE, f"cannot be read: {err.strerror}")
    finally:
        os.close(fd)
    return b"".join(chunks)


def read(net_dir: Path, name: str) -> Read:
    """The file's bytes (at most one byte past the cap), read where the caller runs: on the
    event loop, for the agent.

    Only a regular file of at most the cap is read (never a FIFO or device, which could make
    us wait), from a local conf dir whose files were just written: the page cache answers in
    microseconds. A trip to a thread pool cost ten times that (two thread wake-ups); it was
    most of what the agent's reaction took beyond the fsyncs, which do go to a thread (see
    writing.py).
    """
    fd = _open_regular(net_dir / name, name)
    return _read_fd(fd, name) if isinstance(fd, int) else fd
