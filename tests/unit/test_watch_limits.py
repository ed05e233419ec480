"""Which limit an inotify arming error ran into, by errno, and the words that name it."""

from __future__ import annotations

import errno

import pytest

from chainfsm.core import watch_limits
from chainfsm.edge import polling


@pytest.mark.parametrize(
    ("code", "descriptor_left", "name"),
    [
        # inotify_init1: the uid's instances, unless the process itself has no fd left.
        (errno.EMFILE, True, "fs.inotify.max_user_instances"),
        (errno.EMFILE, False, "RLIMIT_NOFILE"),
        # inotify_add_watch: the uid's watches ("No space left on device").
        (errno.ENOSPC, True, "fs.inotify.max_user_watches"),
        (errno.ENFILE, True, "fs.file-max"),
        (errno.ENOMEM, True, "kernel memory"),
    ],
)
def test_each_errno_names_its_limit(code: int, descriptor_left: bool, name: str) -> None:
    limit = watch_limits.limit_hit(code, descriptor_left)
    assert limit is not None
    assert limit.name == name


@pytest.mark.parametrize("code", [errno.ENOENT, errno.EACCES, errno.ENOTDIR, None])
def test_an_error_that_is_no_limit_is_none(code: int | None) -> None:
    """Polling is for a used-up limit: a missing or unreadable dir stays the exit it was."""
    assert watch_limits.limit_hit(code, True) is None


def test_the_reason_names_the_sysctl_its_value_and_what_the_agent_does() -> None:
    limit = watch_limits.limit_hit(errno.EMFILE, True)
    assert limit is not None
    reason = watch_limits.degraded_reason(
        "cannot watch /etc/cni/net.d: Too many open files", limit, 128, 1.0, 30.0
    )
    assert reason.startswith(
        "cannot watch /etc/cni/net.d: Too many open files: this uid's inotify instances are used up"
    )
    assert "when it is root); fs.inotify.max_user_instances is 128; polling every" in reason
    assert "polling every 1 s instead and trying inotify again every 30 s" in reason
    assert "sysctl -w fs.inotify.max_user_instances=N" in reason


def test_a_value_that_cannot_be_read_is_left_out() -> None:
    limit = watch_limits.limit_hit(errno.ENOMEM, True)
    assert limit is not None
    reason = watch_limits.degraded_reason(
        "cannot watch /x: Cannot allocate memory", limit, None, 2, 60
    )
    assert reason.startswith(
        "cannot watch /x: Cannot allocate memory: the kernel has no memory for another inotify"
        " watch; polling every 2 s"
    )
    assert reason.endswith("To end this, free memory on the node (no setting raises it)")


def test_a_process_out_of_descriptors_is_told_its_own_limit() -> None:
    limit = watch_limits.limit_hit(errno.EMFILE, False)
    assert limit is not None
    cannot = "cannot watch /x: Too many open files"
    reason = watch_limits.degraded_reason(cannot, limit, None, 1, 15)
    assert reason.endswith(
        "To end this, raise the agent's open-file limit (RLIMIT_NOFILE, the container's nofile)"
    )


def test_the_proc_path_of_a_sysctl() -> None:
    assert watch_limits.proc_path("fs.inotify.max_user_watches") == (
        "/proc/sys/fs/inotify/max_user_watches"
    )


def test_a_poll_reports_names_that_came_went_or_changed() -> None:
    before = {"a": (1, 0, 0, 0, 0), "b": (2, 0, 0, 0, 0), "c": (3, 0, 0, 0, 0)}
    after = {"a": (1, 0, 0, 0, 0), "b": (2, 5, 0, 0, 0), "d": (4, 0, 0, 0, 0)}
    assert polling.changed(before, after) == {"b", "c", "d"}
    assert polling.changed(before, before) == set()
