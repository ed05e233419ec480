"""Fixtures every test module may use."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import libcni
import pytest
import runtime
from hypothesis import settings

from chainfsm import retrying

# No per-example deadline: a loaded 2-core CI machine must not turn a slow example into a
# failure; what these tests check is behaviour, and speed is the benchmarks' business.
settings.register_profile("chainfsm", deadline=None)
settings.load_profile("chainfsm")


@pytest.fixture
def net_dir(tmp_path: Path) -> Path:
    """An empty conf dir of the test's own."""
    path = tmp_path / "net.d"
    path.mkdir()
    return path


@pytest.fixture(autouse=True)
def _real_backoff_unless_a_test_asks() -> Iterator[None]:
    # The testing switch is process-wide: a test that turns it on must not leak it.
    retrying.set_testing(False)
    yield
    retrying.set_testing(False)


@pytest.fixture(scope="session")
def libcni_oracle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[libcni.Oracle]:
    """The runtime's loader (go-cni + libcni from Debian's source), built once per session;
    skipped without Go and those sources, failed instead under CHAINFSM_REQUIRE_RUNTIME=1."""
    reason = libcni.missing()
    if reason is not None:
        runtime.require_runtime(reason)
    oracle = libcni.Oracle(libcni.build(tmp_path_factory.mktemp("cnioracle")))
    try:
        yield oracle
    finally:
        oracle.close()
