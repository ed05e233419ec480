"""The one retry policy (tenacity), and its testing switch that makes every backoff instant."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable

import tenacity

from chainfsm.settings import Settings

_instant = False

#: Seconds between re-checks of a missing plugin binary while nothing changes: inotify on the
#: bin dir wakes the agent at once, this only covers what inotify cannot see.
BINARY_RECHECK = 60.0


def set_testing(instant: bool) -> None:
    """Make every backoff zero (tests), or real again."""
    global _instant
    _instant = instant


class NotReady(Exception):
    """The primary is not valid yet; raised inside a retry attempt to ask for another."""


def validation_policy(
    settings: Settings, sleep: Callable[[float], Awaitable[None]]
) -> tenacity.AsyncRetrying:
    """Retry on NotReady with capped exponential backoff and full jitter, until the budget
    (attempts or elapsed seconds, whichever ends first) is spent. ``sleep`` may return early:
    the agent's sleep ends at the next change in the conf dir."""
    wait: tenacity.wait.wait_base = (
        tenacity.wait_none()
        if _instant
        else tenacity.wait_random_exponential(
            multiplier=settings.backoff_initial, max=settings.backoff_max
        )
    )
    return tenacity.AsyncRetrying(
        retry=tenacity.retry_if_exception_type(NotReady),
        stop=tenacity.stop_after_attempt(settings.retry_attempts)
        | tenacity.stop_after_delay(settings.retry_seconds),
        wait=wait,
        sleep=sleep,
    )


def failure_delay(settings: Settings, failures: int) -> float:
    """Seconds to wait in Failed before the ``failures``-th timed retry: the same capped,
    jittered exponential as validation, so a broken node does not spin."""
    if _instant:
        return 0.0
    high = min(settings.backoff_max, settings.backoff_initial * 2 ** min(failures, 30))
    return random.uniform(high / 2, high)


#: ``--untaint``'s calls to the API: the first delay and the longest, in seconds. Long enough
#: that a thousand nodes retrying an unreachable API do not add up to a flood.
API_BACKOFF_INITIAL = 1.0
API_BACKOFF_MAX = 60.0


def api_policy(
    retry_on: type[Exception], sleep: Callable[[float], Awaitable[None]]
) -> tenacity.AsyncRetrying:
    """Retry on ``retry_on`` for ever, with capped exponential backoff and full jitter (a
    hundredth of a second under the testing switch, so a test loop still yields)."""
    wait: tenacity.wait.wait_base = (
        tenacity.wait_fixed(0.01)
        if _instant
        else tenacity.wait_random_exponential(multiplier=API_BACKOFF_INITIAL, max=API_BACKOFF_MAX)
    )
    return tenacity.AsyncRetrying(
        retry=tenacity.retry_if_exception_type(retry_on),
        stop=tenacity.stop_never,
        wait=wait,
        sleep=sleep,
        reraise=True,
    )
