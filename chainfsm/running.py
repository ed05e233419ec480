"""The process around the agent: signals, the --once timeout, and the exit code."""

from __future__ import annotations

import asyncio
import logging
import signal

from chainfsm import logs
from chainfsm.agent import Agent
from chainfsm.settings import Settings


def install_stop_signals(agent: Agent) -> None:
    """SIGTERM and SIGINT ask the agent to stop after the step in progress.

    The handler only sets a flag; the agent's own task finishes any write and exits.
    """
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, agent.request_stop)


async def serve(settings: Settings, agent: Agent | None = None) -> int:
    """Run the agent to its end and return the process exit code."""
    agent = agent or Agent(settings)
    install_stop_signals(agent)
    timer: asyncio.TimerHandle | None = None
    if settings.once and settings.timeout is not None:

        def give_up() -> None:
            logs.event(
                "timeout",
                logging.ERROR,
                state=agent.state.value,
                reason=f"not Verified after {settings.timeout:g} s (still {agent.state.value}:"
                f" {agent.last_error or 'waiting for the primary config'})",
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
