"""Fixtures every test module may use, and the runtime gate's marking (see support/gate.py)."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.support import gate, log_queue

# No per-example deadline: a loaded 2-core CI machine must not turn a slow example into a
# failure; what these tests check is behaviour, and speed is the benchmarks' business.
settings.register_profile("chainfsm", deadline=None)
settings.load_profile("chainfsm")

TESTS_DIR = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test under a runtime folder, and hold back the image test unless asked."""
    for item in items:
        if gate.marks(item, TESTS_DIR):
            item.add_marker(gate.MARK)
        image = item.path.relative_to(TESTS_DIR).parts[0] == gate.IMAGE_FOLDER
        if image and not gate.image_test_enabled():
            reason = f"the image build test runs only with {gate.IMAGE_ENV}=1 (as root)"
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    # The gate fails a test that asks for a runtime part without the marker: it must know
    # which test is asking, fixtures' setup included.
    gate.current = item
    try:
        return (yield)
    finally:
        gate.current = None


@pytest.fixture(autouse=True)
def _dump_file_of_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # An agent a test starts as a process would otherwise write its pid file and dumps into
    # the real /run/chainfsm, where concurrent runs remove each other's.
    monkeypatch.setenv("CHAINFSM_DUMP_FILE", str(tmp_path / "run" / "dump.json"))


@pytest.fixture
def net_dir(tmp_path: Path) -> Path:
    """An empty conf dir of the test's own."""
    path = tmp_path / "net.d"
    path.mkdir()
    return path


@pytest.fixture
def lines() -> Iterator[log_queue.LogQueue]:
    """The agent's structured log lines, awaited as they come (in-process agents)."""
    with log_queue.listening() as handler:
        yield handler
