"""Fixtures of the runtime tests (every test here is marked ``runtime``: see support/gate.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import gate, libcni_loader, pod_sandboxes
from tests.support.containerd_daemon import Containerd, require_containerd
from tests.support.pod_sandboxes import Pods


@pytest.fixture(scope="session")
def libcni_oracle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[libcni_loader.Oracle]:
    """The runtime's loader (go-cni + libcni from Debian's source), built once per session;
    skipped without Go and those sources, failed instead under CHAINFSM_REQUIRE_RUNTIME=1."""
    reason = libcni_loader.missing()
    gate.need(reason is None, reason or "")
    oracle = libcni_loader.Oracle(libcni_loader.build(tmp_path_factory.mktemp("cnioracle")))
    try:
        yield oracle
    finally:
        oracle.close()


@pytest.fixture(scope="module")
def containerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Containerd]:
    """A private containerd on an empty conf dir, for the tests of one module."""
    require_containerd()
    base = tmp_path_factory.mktemp("ctd")
    (base / "net.d").mkdir()
    runtime = Containerd(base, base / "net.d")
    try:
        yield runtime
    finally:
        runtime.stop()


@pytest.fixture(scope="module")
def pods(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pods]:
    """A private containerd running real pod sandboxes (support/pod_sandboxes.py), for the
    tests of one module."""
    with pod_sandboxes.running_pods(tmp_path_factory.mktemp("pods")) as pods:
        yield pods
