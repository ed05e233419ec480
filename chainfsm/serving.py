"""``--listen``: /healthz, /readyz and /metrics over a minimal HTTP/1.1 responder on asyncio.

Imported only with ``--listen``. One request per connection (``Connection: close``), GET and
HEAD only, headers capped and timed out: a probe or a scraper needs no more, and nothing a
client sends can hold the event loop the agent runs on.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from chainfsm.agent import Agent
from chainfsm.metrics import CONTENT_TYPE, Metrics
from chainfsm.states import State

#: A client gets this long to send its request line and headers.
REQUEST_TIMEOUT = 10.0
#: Longest request line or header line, in bytes.
MAX_LINE = 8192
MAX_HEADERS = 100

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
_REASONS[503] = "Service Unavailable"


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"


def _last_reason(agent: Agent) -> str:
    return agent.history[-1].reason if agent.history else "starting"


def healthz(agent: Agent) -> Response:
    """200 while the loop answers (it does, to run this) and the watch is armed."""
    if agent.ready.is_set() and agent.watch_armed and not agent.stopping:
        return Response(200, b"ok: event loop alive, watch armed\n")
    why = "stopping" if agent.stopping else "watch not armed"
    return Response(503, f"not healthy: {why}\n".encode())


def readyz(agent: Agent) -> Response:
    """200 only in Verified; the body names the state and why it is so."""
    state = agent.state
    body = f"{state.value}: {_last_reason(agent)}\n".encode()
    return Response(200 if state is State.Verified else 503, body)


class Server:
    """The endpoints of one agent; ``start`` binds, ``close`` unbinds."""

    def __init__(self, agent: Agent, metrics: Metrics, host: str, port: int) -> None:
        self.agent = agent
        self.metrics = metrics
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    @property
    def bound(self) -> tuple[str, int]:
        """The address actually bound (port 0 asks the kernel for a free one)."""
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return str(host), int(port)

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, self.host, self.port, limit=MAX_LINE
        )

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def respond(self, method: str, path: str) -> Response:
        if method not in ("GET", "HEAD"):
            return Response(405, b"only GET and HEAD\n")
        route = path.split("?", 1)[0]
        if route == "/healthz":
            return healthz(self.agent)
        if route == "/readyz":
            return readyz(self.agent)
        if route == "/metrics":
            return Response(200, self.metrics.render(), CONTENT_TYPE)
        return Response(404, b"not found: try /healthz, /readyz or /metrics\n")

    async def _read_request(self, reader: asyncio.StreamReader) -> tuple[str, str] | None:
        line = await reader.readline()
        parts = line.decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            return None
        for _ in range(MAX_HEADERS):
            header = await reader.readline()
            if header in (b"\r\n", b"\n", b""):
                return parts[0], parts[1]
        return None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    request = await self._read_request(reader)
            except (TimeoutError, ValueError, asyncio.LimitOverrunError):
                request = None
            if request is None:
                response, method = Response(400, b"bad request\n"), "GET"
            else:
                method = request[0]
                response = self.respond(*request)
            head = (
                f"HTTP/1.1 {response.status} {_REASONS[response.status]}\r\n"
                f"Content-Type: {response.content_type}\r\n"
                f"Content-Length: {len(response.body)}\r\n"
                "Connection: close\r\n\r\n"
            ).encode()
            writer.write(head if method == "HEAD" else head + response.body)
            async with asyncio.timeout(REQUEST_TIMEOUT):
                await writer.drain()
        except (ConnectionError, TimeoutError):
            pass  # the client went away; nothing of ours to clean
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, TimeoutError):
                await writer.wait_closed()
