"""The process around the agent: signals, the --once timeout, the state dump, the optional
endpoints and ready file, and the exit code."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from chainfsm import logs
from chainfsm.agent.agent import Agent
from chainfsm.core import exit_codes
from chainfsm.process import background, state_dump
from chainfsm.settings import Settings, split_listen

if TYPE_CHECKING:
    from chainfsm.process import http_endpoints, untainting
    from chainfsm.process.ready_file import ReadyFile
    from chainfsm.process.sandbox_watch import SandboxWatch


def install_stop_signals(agent: Agent) -> None:
    """SIGTERM and SIGINT ask the agent to stop after the step in progress.

    The handler only sets a flag; the agent's own task finishes any write and exits.
    """
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, agent.request_stop)


@asynccontextmanager
async def dumps_on_sigusr1(
    agent: Agent, settings: Settings, watch: SandboxWatch | None = None
) -> AsyncIterator[state_dump.Dumper]:
    """SIGUSR1 writes a state dump; the handler only sets an event for the dump task."""
    more = None if watch is None else watch.dump_fields
    dumper = state_dump.Dumper(agent.status, settings.dump_file, more, agent.ready)
    loop = asyncio.get_running_loop()
    async with background.task(dumper.run(), "chainfsm-dump"):
        loop.add_signal_handler(signal.SIGUSR1, dumper.request)
        try:
            yield dumper
        finally:
            loop.remove_signal_handler(signal.SIGUSR1)


def untainter_for(settings: Settings) -> untainting.Untainter | None:
    """With ``--untaint``, what lifts the node's start-up taint (made before the agent, which
    is given its view); imported only then, like the Kubernetes client under it."""
    if settings.untaint is None:
        return None
    from chainfsm.process import untainting

    return untainting.Untainter(settings)


@asynccontextmanager
async def lifts_taint(
    agent: Agent, untainter: untainting.Untainter | None
) -> AsyncIterator[untainting.Untainter | None]:
    """``untainter``'s task, which lifts the node's start-up taint once Verified: a task of
    its own, so nothing it waits for (the API, its retries) holds the agent back."""
    if untainter is None:
        yield None
        return
    agent.machine.listeners.append(untainter.observe)
    async with background.task(untainter.run(), "chainfsm-untaint"):
        yield untainter


@asynccontextmanager
async def endpoints(
    agent: Agent, settings: Settings, watch: SandboxWatch | None = None
) -> AsyncIterator[list[http_endpoints.Server]]:
    """With ``--listen``, /healthz, /readyz and /metrics; with ``--metrics-listen``, /metrics
    alone on its own address (the one a cluster's Prometheus scrapes, while the probes stay on
    loopback). prometheus_client and the server are imported only then, so the agent's
    start-up does not pay for them. Yields the servers, ``--listen``'s first.

    An address that cannot be bound (a port taken on the host network) does not stop the
    agent: the chain matters more than its probes. It is said loudly (``listen_failed``),
    counted in ``chainfsm_listener_up``, and tried again with backoff until bound."""
    if settings.listen is None and settings.metrics_listen is None:
        yield []
        return
    from chainfsm.process import http_endpoints, listeners, metrics

    wanted = [
        (name, address, paths)
        for name, address, paths in (
            ("probes", settings.listen, http_endpoints.ALL_PATHS),
            ("metrics", settings.metrics_listen, http_endpoints.METRICS_ONLY),
        )
        if address is not None
    ]
    counted = metrics.Metrics(agent.status)
    agent.machine.listeners.append(counted.observe)
    if watch is not None:
        from chainfsm.process import sandbox_metrics

        counted.registry.register(sandbox_metrics.SandboxCollector(lambda: watch.report))
    cap = http_endpoints.fd_budget_cap(len(wanted))
    async with contextlib.AsyncExitStack() as stack:
        servers: list[http_endpoints.Server] = []
        for name, address, paths in wanted:
            host, port = split_listen(address)
            server = http_endpoints.Server(agent.status, counted, host, port, paths, cap)
            stack.push_async_callback(server.close)
            listener = listeners.Listener(name, address, server)
            counted.count_refusals(name, server.refusals)
            counted.count_listener(name, listener.is_up)
            if not await listener.bind():
                retry = background.task(listener.retry(), f"chainfsm-listen-{name}")
                await stack.enter_async_context(retry)
            servers.append(server)
        yield servers


def runs_sandbox_passes(settings: Settings) -> bool:
    """With ``--cri-socket`` and not ``--once``: an init container exits before a pass would
    tell anything."""
    return settings.cri_socket is not None and not settings.once


class StartupLook:
    """The sandbox passes' start-up look, which the agent's first write waits for: made before
    the agent (given ``done``), tied to the watch once the watch is made."""

    def __init__(self) -> None:
        self._watch: asyncio.Future[SandboxWatch | None] = (
            asyncio.get_running_loop().create_future()
        )

    def tie(self, watch: SandboxWatch | None) -> None:
        self._watch.set_result(watch)

    async def done(self) -> None:
        watch = await self._watch
        if watch is not None:
            await watch.startup_done()


@asynccontextmanager
async def sandboxes(
    agent: Agent, settings: Settings, startup: StartupLook | None = None
) -> AsyncIterator[SandboxWatch | None]:
    """When ``runs_sandbox_passes``, the passes over the runtime's pod sandboxes, in their own
    task; imported only then. ``startup``: what the agent's first write waits on, tied to
    the watch's start-up look."""
    if not runs_sandbox_passes(settings):
        if startup is not None:
            startup.tie(None)
        yield None
        return
    from chainfsm.edge import reading
    from chainfsm.process import sandbox_watch

    def ours() -> bytes | None:
        """The chain as we last wrote or verified it; before that in this run, our output as
        it is in the conf dir (written by the run before: the runtime may be running it)."""
        verified = agent.status().verified_output
        if verified is not None:
            return verified
        data = reading.read(settings.net_dir, settings.output)
        return data if isinstance(data, bytes) else None

    async with sandbox_watch.watching(
        settings, settings.cri_socket, ours, on_answer=agent.runtime_said
    ) as watch:
        if watch is not None:
            agent.machine.listeners.append(watch.observe)
        if startup is not None:
            startup.tie(watch)
        yield watch


async def serve(settings: Settings, agent: Agent | None = None) -> int:
    """Run the agent to its end and return the process exit code. ``agent``: one a test made
    (with seams of its own); without --untaint and the sandbox passes, whose parts only an
    agent made here is given."""
    untainter = untainter_for(settings)
    startup = StartupLook() if runs_sandbox_passes(settings) else None
    if agent is None:
        agent = Agent(
            settings,
            untaint_view=untainter.view if untainter is not None else None,
            before_first_write=startup.done if startup is not None else None,
        )
    elif untainter is not None or startup is not None:
        raise ValueError("an agent made outside serve() has no untainter or start-up look")
    install_stop_signals(agent)
    marker: ReadyFile | None = None
    if settings.ready_file:  # imported only for --ready-file
        from chainfsm.process.ready_file import ReadyFile

        marker = ReadyFile(settings.ready_file)
        marker.withdraw()  # one left by an earlier run says nothing about this one
        agent.machine.listeners.append(marker.observe)
    try:
        async with (
            sandboxes(agent, settings, startup) as watch,
            dumps_on_sigusr1(agent, settings, watch),
            endpoints(agent, settings, watch),
            lifts_taint(agent, untainter),
        ):
            return await _run(agent, settings)
    finally:
        if marker is not None:
            marker.withdraw()


async def _run(agent: Agent, settings: Settings) -> int:
    timer: asyncio.TimerHandle | None = None
    if settings.once and settings.timeout is not None:

        def give_up() -> None:
            logs.event(
                "timeout",
                logging.ERROR,
                state=agent.state.value,
                reason=f"not Verified after {settings.timeout:g} s (still {agent.state.value}:"
                f" {agent.status().situation})",
            )
            agent.request_stop(exit_code=exit_codes.FAILED)

        timer = asyncio.get_running_loop().call_later(settings.timeout, give_up)
    try:
        return await agent.run()
    finally:
        if timer is not None:
            timer.cancel()


def main(settings: Settings) -> int:
    return asyncio.run(serve(settings))
