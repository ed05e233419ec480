"""/healthz, /readyz and /metrics over loopback, and the ready file, against a real agent."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import resource
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from chainfsm.agent.agent import Agent
from chainfsm.cli import dump_command
from chainfsm.process import http_endpoints, lifecycle, metrics
from chainfsm.settings import Settings
from tests.support.constants import AZURE, HANG_GUARD
from tests.support.guarded_agent import record, until
from tests.support.log_queue import LogQueue
from tests.support.loopback_http import http_get
from tests.support.primaries import primary_bytes


def _samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Agent, http_endpoints.Server]]:
    settings = Settings(
        net_dir=tmp_path, listen="127.0.0.1:0", dump_file=tmp_path / "run" / "dump.json"
    )
    agent = Agent(settings)
    async with lifecycle.endpoints(agent, settings) as (server,):
        task = asyncio.create_task(agent.run())
        await asyncio.wait_for(agent.ready.wait(), HANG_GUARD)
        yield agent, server
        agent.request_stop()
        await asyncio.wait_for(task, HANG_GUARD)


async def test_readyz_follows_the_primary_in_and_out(
    served: tuple[Agent, http_endpoints.Server], tmp_path: Path
) -> None:
    agent, server = served
    seen = record(agent)
    port = server.bound[1]
    assert server.bound[0] == "127.0.0.1"
    status, _, body = await http_get(port, "/readyz")
    assert status == 503
    assert body.startswith(b"WaitingPrimary: ")
    (tmp_path / "10-azure.conflist").write_bytes(primary_bytes())
    await until(seen, "Verified")
    status, _, body = await http_get(port, "/readyz")
    assert (status, body) == (
        200,
        b"Verified: 05-antrea.conflist written: 05-antrea.conflist is first and runs"
        b" [azure-vnet, portmap, antrea]\n",
    )
    (tmp_path / "10-azure.conflist").unlink()
    await until(seen, "WaitingPrimary")
    status, _, body = await http_get(port, "/readyz")
    assert status == 503
    assert body.startswith(b"WaitingPrimary: 10-azure.conflist is gone")


async def test_healthz_is_200_while_the_watch_is_armed(
    served: tuple[Agent, http_endpoints.Server],
) -> None:
    agent, server = served
    assert await http_get(server.bound[1], "/healthz") == (
        200,
        "text/plain; charset=utf-8",
        b"ok: event loop alive, watch armed\n",
    )
    agent.request_stop()
    status, _, body = await http_get(server.bound[1], "/healthz")
    assert (status, body) == (503, b"not healthy: stopping\n")


async def test_metrics_parse_and_count_what_happened(
    served: tuple[Agent, http_endpoints.Server], tmp_path: Path
) -> None:
    agent, server = served
    seen = record(agent)
    (tmp_path / "10-azure.conflist").write_bytes(b"")
    await until(seen, trigger="primary_invalid")
    (tmp_path / "10-azure.conflist").write_bytes(primary_bytes())
    verified = await until(seen, "Verified")
    status, content_type, body = await http_get(server.bound[1], "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain; version=0.0.4")
    got = _samples(body)
    for state in ("WaitingPrimary", "Validating", "Writing", "Failed"):
        assert got[("chainfsm_state", (("state", state),))] == 0
    assert got[("chainfsm_state", (("state", "Verified"),))] == 1
    edge = (("dest", "Writing"), ("source", "Validating"), ("trigger", "primary_valid"))
    assert got[("chainfsm_transitions_total", edge)] == 1
    edge = (("dest", "Validating"), ("source", "Validating"), ("trigger", "primary_invalid"))
    assert got[("chainfsm_transitions_total", edge)] == agent.status().retries >= 1
    assert got[("chainfsm_writes_total", ())] == 1
    assert got[("chainfsm_retries_total", ())] == agent.status().retries
    assert got[("chainfsm_failures_total", (("reason", "budget_spent"),))] == 0
    assert got[("chainfsm_last_verified_timestamp_seconds", ())] == verified.time
    assert got[("chainfsm_watch_armed", ())] == 1
    assert all(name.startswith("chainfsm_") for name, _ in got)


async def test_other_paths_and_methods_and_garbage_get_clean_answers(
    served: tuple[Agent, http_endpoints.Server],
) -> None:
    _, server = served
    port = server.bound[1]
    assert (await http_get(port, "/nope"))[0] == 404
    assert (await http_get(port, "/metrics", "POST"))[0] == 405
    status, _, body = await http_get(port, "/readyz", "HEAD")
    assert (status, body) == (503, b"")
    async with asyncio.timeout(HANG_GUARD):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"\x00garbage\r\n\r\n")
        await writer.drain()
        assert (await reader.read()).startswith(b"HTTP/1.1 400 Bad Request\r\n")
        writer.close()


async def test_the_ready_file_exists_only_while_verified(tmp_path: Path) -> None:
    net_dir = tmp_path / "net.d"
    net_dir.mkdir()
    ready = tmp_path / "run" / "ready"
    ready.parent.mkdir()
    ready.write_text("left by an earlier run\n")
    settings = Settings(net_dir=net_dir, ready_file=ready, dump_file=tmp_path / "run" / "d")
    agent = Agent(settings)
    seen = record(agent)
    task = asyncio.create_task(lifecycle.serve(settings, agent))
    await asyncio.wait_for(agent.ready.wait(), HANG_GUARD)
    assert not ready.exists()
    (net_dir / "10-azure.conflist").write_bytes(primary_bytes())
    await until(seen, "Verified")
    assert ready.read_text().startswith("05-antrea.conflist written")
    (net_dir / "10-azure.conflist").unlink()
    await until(seen, "WaitingPrimary")
    assert not ready.exists()
    (net_dir / "10-azure.conflist").write_bytes(primary_bytes())
    await until(seen, "Verified")
    assert ready.exists()
    agent.request_stop()
    assert await asyncio.wait_for(task, HANG_GUARD) == 0
    assert not ready.exists()


async def _line_with(stream: asyncio.StreamReader, event: str, **match: str) -> dict[str, str]:
    async with asyncio.timeout(HANG_GUARD):
        while line := await stream.readline():
            doc = json.loads(line)
            if doc["event"] == event and all(doc.get(k) == v for k, v in match.items()):
                return doc  # type: ignore[no-any-return]
    raise AssertionError(f"the agent exited without logging {event} {match}")


async def test_the_command_serves_dumps_and_stops(tmp_path: Path) -> None:
    """What an operator does: run with --listen, probe it, kill -USR1, chainfsm dump."""
    net_dir = tmp_path / "net.d"
    net_dir.mkdir()
    dump_file = tmp_path / "run" / "dump.json"
    env = {**os.environ, "CHAINFSM_NET_DIR": str(net_dir), "CHAINFSM_DUMP_FILE": str(dump_file)}
    agent = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "chainfsm", "run", "--listen", "127.0.0.1:0"),
        *("--log-format", "json"),
        env=env,
        stderr=asyncio.subprocess.PIPE,
    )
    assert agent.stderr is not None
    try:
        listening = await _line_with(agent.stderr, "listening")
        port = int(listening["address"].rsplit(":", 1)[1])
        await _line_with(agent.stderr, "started")
        (net_dir / "10-azure.conflist").write_bytes(primary_bytes())
        await _line_with(agent.stderr, "transition", dest="Verified")
        assert (await http_get(port, "/healthz"))[0] == 200
        assert (await http_get(port, "/readyz"))[0] == 200
        assert b"chainfsm_writes_total 1.0" in (await http_get(port, "/metrics"))[2]

        on_disk = json.loads(await dump_command.ask(agent.pid, dump_file, HANG_GUARD))  # kill -USR1
        assert on_disk["state"] == "Verified"
        logged = await _line_with(agent.stderr, "dump")
        assert logged["snapshot"] == on_disk

        asked = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "chainfsm", "dump", "--diagram"),
            env=env,
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(asked.communicate(), HANG_GUARD)
        assert asked.returncode == 0
        text = out.decode()
        doc = json.loads(text[: text.index("\n}\n") + 2])
        assert doc["pid"] == agent.pid
        assert doc["history"]["transitions"][-1]["dest"] == "Verified"
        assert "  class Verified s_active\n" in doc["diagram"]
    finally:
        if agent.returncode is None:
            agent.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(agent.wait(), HANG_GUARD)
    assert code == 0


@pytest.mark.parametrize(
    ("soft_limit", "open_now", "listeners", "cap"),
    [
        (1024, 20, 2, http_endpoints.MAX_CONNECTIONS),
        (256, 20, 2, http_endpoints.MAX_CONNECTIONS),
        (128, 20, 2, 21),  # (128 - 20 - 64) // 2 - 1
        (100, 20, 1, 15),
        (70, 20, 1, 1),  # never below one: a probe must get through
        (resource.RLIM_INFINITY, 20, 2, http_endpoints.MAX_CONNECTIONS),
    ],
)
def test_the_connection_cap_keeps_descriptors_for_the_agent(
    soft_limit: int, open_now: int, listeners: int, cap: int
) -> None:
    assert http_endpoints.connection_cap(soft_limit, open_now, listeners) == cap


async def test_metrics_listen_serves_metrics_alone_beside_the_probes(tmp_path: Path) -> None:
    settings = Settings(
        net_dir=tmp_path,
        listen="127.0.0.1:0",
        metrics_listen="127.0.0.1:0",
        dump_file=tmp_path / "run" / "dump.json",
    )
    agent = Agent(settings)
    async with lifecycle.endpoints(agent, settings) as (probes, scraped):
        assert probes.paths == http_endpoints.ALL_PATHS
        assert scraped.paths == http_endpoints.METRICS_ONLY
        assert probes.bound[1] != scraped.bound[1]
        status, content_type, body = await http_get(scraped.bound[1], "/metrics")
        assert (status, content_type) == (200, metrics.CONTENT_TYPE)
        assert b'chainfsm_state{state="WaitingPrimary"} 1.0' in body
        assert b'chainfsm_http_refused_total{listener="metrics"} 0.0' in body
        for path in ("/healthz", "/readyz"):
            assert await http_get(scraped.bound[1], path) == (
                404,
                "text/plain; charset=utf-8",
                b"not found: try /metrics\n",
            )
        assert (await http_get(probes.bound[1], "/healthz"))[0] == 503  # the agent is not running


async def test_connections_past_the_cap_get_a_503_and_are_counted(tmp_path: Path) -> None:
    settings = Settings(net_dir=tmp_path, dump_file=tmp_path / "run" / "dump.json")
    agent = Agent(settings)
    server = http_endpoints.Server(
        agent.status, metrics.Metrics(agent.status), "127.0.0.1", 0, cap=2
    )
    await server.start()
    try:
        held = [await asyncio.open_connection("127.0.0.1", server.bound[1]) for _ in range(2)]
        status, _, body = await http_get(server.bound[1], "/readyz")
        assert (status, body) == (503, b"busy: too many clients\r\n")
        assert server.refused == 1
        for reader, writer in held:  # a request on a held connection is served, not refused
            writer.write(b"GET /readyz HTTP/1.1\r\n\r\n")
            answer = await asyncio.wait_for(reader.read(), HANG_GUARD)
            assert answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
            assert answer.partition(b"\r\n\r\n")[2].startswith(b"WaitingPrimary: ")
            writer.close()
        assert server.refused == 1
    finally:
        await server.close()


async def test_a_connection_lost_to_any_socket_error_ends_quietly(tmp_path: Path) -> None:
    """EHOSTUNREACH (an ICMP error on the client's route) is an OSError but no ConnectionError;
    asyncio hands it to the connection's reader as below. The handler must end the connection,
    not raise: a raised error is one "Task exception was never retrieved" per connection."""
    settings = Settings(net_dir=tmp_path, dump_file=tmp_path / "run" / "dump.json")
    agent = Agent(settings)
    server = http_endpoints.Server(agent.status, metrics.Metrics(agent.status), "127.0.0.1", 0)
    ours, theirs = socket.socketpair()
    theirs.settimeout(HANG_GUARD)
    with theirs:
        reader, writer = await asyncio.open_connection(sock=ours)
        reader.set_exception(OSError(errno.EHOSTUNREACH, os.strerror(errno.EHOSTUNREACH)))
        await asyncio.wait_for(server._handle(reader, writer), HANG_GUARD)
        assert writer.is_closing()
        assert theirs.recv(1) == b""  # closed, with nothing sent


async def test_a_taken_port_does_not_stop_the_agent_and_is_bound_once_free(
    net_dir: Path, lines: LogQueue
) -> None:
    """E.g. 9808, the CSI livenessprobe's default, taken on the host network: the agent used to
    exit 1 (a crash loop, no chain). Now it chains, says so loudly and binds when it can."""
    (net_dir / AZURE).write_bytes(primary_bytes())
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    address = f"127.0.0.1:{taken.getsockname()[1]}"
    settings = Settings(
        net_dir=net_dir,
        listen="127.0.0.1:0",
        metrics_listen=address,
        dump_file=net_dir.parent / "run" / "dump.json",
    )
    agent = Agent(settings)
    transitions = record(agent)
    task = asyncio.create_task(lifecycle.serve(settings, agent))
    try:
        probes = await lines.until("listening")
        failed = await lines.until("listen_failed")
        assert failed["address"] == address
        assert failed["listener"] == "metrics"
        assert failed["reason"].startswith(
            f"cannot listen on {address}: Address already in use; the agent goes on chaining"
            " without it and tries again in 1 s."
        )
        assert failed["reason"].endswith(
            "Free the port or choose another with --metrics-listen, and the pod's port"
            " chainfsm-prom with it"
        )
        await until(transitions, trigger="output_verified")  # the chain work went on
        port = int(probes["address"].rsplit(":", 1)[1])
        status, _, body = await http_get(port, "/metrics")
        assert status == 200
        up = {"probes": 1.0, "metrics": 0.0}
        for name, value in up.items():
            assert _samples(body)[("chainfsm_listener_up", (("listener", name),))] == value

        taken.close()
        bound = await lines.until("listening")
        assert bound["address"] == address
        status, _, body = await http_get(int(address.rsplit(":", 1)[1]), "/metrics")
        assert status == 200
        assert _samples(body)[("chainfsm_listener_up", (("listener", "metrics"),))] == 1.0
        agent.request_stop()
        assert await asyncio.wait_for(task, HANG_GUARD) == 0
    finally:
        taken.close()
        agent.request_stop()
        await asyncio.gather(asyncio.wait_for(task, HANG_GUARD), return_exceptions=True)


async def test_an_address_the_host_lacks_is_told_so_not_to_free_a_port(
    net_dir: Path, lines: LogQueue
) -> None:
    """A --metrics-listen on an address no interface has (a pod IP typed wrong, or not there
    yet): the line says so, not "free the port". 192.0.2.1 is TEST-NET-1: bound, never sent to."""
    (net_dir / AZURE).write_bytes(primary_bytes())
    settings = Settings(
        net_dir=net_dir,
        metrics_listen="192.0.2.1:0",
        dump_file=net_dir.parent / "run" / "dump.json",
    )
    agent = Agent(settings)
    task = asyncio.create_task(lifecycle.serve(settings, agent))
    try:
        failed = await lines.until("listen_failed")
        assert failed["reason"].startswith(
            "cannot listen on 192.0.2.1:0: Cannot assign requested address;"
        )
        assert failed["reason"].endswith(
            "No interface of this host has that address (yet): give --metrics-listen an"
            " address the host has, or :PORT for all of them"
        )
        assert "Free the port" not in failed["reason"]
    finally:
        agent.request_stop()
        await asyncio.gather(asyncio.wait_for(task, HANG_GUARD), return_exceptions=True)
