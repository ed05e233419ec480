"""The symlinks on the way to a watched dir, and a watch on the dirs that hold them.

inotify follows a symlink once, when the watch is added: repointed later, the link sends no
event on the dir it named (the watch keeps hearing the old one) and none on the new. Only the
dir holding the link sees the rename or re-creation of its name. So every symlink met while
resolving the path (``--net-dir`` a link to ``A``, or a link further up) is watched in its
own dir, and any change to its name asks whether the path still names the watched dir.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from pathlib import Path

import asyncinotify
from asyncinotify import Mask

#: What replaces or removes a name in a dir: ``ln -sfn`` unlinks and recreates it, an atomic
#: swap renames a new link over it, and the link's dir itself may be moved or deleted.
LINK_MASK = (
    Mask.CREATE
    | Mask.DELETE
    | Mask.MOVED_TO
    | Mask.MOVED_FROM
    | Mask.DELETE_SELF
    | Mask.MOVE_SELF
    | Mask.ONLYDIR
)
#: More links than this on one path is a loop (the kernel's own limit, ELOOP, is 40).
MAX_LINKS = 40


def links_on_the_way(path: Path) -> list[tuple[Path, str]]:
    """Every symlink met while resolving ``path``, as (the dir holding it, its name), in the
    order met, as the kernel meets them (a ``..`` after a link leaves the link's target)."""
    found: list[tuple[Path, str]] = []
    pending = list(path.absolute().parts)
    current = Path("/")
    while pending:
        part = pending.pop(0)
        if part == "/":
            current = Path("/")
            continue
        if part in ("", "."):
            continue
        if part == "..":
            current = current.parent
            continue
        try:
            target = (current / part).readlink()
        except OSError:  # not a link (EINVAL), or not there: walk on as the kernel would
            current = current / part
            continue
        found.append((current, part))
        if len(found) > MAX_LINKS:
            break
        pending = [*target.parts, *pending]
    return found


class LinkWatch:
    """An inotify watch on the dir of each symlink on the way to ``paths``, calling
    ``on_change`` when one of those names changes. With no symlink on the way, nothing is
    watched (no inotify instance is taken)."""

    def __init__(self, paths: Iterable[Path], on_change: Callable[[], None]) -> None:
        self._on_change = on_change
        names: dict[Path, set[str]] = {}
        for path in paths:
            for folder, name in links_on_the_way(path):
                names.setdefault(folder, set()).add(name)
        self.links = names
        self._inotify: asyncinotify.Inotify | None = None
        self._task: asyncio.Task[None] | None = None
        if not names:
            return
        self._inotify = asyncinotify.Inotify()
        try:
            for folder in names:
                self._inotify.add_watch(folder, LINK_MASK)
        except OSError:
            self._inotify.close()
            raise
        self._task = asyncio.create_task(self._pump(), name="chainfsm-watch-links")

    async def _pump(self) -> None:
        assert self._inotify is not None
        async for event in self._inotify:
            watch = event.watch
            names = self.links.get(watch.path, set()) if watch is not None else set()
            if event.name is None or str(event.name) in names:
                # A link repointed, or the dir holding it moved, deleted or overflowing: ask.
                self._on_change()

    async def close(self) -> None:
        """Stop the pump, then close the inotify (its reader may be queued on the loop)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            await asyncio.sleep(0)
        if self._inotify is not None:
            with contextlib.suppress(OSError):
                self._inotify.close()
