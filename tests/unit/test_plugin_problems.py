"""The sentence after the binary problems fits their kind and their number."""

from __future__ import annotations

import pytest

from chainfsm.core import plugin_problems

MISSING = 'plugin "antrea" is not in /opt/cni/bin'
MISSING_TOO = 'plugin "portmap" is not in /opt/cni/bin'
UNRUNNABLE = 'plugin "antrea" (/opt/cni/bin/antrea) cannot be run here: exec says No such file'
OLD = 'plugin "antrea" supports cniVersion 0.3.1, not 1.0.0'


@pytest.mark.parametrize(
    ("details", "expected"),
    [
        ([MISSING], "it is installed"),
        ([MISSING, MISSING_TOO], "they are installed"),
        ([UNRUNNABLE], "it is fixed"),
        ([OLD], "it is fixed"),
        ([MISSING, OLD], "they are fixed"),
    ],
)
def test_what_the_pods_wait_for(details: list[str], expected: str) -> None:
    assert plugin_problems.awaited(details) == expected
