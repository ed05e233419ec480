"""The suite's runtime gate (tests/support/gate.py) and its shared names hold together: where a
test lives decides its ``runtime`` marker, a test without the marker cannot ask for a runtime
part, and the shared output name is chainfsm's own default."""

from __future__ import annotations

from pathlib import Path

import pytest

from chainfsm.settings import Settings
from tests.support import gate
from tests.support.constants import OUTPUT

TESTS_DIR = Path(__file__).resolve().parent.parent


def test_a_test_is_marked_runtime_exactly_when_it_lives_in_a_runtime_folder(
    request: pytest.FixtureRequest,
) -> None:
    # The session's items: all of them, or those left after -m (either way each must agree).
    items = request.session.items
    assert request.node in items
    wrong = [
        item.nodeid
        for item in items
        if (item.get_closest_marker(gate.MARK) is not None) != gate.marks(item, TESTS_DIR)
    ]
    assert wrong == []


def test_a_test_without_the_marker_that_asks_for_a_runtime_part_fails() -> None:
    assert gate.current is not None
    assert gate.current.get_closest_marker(gate.MARK) is None
    with pytest.raises(pytest.fail.Exception, match="not marked 'runtime'"):
        gate.need(True, "a part this test has no business asking for")
    with pytest.raises(pytest.fail.Exception, match="move it under tests/runtime"):
        gate.require_cni_plugins("bridge")


def test_the_shared_output_name_is_chainfsm_s_default() -> None:
    assert Settings().output == OUTPUT
