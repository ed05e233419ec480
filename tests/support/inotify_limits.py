"""inotify as a node whose uid has used up its limits sees it: a seam for the arming only.

``Exhausted`` is the real ``asyncinotify.Inotify`` whose init (EMFILE: the uid's instances)
or ``add_watch`` (ENOSPC: the uid's watches) fails while the limit is ``full``, exactly as the
kernel fails them. Swapped into ``chainfsm.edge.watching`` alone, so the tests' own inotify
(the output guard) is untouched. Used where using up the real limit is impractical: the
uid's max_user_watches is large (hundreds of thousands on most machines); the instances are
used up for real in tests/runtime/test_inotify_limits.py.
"""

from __future__ import annotations

import errno
import os
import types
from pathlib import Path
from typing import Any, ClassVar

import asyncinotify
import pytest

from chainfsm.edge import watching


class Exhausted(asyncinotify.Inotify):
    #: errno.EMFILE (instances) or errno.ENOSPC (watches) while the limit is used up; 0: free.
    full: ClassVar[int] = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if Exhausted.full == errno.EMFILE:
            raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))
        super().__init__(*args, **kwargs)

    def add_watch(self, *args: Any, **kwargs: Any) -> Any:
        if Exhausted.full == errno.ENOSPC:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().add_watch(*args, **kwargs)


def exhaust(monkeypatch: pytest.MonkeyPatch, code: int) -> type[Exhausted]:
    """Make the agent's inotify fail with ``code`` until ``Exhausted.full`` is set to 0."""
    fake = types.SimpleNamespace(Inotify=Exhausted)
    monkeypatch.setattr(watching, "asyncinotify", fake)
    monkeypatch.setattr(Exhausted, "full", code)
    return Exhausted


def proc_value(sysctl: str) -> int:
    return int(Path("/proc/sys/" + sysctl.replace(".", "/")).read_text())
