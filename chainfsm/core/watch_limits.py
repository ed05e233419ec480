"""Which kernel limit an inotify arming error ran into, and the words for it. Pure.

inotify_init1 fails with EMFILE both when the uid's inotify instances are used up and when the
process has no descriptor left; inotify_add_watch fails with ENOSPC when the uid's watches are
used up. The system's own words ("Too many open files", "No space left on device") name the
wrong limit, so the log line names the one hit, by errno, with its current value.
"""

from __future__ import annotations

import errno
from typing import NamedTuple

INSTANCES = "fs.inotify.max_user_instances"
WATCHES = "fs.inotify.max_user_watches"


class Limit(NamedTuple):
    """A limit that an arming error ran into."""

    #: The sysctl (or the rlimit) to raise.
    name: str
    #: Where its current value is read (None: no such file).
    proc: str | None
    #: What ran out, in words.
    what: str


def proc_path(sysctl: str) -> str:
    """``fs.inotify.max_user_watches`` -> ``/proc/sys/fs/inotify/max_user_watches``."""
    return "/proc/sys/" + sysctl.replace(".", "/")


_INSTANCES = Limit(
    INSTANCES,
    proc_path(INSTANCES),
    "this uid's inotify instances are used up (the limit is shared by every process of the"
    " uid on the node: the kubelet, containerd and every root container when it is root)",
)
_WATCHES = Limit(
    WATCHES,
    proc_path(WATCHES),
    "this uid's inotify watches are used up (shared by every process of the uid on the node)",
)
_DESCRIPTORS = Limit(
    "RLIMIT_NOFILE", None, "this process has no file descriptor left (its open-file limit)"
)
_SYSTEM_FILES = Limit("fs.file-max", proc_path("fs.file-max"), "the node's open files are used up")
_MEMORY = Limit("kernel memory", None, "the kernel has no memory for another inotify watch")


def limit_hit(code: int | None, descriptor_left: bool) -> Limit | None:
    """The limit behind an arming error's errno ``code``; None when it is no limit (a missing
    or unreadable dir: that is no reason to poll). ``descriptor_left``: whether the process
    could still open a file just after, which tells EMFILE's two causes apart."""
    if code == errno.EMFILE:
        return _INSTANCES if descriptor_left else _DESCRIPTORS
    if code == errno.ENOSPC:
        return _WATCHES
    if code == errno.ENFILE:
        return _SYSTEM_FILES
    if code == errno.ENOMEM:
        return _MEMORY
    return None


def degraded_reason(
    cannot: str, limit: Limit, current: int | None, interval: float, rearm: float
) -> str:
    """The ``watch_degraded`` line's reason: the failure, the limit by name and value, what the
    agent does instead, and what to raise."""
    # The value after its own separator: the limits' words may end in a parenthesis already.
    value = f"; {limit.name} is {current}" if current is not None else ""
    if limit is _MEMORY:
        raise_it = "free memory on the node (no setting raises it)"
    elif limit is _DESCRIPTORS:
        raise_it = "raise the agent's open-file limit (RLIMIT_NOFILE, the container's nofile)"
    elif limit.name.startswith("fs.inotify."):
        raise_it = (
            f"raise {limit.name} on the node (sysctl -w {limit.name}=N; find the holders with"
            " `find /proc/*/fd -lname anon_inode:inotify`)"
        )
    else:
        raise_it = f"raise {limit.name} on the node"
    return (
        f"{cannot}: {limit.what}{value}; polling every {interval:g} s instead and trying"
        f" inotify again every {rearm:g} s; the chain is kept right meanwhile. To end this,"
        f" {raise_it}"
    )
