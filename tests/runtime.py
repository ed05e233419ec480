"""The one place that decides whether a test needing the real runtime parts runs.

A test that needs root, the reference CNI plugins, ``ip`` or containerd calls one of these
first. Without what it needs, the test is skipped with the reason; with
``CHAINFSM_REQUIRE_RUNTIME=1`` (CI on a machine that has it all) it fails instead, so a broken
setup can never pass as a run of skips.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import NoReturn

import pytest

REQUIRE_ENV = "CHAINFSM_REQUIRE_RUNTIME"
#: Where Debian's containernetworking-plugins puts the reference plugins.
CNI_BIN_DIR = Path(os.environ.get("CHAINFSM_CNI_BIN_DIR", "/usr/lib/cni"))


def runtime_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip() == "1"


def require_runtime(reason: str) -> NoReturn:
    """Skip the calling test because ``reason``, or fail it when the runtime is required."""
    if runtime_required():
        pytest.fail(f"{reason}, and {REQUIRE_ENV}=1 forbids skipping", pytrace=False)
    pytest.skip(reason)


def need(ok: object, reason: str) -> None:
    """Return when ``ok`` is truthy; else skip the calling test because ``reason``, or fail it."""
    if not ok:
        require_runtime(reason)


def missing_parts(*plugins: str) -> str | None:
    """Why the CNI plugins named (and root and ``ip``) cannot be used here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, bridges)"
    if shutil.which("ip") is None:
        return "needs iproute2's ip (apt-get install iproute2)"
    absent = [p for p in plugins if not os.access(CNI_BIN_DIR / p, os.X_OK)]
    if absent:
        return (
            f"needs the reference CNI plugins {', '.join(absent)} in {CNI_BIN_DIR}"
            " (apt-get install containernetworking-plugins)"
        )
    return None


def require_cni_plugins(*plugins: str) -> None:
    """Return when root, ``ip`` and these plugin binaries are here; else skip or fail."""
    reason = missing_parts(*plugins)
    if reason is not None:
        require_runtime(reason)
