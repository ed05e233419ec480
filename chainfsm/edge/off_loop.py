"""The agent's blocking file work, run off the event loop in one way: through aiofiles.

aiofiles is one of the libraries the agent is built on, and for the agent it is what it is
underneath: a blocking call sent to an executor and awaited (``aiofiles.os.wrap``). Every stat,
read, mkdir, write, fsync and remove that must not block the loop goes through here, rather than
aiofiles in one module and ``asyncio.to_thread`` in others, because one of them needs a chosen
executor: the conf dir's writes run on their one writer thread (``edge.writing``: a hung fsync
there must not hold up other files, and a pool of idle threads all woke for each trip), and
aiofiles takes ``executor=`` where ``to_thread`` cannot. The rest runs on asyncio's default
pool through the same call.

Whole functions are sent, not aiofiles' file objects: each call on one of those is a trip of
its own to a thread (two thread wake-ups, more than a small read or write costs), so reading a
file through them is three trips (open, read, close) where a function that reads it is one.

Not file work, so not here: ``process.untainting`` imports lightkube on a thread with
``asyncio.to_thread``, so the import's CPU time does not stall the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from typing import ParamSpec, TypeVar

import aiofiles.os

_P = ParamSpec("_P")
_R = TypeVar("_R")


async def run(func: Callable[_P, _R], /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
    """``func(*args, **kwargs)`` on asyncio's default pool, awaited."""
    result: _R = await aiofiles.os.wrap(func)(*args, **kwargs)
    return result


async def run_on(
    executor: Executor | None, func: Callable[_P, _R], /, *args: _P.args, **kwargs: _P.kwargs
) -> _R:
    """``func(*args, **kwargs)`` on ``executor`` (None: asyncio's default pool), awaited."""
    result: _R = await aiofiles.os.wrap(func)(*args, executor=executor, **kwargs)
    return result
