"""retry: the Failed state's backoff is tenacity's waits, with the distribution it always had
(uniform between half the capped exponential and all of it)."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
import tenacity

from chainfsm.agent import retry
from chainfsm.settings import Settings

INITIAL, CAP = 0.5, 60.0


@pytest.fixture
def seeded() -> Iterator[None]:
    """A seeded global RNG (tenacity draws from it), put back as it was after."""
    state = random.getstate()
    random.seed(21)
    yield
    random.setstate(state)


def settings() -> Settings:
    return Settings(backoff_initial=INITIAL, backoff_max=CAP)


def high(failures: int) -> float:
    """The capped exponential before jitter."""
    return min(CAP, INITIAL * 2.0 ** min(failures, 30))


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("failures", [0, 1, 2, 5, 7, 8, 20, 30, 31, 10_000])
def test_a_failure_delay_lies_between_half_the_capped_exponential_and_all_of_it(
    failures: int,
) -> None:
    delays = [retry.failure_delay(settings(), failures, retry.Backoff()) for _ in range(400)]
    top = high(failures)
    assert all(top / 2 <= d <= top for d in delays), (failures, min(delays), max(delays))
    # Jittered across the whole range, not stuck at one end of it.
    assert min(delays) < top * 0.55
    assert max(delays) > top * 0.95


@pytest.mark.parametrize("failures", [0, 3, 6, 40])
def test_a_failure_delay_maps_each_draw_as_the_hand_written_formula_did(failures: int) -> None:
    """The same draw of the RNG gives the same delay as ``uniform(high / 2, high)``: the
    distribution is unchanged, not only its bounds."""
    state = random.getstate()
    try:
        for seed in range(20):
            random.seed(seed)
            delay = retry.failure_delay(settings(), failures, retry.Backoff())
            random.seed(seed)
            expected = random.uniform(high(failures) / 2, high(failures))
            assert delay == pytest.approx(expected, rel=1e-12)
    finally:
        random.setstate(state)


@pytest.mark.usefixtures("seeded")
def test_validation_and_api_waits_are_full_jitter_up_to_their_caps() -> None:
    backoff = retry.Backoff()
    policy = retry.validation_policy(settings(), _never, backoff)
    api = retry.api_policy(RuntimeError, _never, backoff)
    for attempt in (1, 2, 4, 12):
        state = tenacity.RetryCallState(policy, None, (), {})
        state.attempt_number = attempt
        validation = [policy.wait(state) for _ in range(200)]
        cap = min(CAP, INITIAL * 2 ** (attempt - 1))
        assert all(0 <= d <= cap for d in validation)
        assert min(validation) < cap * 0.1
        waits = [api.wait(state) for _ in range(200)]
        api_cap = min(retry.API_BACKOFF_MAX, retry.API_BACKOFF_INITIAL * 2 ** (attempt - 1))
        assert all(0 <= d <= api_cap for d in waits)
        assert max(waits) > api_cap * 0.9


async def _never(_: float) -> None:
    raise AssertionError("no test here sleeps")
