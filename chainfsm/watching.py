"""inotify on the conf dir, turned into one flag: "something the runtime reads has changed".

The agent always rescans the whole directory after a change, so events need not be kept:
a burst of them collapses into one rescan, and a queue overflow is just another change.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import asyncinotify
from asyncinotify import Mask

from chainfsm import discovery

#: What changes a file's presence or content. IN_MODIFY is left out on purpose: a writer is
#: only done at close_write or rename, and reacting to every write(2) would read half files.
DIR_MASK = (
    Mask.CREATE
    | Mask.CLOSE_WRITE
    | Mask.MOVED_TO
    | Mask.MOVED_FROM
    | Mask.DELETE
    | Mask.DELETE_SELF
    | Mask.MOVE_SELF
    | Mask.ONLYDIR
)
#: The bin dir: also a mode change, since a binary copied in may be made executable after.
BIN_DIR_MASK = DIR_MASK | Mask.ATTRIB
#: Events that mean the watch itself is gone or no longer sees the directory by that path.
LOST = Mask.DELETE_SELF | Mask.MOVE_SELF | Mask.UNMOUNT | Mask.IGNORED


class DirWatch:
    """An armed inotify watch on one directory, reporting into ``on_change``.

    ``relevant`` decides which names matter (by default: names the runtime reads). The watch
    is armed in the constructor, so a scan made after it misses nothing.
    """

    def __init__(
        self,
        path: Path,
        on_change: Callable[[str | None], None],
        on_lost: Callable[[str], None],
        relevant: Callable[[str], bool] = discovery.is_config_name,
        mask: Mask = DIR_MASK,
    ) -> None:
        self.path = path
        self._on_change = on_change
        self._on_lost = on_lost
        self._relevant = relevant
        self._inotify = asyncinotify.Inotify()
        try:
            self._inotify.add_watch(path, mask)
        except OSError:
            self._inotify.close()
            raise
        self.armed = True

    async def pump(self) -> None:
        """Read events until the watch is lost (or the task is cancelled)."""
        async for event in self._inotify:
            mask = event.mask
            if mask & Mask.Q_OVERFLOW:
                self._on_change(None)
            elif mask & LOST:
                self.armed = False
                self._on_lost(f"the watch on {self.path} ended ({mask!r})")
                return
            elif event.name is not None and self._relevant(str(event.name)):
                self._on_change(str(event.name))

    def close(self) -> None:
        self.armed = False
        self._inotify.close()

    def __enter__(self) -> DirWatch:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def start(watch: DirWatch, name: str) -> asyncio.Task[None]:
    """Run ``watch.pump`` as a named task whose crash is reported at once, not at exit."""
    task = asyncio.create_task(watch.pump(), name=name)

    def report(done: asyncio.Task[None]) -> None:
        if not done.cancelled() and done.exception() is not None:
            watch.armed = False
            watch._on_lost(f"the watch on {watch.path} crashed: {done.exception()!r}")

    task.add_done_callback(report)
    return task
