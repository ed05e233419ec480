"""Polling a directory, for when inotify cannot be armed (the uid's inotify limits used up),
and which limit the arming ran into, read from /proc.

A poll lists the directory and lstat()s each name that matters: a name that came, went or
whose inode, size, times or mode changed is reported, as an inotify event on it would be.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from chainfsm.core import watch_limits
from chainfsm.core.numbers import whole_number

#: What a name's lstat() says that a change to the file changes.
Stamp = tuple[int, int, int, int, int]


def stamps(path: Path, relevant: Callable[[str], bool]) -> dict[str, Stamp]:
    """Each relevant name in ``path`` and its stamp. Raises OSError when the dir cannot be
    listed; a name removed between the listing and its lstat() is simply not there."""
    found: dict[str, Stamp] = {}
    with os.scandir(path) as entries:
        for entry in entries:
            if not relevant(entry.name):
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            found[entry.name] = (
                info.st_ino,
                info.st_size,
                info.st_mtime_ns,
                info.st_ctime_ns,
                info.st_mode,
            )
    return found


def changed(before: dict[str, Stamp], after: dict[str, Stamp]) -> set[str]:
    """The names that came, went or changed between two polls. Pure."""
    return {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}


class DirPoll:
    """One directory polled: ``poll`` returns the names changed since the last poll (the
    first poll is taken at construction, so a look made after it misses nothing)."""

    def __init__(self, path: Path, relevant: Callable[[str], bool]) -> None:
        self.path = path
        self._relevant = relevant
        info = path.stat()
        #: Which directory is polled: the path may later name another one.
        self.identity = (info.st_dev, info.st_ino)
        #: Where the path led then, through any symlinks on the way.
        self.resolved = path.resolve()
        self._last = stamps(path, relevant)

    def poll(self) -> set[str]:
        now = stamps(self.path, self._relevant)
        names = changed(self._last, now)
        self._last = now
        return names

    def moved(self) -> str | None:
        """Why the path no longer names the polled directory (None: it still does)."""
        try:
            info = self.path.stat()
        except OSError as err:
            return f"{self.path} cannot be looked at any more ({err.strerror})"
        if (info.st_dev, info.st_ino) == self.identity:
            return None
        if (resolved := self.path.resolve()) != self.resolved:
            return (
                f"{self.path} now leads to {resolved}, not {self.resolved}: a symlink on its way"
                " was repointed"
            )
        return f"{self.path} is now another directory (a new mount over it, or recreated)"


def descriptor_left() -> bool:
    """Whether this process can still open a file (EMFILE from inotify_init1 is then the uid's
    instances, not our own descriptors)."""
    try:
        fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True


def current_value(limit: watch_limits.Limit) -> int | None:
    """The limit's value now, from /proc (None where it cannot be read)."""
    if limit.proc is None:
        return None
    with contextlib.suppress(OSError, UnicodeDecodeError):
        words = Path(limit.proc).read_text().split()
        return whole_number(words[0]) if words else None
    return None


def diagnose(err: OSError) -> tuple[watch_limits.Limit, int | None] | None:
    """The limit an arming error ran into and its current value; None when it is no limit."""
    limit = watch_limits.limit_hit(err.errno, descriptor_left())
    if limit is None:
        return None
    return limit, current_value(limit)
