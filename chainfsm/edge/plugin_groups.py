"""The process groups of plugin execs cut off, and the orphans they leave us to reap.

A plugin asked VERSION runs in a session of its own, so a hang is ended by killing its whole
group: a script's child holding the reply pipe dies with it. Its children are then orphans,
and an orphan is reparented to the nearest subreaper or to pid 1, which in a container is
the agent itself (``ENTRYPOINT ["chainfsm"]``): unreaped, each would stay a zombie for the
container's life, one pid of the pod's limit each time a stuck plugin is asked again.
"""

from __future__ import annotations

import contextlib
import os
import signal

#: Groups killed whose members may still become our zombies.
_killed: set[int] = set()


def kill(pgid: int) -> None:
    """SIGKILL every process in a plugin's group (its session leader's pid). Called while the
    leader is unreaped or a member holds our pipe, so the number names no other group yet."""
    # Gone already, or left with only a member we may not signal (a setuid binary).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def orphans_of(pgid: int) -> None:
    """Reap what the killed group ``pgid`` left us, now and at every later ``reap``. Only
    once its leader is reaped (asyncio's watcher waits for that one): ``waitpid(-pgid)`` then
    reaches nothing but the group's orphans."""
    _killed.add(pgid)
    reap()


def reap() -> None:
    """Reap, without waiting, the members of killed groups that died as our children; forget
    a group once none of its members is a child of ours (in the same call that reaps its
    last one, before its number can come back as another group of ours)."""
    for pgid in list(_killed):
        while True:
            try:
                pid, _ = os.waitpid(-pgid, os.WNOHANG)
            except ChildProcessError:  # none of ours in it (or never were: not pid 1)
                _killed.discard(pgid)
                break
            if pid == 0:  # some still dying: a later call reaps them
                break
