"""Fixtures of the runtime tests (every test here is marked ``runtime``: see support/gate.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import gate, libcni_loader


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
