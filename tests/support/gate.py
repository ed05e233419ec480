"""The one place that decides whether a test needing root or the real runtime parts runs.

Such tests live under ``tests/runtime`` and ``tests/image``, and ``tests/conftest.py`` marks
every test there ``runtime`` (by folder, nowhere else), so ``pytest -m "not runtime"`` selects
exactly the tests that need none of these parts. Each runtime test asks here for what it needs
(``need``, ``require_cni_plugins``...): without it, the test is skipped with the reason; with
``CHAINFSM_REQUIRE_RUNTIME=1`` (CI on a machine that has it all) it fails instead, so a broken
setup can never pass as a run of skips. A test that asks here without the marker fails: it
belongs under ``tests/runtime``. The image test also waits for ``CHAINFSM_IMAGE_TEST=1``.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path
from typing import NoReturn

import pytest

#: The marker, and the folders (under tests/) whose tests carry it.
MARK = "runtime"
RUNTIME_FOLDERS = ("runtime", "image")
REQUIRE_ENV = "CHAINFSM_REQUIRE_RUNTIME"
#: The image test builds with buildah (minutes): only when asked for.
IMAGE_ENV = "CHAINFSM_IMAGE_TEST"
IMAGE_FOLDER = "image"
#: Where Debian's containernetworking-plugins puts the reference plugins.
CNI_BIN_DIR = Path(os.environ.get("CHAINFSM_CNI_BIN_DIR", "/usr/lib/cni"))

#: Debian's busybox-static: the one binary of the pod sandbox tests' sandbox image.
BUSYBOX = Path("/bin/busybox")

#: The test being run (set by tests/conftest.py around its setup, call and teardown).
current: pytest.Item | None = None


def runtime_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip() == "1"


def image_test_enabled() -> bool:
    return os.environ.get(IMAGE_ENV, "").strip() == "1"


def marks(item: pytest.Item, tests_dir: Path) -> bool:
    """Whether ``item`` lives in a runtime folder, so carries the marker."""
    parts = item.path.relative_to(tests_dir).parts
    return len(parts) > 1 and parts[0] in RUNTIME_FOLDERS


def _check_marked() -> None:
    if current is not None and current.get_closest_marker(MARK) is None:
        pytest.fail(
            f"{current.nodeid} asks for a runtime part but is not marked {MARK!r}:"
            f" move it under tests/{RUNTIME_FOLDERS[0]}",
            pytrace=False,
        )


def require_runtime(reason: str) -> NoReturn:
    """Skip the calling test because ``reason``, or fail it when the runtime is required."""
    _check_marked()
    if runtime_required():
        pytest.fail(f"{reason}, and {REQUIRE_ENV}=1 forbids skipping", pytrace=False)
    pytest.skip(reason)


def need(ok: object, reason: str) -> None:
    """Return when ``ok`` is truthy; else skip the calling test because ``reason``, or fail it."""
    _check_marked()
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
    need(reason is None, reason or "")


@functools.cache
def missing_strace() -> str | None:
    """Why strace cannot record a process's system calls here, or None."""
    if shutil.which("strace") is None:
        return "needs strace to record the agent's system calls (apt-get install strace)"
    # A container without CAP_SYS_PTRACE (or under a strict Yama policy) has strace but
    # cannot trace: try it once.
    probe = subprocess.run(
        ["strace", "-f", "-qq", "-o", os.devnull, "true"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        said = probe.stderr.strip().splitlines()
        return f"strace cannot trace here: {said[-1] if said else f'exit {probe.returncode}'}"
    return None


def require_strace() -> None:
    """Return when strace can record the agent's system calls; else skip or fail."""
    reason = missing_strace()
    need(reason is None, reason or "")


def require_static_busybox() -> None:
    """Return when a static busybox (no program interpreter, so no libc needed) is at BUSYBOX."""
    try:
        head = BUSYBOX.read_bytes()[:4096]
    except OSError:
        head = b""
    static = head.startswith(b"\x7fELF") and b"/ld-linux" not in head
    need(static, f"needs a static busybox at {BUSYBOX} (apt-get install busybox-static)")
