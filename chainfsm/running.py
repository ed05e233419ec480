"""The process around the agent: signals, the --once timeout, the state dump, the optional
endpoints and ready file, and the exit code."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from chainfsm import dumping, logs, readiness
from chainfsm.agent import Agent
from chainfsm.settings import Settings, split_listen


def install_stop_signals(agent: Agent) -> None:
    """SIGTERM and SIGINT ask the agent to stop after the step in progress.

    The handler only sets a flag; the agent's own task finishes any write and exits.
    """
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, agent.request_stop)


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logs.event("crashed", logging.ERROR, task=task.get_name(), reason=repr(task.exception()))


@asynccontextmanager
async def dumping_on_sigusr1(agent: Agent, settings: Settings) -> AsyncIterator[dumping.Dumper]:
    """SIGUSR1 writes a state dump; the handler only sets an event for the dump task."""
    dumper = dumping.Dumper(agent, settings.dump_file)
    task = asyncio.create_task(dumper.run(), name="chainfsm-dump")
    task.add_done_callback(_report_crash)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, dumper.request)
    try:
        yield dumper
    finally:
        loop.remove_signal_handler(signal.SIGUSR1)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@asynccontextmanager
async def endpoints(agent: Agent, settings: Settings) -> AsyncIterator[object]:
    """With ``--listen``, /healthz, /readyz and /metrics; prometheus_client and the server
    are imported only then, so the agent's start-up does not pay for them."""
    if settings.listen is None:
        yield None
        return
    from chainfsm import metrics, serving

    host, port = split_listen(settings.listen)
    counted = metrics.Metrics(agent)
    agent.listeners.append(counted.observe)
    server = serving.Server(agent, counted, host, port)
    await server.start()
    bound_host, bound_port = server.bound
    logs.event("listening", address=f"{bound_host}:{bound_port}", paths="/healthz /readyz /metrics")
    try:
        yield server
    finally:
        await server.close()


async def serve(settings: Settings, agent: Agent | None = None) -> int:
    """Run the agent to its end and return the process exit code."""
    agent = agent or Agent(settings)
    install_stop_signals(agent)
    ready_file = readiness.ReadyFile(settings.ready_file) if settings.ready_file else None
    if ready_file is not None:
        ready_file.withdraw()  # one left by an earlier run says nothing about this one
        agent.listeners.append(ready_file.observe)
    try:
        async with dumping_on_sigusr1(agent, settings), endpoints(agent, settings):
            return await _run(agent, settings)
    finally:
        if ready_file is not None:
            ready_file.withdraw()


async def _run(agent: Agent, settings: Settings) -> int:
    timer: asyncio.TimerHandle | None = None
    if settings.once and settings.timeout is not None:

        def give_up() -> None:
            logs.event(
                "timeout",
                logging.ERROR,
                state=agent.state.value,
                reason=f"not Verified after {settings.timeout:g} s (still {agent.state.value}:"
                f" {agent.situation()})",
            )
            agent.request_stop(exit_code=1)

        timer = asyncio.get_running_loop().call_later(settings.timeout, give_up)
    try:
        return await agent.run()
    finally:
        if timer is not None:
            timer.cancel()


def main(settings: Settings) -> int:
    return asyncio.run(serve(settings))
