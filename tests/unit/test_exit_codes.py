"""The agent process's exit code, decided in one place. Pure."""

from __future__ import annotations

import pytest

from chainfsm.core import exit_codes
from chainfsm.core.states import State


@pytest.mark.parametrize(
    ("once", "state", "finished", "asked", "code", "said"),
    [
        # --once at its end: Verified alone is success, whatever a stop asked for.
        (True, State.Verified, True, None, 0, None),
        (True, State.Verified, True, 1, 0, None),
        (True, State.Failed, True, None, 1, None),
        # --once stopped on the way (SIGTERM): no chain, no success.
        (True, State.Validating, False, None, 1, "stopped in Validating before Verified: exit 1"),
        (
            True,
            State.WaitingPrimary,
            False,
            None,
            1,
            "stopped in WaitingPrimary before Verified: exit 1",
        ),
        # --timeout or a lost watch asked for 1 and said why already.
        (True, State.Validating, False, 1, 1, None),
        (False, State.Failed, False, 1, 1, None),
        # A sidecar stopped by SIGTERM in any state.
        (False, State.WaitingPrimary, False, None, 0, None),
        (False, State.Verified, False, None, 0, None),
    ],
)
def test_the_exit_code_at_the_end_of_a_run(
    once: bool, state: State, finished: bool, asked: int | None, code: int, said: str | None
) -> None:
    assert exit_codes.at_end(once, state, finished, asked) == (code, said)
