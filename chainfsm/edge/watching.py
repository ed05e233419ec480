"""inotify on the conf dir, turned into one flag: "something the runtime reads has changed".

The agent always rescans the whole directory after a change, so events need not be kept:
a burst of them collapses into one rescan, and a queue overflow is just another change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import asyncinotify
from asyncinotify import Mask

from chainfsm import logs
from chainfsm.core import discovery
from chainfsm.edge.changes import Changes

# Imported when needed, not at every start-up: polling when inotify fails, links when the
# watches are armed (`run --once` that finds its primary arms none).
if TYPE_CHECKING:
    from chainfsm.edge import polling
    from chainfsm.edge.links import LinkWatch

#: What changes a file's presence or content. IN_MODIFY too: a truncate(2), or a writer that
#: keeps its fd open, sends nothing else, and containerd reloads on it. A half-written file
#: read on it is only "not ready yet"; the writer's close or rename brings the next look.
DIR_MASK = (
    Mask.CREATE
    | Mask.MODIFY
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
#: The kernel flags this file (POLLPRI) whenever a mount or unmount changes our mount table.
MOUNTINFO = "/proc/self/mountinfo"


def relevant_name(name: str) -> bool:
    """Whether a change to ``name`` in the conf dir can change what the runtime loads. Pure.

    A config name, or one of kubelet's ``..data``-style names: a ConfigMap volume updates by
    renaming a new ``..data`` symlink over the old one, and a primary mounted that way (a
    symlink through ``..data``) changes with no event on its own name.
    """
    return discovery.is_config_name(name) or name.startswith("..")


class DirWatch:
    """An armed inotify watch on one directory, writing what it hears into ``changes``.

    ``relevant`` decides which names matter (by default: ``relevant_name``). The watch
    is armed in the constructor, so a scan made after it misses nothing.
    """

    def __init__(
        self,
        path: Path,
        changes: Changes,
        relevant: Callable[[str], bool] = relevant_name,
        mask: Mask = DIR_MASK,
    ) -> None:
        self.path = path
        self.changes = changes
        self._relevant = relevant
        # sync_timeout 0: ``sync_get`` answers None at once when nothing is queued, so the
        # pump reads only what the kernel holds and never blocks the loop.
        self._inotify = asyncinotify.Inotify(sync_timeout=0)
        #: Resolved when the watch is lost (or the pump fails): what ``pump`` awaits.
        self._ended: asyncio.Future[None] | None = None
        #: Whether the loop reads the inotify fd when it turns readable (see ``held``).
        self._reading = False
        try:
            self._inotify.add_watch(path, mask)
            info = path.stat()
        except OSError:
            self._inotify.close()
            raise
        #: Which directory the watch is on: the path may later name another one.
        self.identity = (info.st_dev, info.st_ino)
        #: Where the path led then, through any symlinks on the way.
        self.resolved = path.resolve()
        self.armed = True

    def check_identity(self) -> None:
        """Report the watch lost when the path now names another directory (a new mount over
        it, or the dir recreated): inotify says nothing about a mount, and the old watch
        would then hear only the hidden directory underneath."""
        if not self.armed:
            return
        try:
            info = self.path.stat()
        except OSError as err:
            why = f"{self.path} cannot be looked at any more ({err.strerror})"
        else:
            if (info.st_dev, info.st_ino) == self.identity:
                return
            why = f"{self.path} is now another directory (a new mount over it, or recreated)"
            if (resolved := self.path.resolve()) != self.resolved:
                why = (
                    f"{self.path} now leads to {resolved}, not {self.resolved}: a symlink on"
                    " its way was repointed"
                )
        self.armed = False
        self.changes.lose(why)

    async def pump(self) -> None:
        """Read events until the watch is lost (or the task is cancelled).

        The loop calls ``drain`` whenever the fd turns readable: one reader for the watch's
        life, where asyncinotify's own iteration added and removed one, and made a future
        and a task step, per batch of events."""
        loop = asyncio.get_running_loop()
        self._ended = loop.create_future()
        self._read(True)
        try:
            await self._ended
        finally:
            self._read(False)

    def _read(self, on: bool) -> None:
        """Have the loop read the fd when it is readable (``on``), or not."""
        if on == self._reading or (on and (self._ended is None or self._ended.done())):
            return  # (a cancelled pump's future is done too, and its reader must go)
        loop = asyncio.get_running_loop()
        if on:
            loop.add_reader(self._inotify.fd, self.drain)
        else:
            with contextlib.suppress(ValueError, OSError):  # the fd may be closed already
                loop.remove_reader(self._inotify.fd)
        self._reading = on

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Leave events queued in the kernel while inside (nothing is lost: they are read
        at the next ``drain``, and an overflow is a change). For our own write: its temp
        file's events woke the loop while the writer thread worked, to read names that
        change nothing."""
        self._read(False)
        try:
            yield
        finally:
            self._read(True)
            self.drain()  # now, not at the next turn: the look that follows counts them in

    def drain(self) -> None:
        """Report every event the kernel holds for the watch now, without waiting."""
        ended = self._ended
        if ended is None or ended.done():
            return
        try:
            while (event := self._inotify.sync_get()) is not None:
                mask = event.mask
                if mask & Mask.Q_OVERFLOW:
                    self.changes.note(None)
                elif mask & LOST:
                    self.armed = False
                    self._read(False)
                    ended.set_result(None)
                    self.changes.lose(f"the watch on {self.path} ended ({mask!r})")
                    return
                elif event.name is not None:
                    name = str(event.name)
                    self.changes.heard(name, self._relevant(name))
        except Exception as err:  # a bug: the pump's task fails and says so
            self._read(False)
            ended.set_exception(err)

    def close(self) -> None:
        self.armed = False
        self._inotify.close()


class MountWatch:
    """Calls ``on_mount`` after every change to this process's mount table.

    /proc/self/mountinfo reports one as a priority event; asyncio's selector only waits for
    "readable", so the file sits in an epoll of its own whose fd is readable when it fires.
    Where /proc is missing the watch is simply off (``active`` false).
    """

    def __init__(self, on_mount: Callable[[], None]) -> None:
        self._on_mount = on_mount
        self._fd: int | None = None
        self._epoll: select.epoll | None = None
        try:
            self._fd = os.open(MOUNTINFO, os.O_RDONLY | os.O_CLOEXEC)
            self._epoll = select.epoll()
            self._epoll.register(self._fd, select.EPOLLPRI | select.EPOLLERR)
            asyncio.get_running_loop().add_reader(self._epoll.fileno(), self._ready)
        except OSError:
            self.close()

    @property
    def active(self) -> bool:
        return self._epoll is not None

    def _ready(self) -> None:
        assert self._epoll is not None
        # Each poll of the file consumes the event, and the loop's own check of our epoll
        # already polled it: so this call is the news, and the poll below only drains.
        self._epoll.poll(0)
        self._on_mount()

    def close(self) -> None:
        if self._epoll is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._epoll.fileno())
            self._epoll.close()
            self._epoll = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


#: Polls between two tries to arm inotify again, while the agent polls instead.
REARM_POLLS = 30


class _ArmFailed(Exception):
    """An inotify watch could not be armed: ``why`` in one line, and the system's error."""

    def __init__(self, why: str, err: OSError) -> None:
        super().__init__(why)
        self.why = why
        self.err = err


class Watches:
    """The agent's watches: inotify on the conf dir and on --bin-dir, and the mount watch,
    writing what they hear into ``changes``. ``arm`` puts them on an exit stack.

    When inotify cannot be armed because a kernel limit is used up (the uid's inotify
    instances or watches, shared with every process of the uid on the node), both dirs are
    polled every ``poll_interval`` seconds instead (``degraded`` says why), and inotify is
    tried again every ``REARM_POLLS`` polls: a limit freed later brings the watches back.
    """

    def __init__(
        self,
        net_dir: Path,
        bin_dir: Path | None,
        changes: Changes,
        poll_interval: float = 1.0,
    ) -> None:
        self.net_dir = net_dir
        self.bin_dir = bin_dir
        self.changes = changes
        self.poll_interval = poll_interval
        self._dir: DirWatch | None = None
        self._bin_dir: DirWatch | None = None
        #: The polled dirs while inotify cannot be armed (None: not polling).
        self._polls: list[polling.DirPoll] | None = None
        #: Why the dirs are polled rather than watched (None: they are not).
        self.degraded: str | None = None
        #: Timed polls since the agent started polling; every REARM_POLLS-th tries inotify.
        self.polls = 0

    @property
    def armed(self) -> bool:
        """The conf dir is watched, by inotify or (degraded) by polling."""
        return (self._dir is not None and self._dir.armed) or self._polls is not None

    def check_identity(self) -> None:
        """``DirWatch.check_identity`` of the conf dir's and the bin dir's watches, once
        armed. While polling, a poll: every look is preceded by one, so a change made after
        the look (our own write undone before the next timed poll, say) differs from what the
        poll saw."""
        if self._polls is not None:
            self._poll()
            return
        for watch in (self._dir, self._bin_dir):
            if watch is not None:
                watch.check_identity()

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """The conf dir's inotify events left queued while inside, and reported on the way
        out (``DirWatch.held``): around our own write."""
        if self._dir is None:
            yield
            return
        with self._dir.held():
            yield

    def arm(self, stack: contextlib.AsyncExitStack) -> str | None:
        """Arm every watch; None when armed (or polling instead), else why not. Closing
        ``stack`` closes them, each pump stopped first."""
        try:
            made, links = self._inotify()
        except _ArmFailed as failed:
            return self._degrade(stack, failed)
        stack.enter_context(contextlib.closing(MountWatch(self.check_identity)))
        self._use(stack, made, links)
        return None

    def _inotify(self) -> tuple[list[DirWatch], LinkWatch]:
        """An armed watch on the conf dir, on --bin-dir when given, and on the symlinks on
        the way to them; _ArmFailed with none left open otherwise."""
        from chainfsm.edge.links import LinkWatch

        made: list[DirWatch] = []
        try:
            try:
                made.append(DirWatch(self.net_dir, self.changes))
            except OSError as err:
                raise _ArmFailed(f"cannot watch {self.net_dir}: {err.strerror}", err) from err
            if self.bin_dir is not None:
                # A binary installed, replaced or made executable there is a change to re-check.
                try:
                    made.append(
                        DirWatch(
                            self.bin_dir, self.changes, relevant=lambda _: True, mask=BIN_DIR_MASK
                        )
                    )
                except OSError as err:
                    why = f"cannot watch --bin-dir {self.bin_dir}: {err.strerror}"
                    raise _ArmFailed(why, err) from err
            # A symlink on the way, repointed, says nothing to the watches above: its dir does.
            try:
                links = LinkWatch(
                    (self.net_dir, *filter(None, [self.bin_dir])), self.check_identity
                )
            except OSError as err:
                why = f"cannot watch the symlinks on the way to {self.net_dir}: {err.strerror}"
                raise _ArmFailed(why, err) from err
        except _ArmFailed:
            for watch in made:
                watch.close()
            raise
        return made, links

    def _use(
        self, stack: contextlib.AsyncExitStack, made: list[DirWatch], links: LinkWatch
    ) -> None:
        for watch, name in zip(made, ("chainfsm-watch", "chainfsm-watch-bin-dir"), strict=False):
            stack.callback(watch.close)
            stack.push_async_callback(stop, start(watch, name))
        self._dir = made[0]
        self._bin_dir = made[1] if len(made) > 1 else None
        stack.push_async_callback(links.close)

    def _degrade(self, stack: contextlib.AsyncExitStack, failed: _ArmFailed) -> str | None:
        """Poll instead when a kernel limit stopped the arming; else why not armed."""
        from chainfsm.core import watch_limits
        from chainfsm.edge import polling

        found = polling.diagnose(failed.err)
        if found is None:
            return failed.why
        limit, value = found
        dirs: list[tuple[Path, Callable[[str], bool]]] = [(self.net_dir, relevant_name)]
        if self.bin_dir is not None:
            dirs.append((self.bin_dir, lambda _: True))
        try:
            polls = [polling.DirPoll(path, relevant) for path, relevant in dirs]
        except OSError as err:
            return f"{failed.why}; and cannot poll it either: {err.strerror}"
        rearm = self.poll_interval * REARM_POLLS
        self.degraded = watch_limits.degraded_reason(
            failed.why, limit, value, self.poll_interval, rearm
        )
        self._polls = polls
        logs.event(
            "watch_degraded",
            logging.ERROR,
            limit=limit.name,
            value=value,
            poll_interval=self.poll_interval,
            reason=self.degraded,
        )
        stack.enter_context(contextlib.closing(MountWatch(self.check_identity)))
        task = asyncio.create_task(self._poll_until_armed(stack), name="chainfsm-poll")

        def report(done: asyncio.Task[None]) -> None:
            if not done.cancelled() and done.exception() is not None:
                self._lose(f"polling {self.net_dir} crashed: {done.exception()!r}")

        task.add_done_callback(report)
        stack.callback(self.disarm)  # after the task has stopped: closing is not losing
        stack.push_async_callback(stop, task)
        return None

    async def _poll_until_armed(self, stack: contextlib.AsyncExitStack) -> None:
        """Poll the dirs into ``changes`` until inotify can be armed again (or a dir is
        lost). No event to wait for: a clock is all there is while inotify is out."""
        while self._polls is not None:
            await asyncio.sleep(self.poll_interval)
            self.polls += 1
            if self.polls % REARM_POLLS == 0 and self._rearm(stack):
                return
            self._poll()

    def _poll(self) -> None:
        """Poll every dir once, reporting each changed name (or the dir lost)."""
        for poll in self._polls or ():
            if (why := poll.moved()) is not None:
                self._lose(why)
                return
            try:
                names = poll.poll()
            except OSError as err:
                self._lose(f"cannot poll {poll.path}: {err.strerror}")
                return
            for name in sorted(names):
                self.changes.heard(name, True)  # a poll lists only the relevant names

    def _rearm(self, stack: contextlib.AsyncExitStack) -> bool:
        """Try inotify again; True once it is armed (and polling ends)."""
        try:
            made, links = self._inotify()
        except _ArmFailed:
            return False
        self._use(stack, made, links)
        self._polls, self.degraded = None, None
        dirs = " and ".join(str(watch.path) for watch in made)
        logs.event("watch_restored", reason=f"inotify armed again on {dirs}; polling stopped")
        self.changes.note(None)  # a change between the last poll and the arming: look again
        return True

    def _lose(self, why: str) -> None:
        self._polls = None
        self.changes.lose(why)

    def disarm(self) -> None:
        """Forget the watches or polls (their stack has closed them)."""
        self._dir = None
        self._bin_dir = None
        self._polls = None


def start(watch: DirWatch, name: str) -> asyncio.Task[None]:
    """Run ``watch.pump`` as a named task whose crash is reported at once, not at exit."""
    task = asyncio.create_task(watch.pump(), name=name)

    def report(done: asyncio.Task[None]) -> None:
        if not done.cancelled() and done.exception() is not None:
            watch.armed = False
            watch.changes.lose(f"the watch on {watch.path} crashed: {done.exception()!r}")

    task.add_done_callback(report)
    return task


async def stop(task: asyncio.Task[None]) -> None:
    """Cancel a ``start``-ed pump and let it finish before its inotify is closed.

    asyncinotify's reader callback may already be queued on the loop; closing the inotify
    under it made it raise ("Can not work with closed inotify") as a traceback at exit.
    """
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.sleep(0)  # run a reader callback that was queued before the cancel
