"""``--cri-socket``: asking the runtime whether it loaded the chain we wrote.

After a write the runtime reloads its conf dir by itself (containerd within tens of
milliseconds), so its first answer may still be the config from before. The agent asks again
with a short, capped backoff (tenacity) until the answer is settled or ``--cri-confirm-seconds``
is spent; a stop cuts the wait short, and a change in the conf dir ends it, since the agent
must look at the dir again before the runtime's answer means anything. The CRI client (and
its gRPC library) is loaded on the first question only.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import tenacity

from chainfsm.core import confirmation
from chainfsm.core.confirmation import Confirmation
from chainfsm.settings import Settings

if TYPE_CHECKING:
    from chainfsm.edge.cri import CriClient

#: The first pause between two questions, and the longest (seconds).
FIRST_PAUSE = 0.005
LONGEST_PAUSE = 0.5


@dataclass(frozen=True, slots=True)
class Check:
    """One answer, as the dump reports it."""

    socket: Path
    confirmation: Confirmation
    #: When it was asked (Unix time), and how many questions it took.
    time: float
    questions: int


async def ask(
    client: CriClient,
    net_dir: str,
    output: str,
    written: bytes | None,
    primary: tuple[str, bytes] | None,
) -> Confirmation:
    """One verbose Status, judged: does the runtime run ``written`` (our ``output``) from
    ``net_dir`` (resolved: the runtime names its conf dir as the host sees it, so ours must
    be mounted at that path)? A runtime that cannot be asked is an answer too (``unasked``)."""
    from chainfsm.edge.cri import CriError

    try:
        status = await client.status()
    except CriError as err:
        return confirmation.unasked(str(err))
    return confirmation.confirm(status, net_dir, output, written, primary)


class _StopWhen(tenacity.stop.stop_base):
    """Stop retrying as soon as ``check`` holds."""

    def __init__(self, check: Callable[[], bool]) -> None:
        self.check = check

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        return self.check()


class RuntimeCheck:
    """The runtime on ``--cri-socket``, and its last answer."""

    def __init__(self, settings: Settings, socket: Path) -> None:
        self.settings = settings
        self.socket = socket
        self.net_dir = str(settings.net_dir.resolve())
        self.last: Check | None = None
        self._client: CriClient | None = None

    async def ask(self, written: bytes, primary: tuple[str, bytes] | None) -> Confirmation:
        """The runtime's verdict on ``written`` (our output) now, in one question."""
        if self._client is None:
            from chainfsm.edge.cri import CriClient

            self._client = CriClient(self.socket)
        return await ask(self._client, self.net_dir, self.settings.output, written, primary)

    async def confirm(
        self,
        written: bytes,
        primary: tuple[str, bytes] | None,
        sleep: Callable[[float], Awaitable[None]],
        changed: Callable[[], bool],
    ) -> Confirmation:
        """Ask until the answer is settled, ``--cri-confirm-seconds`` are spent, or the conf
        dir ``changed``; the last answer. ``sleep`` raises to stop."""
        policy = tenacity.AsyncRetrying(
            retry=tenacity.retry_if_result(lambda answer: not answer.settled),
            stop=tenacity.stop_any(
                tenacity.stop_after_delay(self.settings.cri_confirm_seconds),
                _StopWhen(changed),
            ),
            wait=tenacity.wait_exponential(multiplier=FIRST_PAUSE, max=LONGEST_PAUSE),
            sleep=sleep,
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
        )
        questions = 0

        async def question() -> Confirmation:
            nonlocal questions
            questions += 1
            return await self.ask(written, primary)

        answer: Confirmation = await policy(question)
        self.last = Check(self.socket, answer, time.time(), questions)
        return answer

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
