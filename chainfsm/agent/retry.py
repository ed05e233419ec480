"""The one retry policy (tenacity): every backoff's wait is one of tenacity's, chosen by a
``Backoff`` that the agent and the untainter take as a keyword argument (a test passes its own)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import tenacity

from chainfsm.settings import Settings

#: Seconds between re-checks of a missing plugin binary while nothing changes: inotify on the
#: bin dir wakes the agent at once, this only covers what inotify cannot see.
BINARY_RECHECK = 60.0

#: ``--untaint``'s calls to the API: the first delay and the longest, in seconds. Long enough
#: that a thousand nodes retrying an unreachable API do not add up to a flood.
API_BACKOFF_INITIAL = 1.0
API_BACKOFF_MAX = 60.0

#: Past this many failures the exponent stops growing (the cap has long been reached).
_MAX_EXPONENT = 30


class Backoff:
    """How long each retry waits, as tenacity waits."""

    def validation(self, settings: Settings) -> tenacity.wait.wait_base:
        """Validating's retries: capped exponential with full jitter."""
        return tenacity.wait_random_exponential(
            multiplier=settings.backoff_initial, max=settings.backoff_max
        )

    def failure(self, settings: Settings) -> tenacity.wait.wait_base:
        """Failed's timed retries: capped exponential with equal jitter, between half the
        capped exponential and all of it, so a broken node neither spins nor stalls. Half
        fixed plus half fully jittered is that, in tenacity's own waits."""
        half_initial, half_max = settings.backoff_initial / 2, settings.backoff_max / 2
        return tenacity.wait_exponential(
            multiplier=half_initial, max=half_max
        ) + tenacity.wait_random_exponential(multiplier=half_initial, max=half_max)

    def api(self) -> tenacity.wait.wait_base:
        """``--untaint``'s calls to the API: capped exponential with full jitter."""
        return tenacity.wait_random_exponential(multiplier=API_BACKOFF_INITIAL, max=API_BACKOFF_MAX)


class NotReady(Exception):
    """The primary is not valid yet; raised inside a retry attempt to ask for another."""


def validation_policy(
    settings: Settings, sleep: Callable[[float], Awaitable[None]], backoff: Backoff
) -> tenacity.AsyncRetrying:
    """Retry on NotReady with ``backoff``'s validation wait, until the budget (attempts or
    elapsed seconds, whichever ends first) is spent. ``sleep`` may return early: the agent's
    sleep ends at the next change in the conf dir."""
    return tenacity.AsyncRetrying(
        retry=tenacity.retry_if_exception_type(NotReady),
        stop=tenacity.stop_after_attempt(settings.retry_attempts)
        | tenacity.stop_after_delay(settings.retry_seconds),
        wait=backoff.validation(settings),
        sleep=sleep,
    )


def failure_delay(settings: Settings, failures: int, backoff: Backoff) -> float:
    """Seconds to wait in Failed before the ``failures``-th timed retry: ``backoff``'s
    failure wait at that attempt (the exponential doubles from ``backoff_initial`` * 2)."""
    wait = backoff.failure(settings)
    state = tenacity.RetryCallState(tenacity.Retrying(wait=wait), None, (), {})
    state.attempt_number = min(failures, _MAX_EXPONENT) + 1
    return wait(state)


def api_policy(
    retry_on: type[Exception], sleep: Callable[[float], Awaitable[None]], backoff: Backoff
) -> tenacity.AsyncRetrying:
    """Retry on ``retry_on`` for ever, with ``backoff``'s API wait."""
    return tenacity.AsyncRetrying(
        retry=tenacity.retry_if_exception_type(retry_on),
        stop=tenacity.stop_never,
        wait=backoff.api(),
        sleep=sleep,
        reraise=True,
    )
