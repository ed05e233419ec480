"""Fixtures every test module may use."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chainfsm import retrying


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
