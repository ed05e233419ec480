"""A connection flood on --listen under a low open-file limit: the agent keeps reacting to the
conf dir, stays up, says so in one line (not a traceback per connection) and answers /healthz
once the flood ends."""

from __future__ import annotations

import asyncio
import resource
from pathlib import Path

from chainfsm.cli.demo import write_in_place
from tests.support.agent_process import agent_process
from tests.support.constants import HANG_GUARD
from tests.support.loopback_http import http_get
from tests.support.primaries import primary_bytes

#: What an operator or CRI-O may give a container; the flood is larger than all of it.
OPEN_FILES = 256
FLOOD = 345


def _low_open_file_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES, OPEN_FILES))


async def _idle_client(port: int, stop: asyncio.Event) -> int:
    """Connect, send nothing, wait for the agent to close; again, until told to stop."""
    connections = 0
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            # EMFILE fails before open_connection suspends: yield, or this loop never lets
            # the event loop (and so `stop`) run.
            await asyncio.sleep(0)
            continue
        connections += 1
        try:
            stopped = asyncio.ensure_future(stop.wait())
            closed = asyncio.ensure_future(reader.read())
            await asyncio.wait([stopped, closed], return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            closed.cancel()
        finally:
            writer.close()
    return connections


async def test_a_flood_neither_stops_the_agent_nor_floods_its_log(net_dir: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4 * FLOOD:  # the test's own end of every connection
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4 * FLOOD), hard))
    async with agent_process(
        net_dir, "--listen", "127.0.0.1:0", preexec_fn=_low_open_file_limit
    ) as agent:
        _, port = agent.address("/healthz /metrics /readyz")
        stop = asyncio.Event()
        flood = [asyncio.create_task(_idle_client(port, stop)) for _ in range(FLOOD)]
        try:
            await agent.line("listener_busy")  # the flood reached the cap
            # The agent goes on reacting to the conf dir: the start-up race, then the chain.
            since = len(agent.lines)
            primary = net_dir / "10-azure.conflist"
            write_in_place(primary, b"")
            await agent.line("transition", since, trigger="primary_invalid")
            write_in_place(primary, primary_bytes())
            await agent.line("transition", since, dest="Verified")
        finally:
            stop.set()
            connections = sum(await asyncio.gather(*flood))
        assert connections > FLOOD

        # Once the flood's connections are closed, /healthz answers 200. A probe that races
        # the agent's handling of the last closes is refused and asks again: each ask is a
        # round trip to the agent, no clock involved. A refusal is the 503, or a reset when
        # the agent closes before our request reached it (unread bytes make close() an RST).
        async with asyncio.timeout(HANG_GUARD):
            while (status := await _probe(port))[0] == 503:
                pass
        assert status[::2] == (200, b"ok: event loop alive, watch armed\n")
        _, _, metrics = await http_get(port, "/metrics")
        refused = next(
            line
            for line in metrics.decode().splitlines()
            if line.startswith('chainfsm_http_refused_total{listener="probes"}')
        )
        assert float(refused.split()[1]) > 0
        assert [d for d in agent.lines if d.get("trigger") == "watch_lost"] == []
        assert await agent.stop() == 0
    assert agent.stray == [], "".join(agent.stray[:20])  # no traceback, no line but JSON
    # Said once (a second time only if the flood outlived a minute), not once per connection.
    assert 1 <= agent.count("listener_busy") <= 2
    assert len(agent.lines) < 40, [d["event"] for d in agent.lines]


async def _probe(port: int) -> tuple[int, str, bytes]:
    try:
        return await http_get(port, "/healthz")
    except ConnectionResetError:
        return 503, "", b""
