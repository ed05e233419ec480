"""``--listen``: /healthz, /readyz and /metrics, and ``--metrics-listen``: /metrics alone, over
a minimal HTTP/1.1 responder on asyncio.

Imported only with ``--listen`` or ``--metrics-listen``. One request per connection
(``Connection: close``), GET and HEAD only, headers capped and timed out, connections capped:
a probe or a scraper needs no more, and nothing a client sends can hold the event loop the
agent runs on or take the descriptors it needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import resource
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from chainfsm import logs
from chainfsm.agent.status import Status
from chainfsm.core.states import State
from chainfsm.process.metrics import CONTENT_TYPE, Metrics

#: A client gets this long to send its request line and headers.
REQUEST_TIMEOUT = 10.0
#: Longest request line or header line, in bytes.
MAX_LINE = 8192
MAX_HEADERS = 100
#: Connections one listener serves at once. A probe or a scraper needs one each, briefly; the
#: rest of a flood is refused rather than allowed to take the descriptors the agent needs.
MAX_CONNECTIONS = 32
#: Descriptors kept out of every listener's reach, for the agent's own work: the inotify
#: watches, reading and writing the conf dir, plugins asked for their VERSION, the log.
RESERVED_FDS = 64
#: Connections taken per wake-up of the listening socket before the loop runs other work.
ACCEPT_BATCH = 16
#: The kernel's queue of connections not yet accepted.
BACKLOG = 128
#: Seconds to stop accepting after accept() itself failed (no descriptor or memory left).
ACCEPT_PAUSE = 0.5
#: Seconds between two ``listener_busy`` lines of one listener.
NOTE_EVERY = 60.0
#: What every path is; a listener may serve fewer (``--metrics-listen`` serves /metrics only).
ALL_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
METRICS_ONLY = frozenset({"/metrics"})

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
_REASONS[503] = "Service Unavailable"
#: All a refused connection gets: one send that never blocks, then close.
BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: 24\r\nConnection: close\r\n\r\nbusy: too many clients\r\n"
)


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"


def healthz(status: Status) -> Response:
    """200 while the loop answers (it does, to run this) and the watch is armed."""
    if status.ready and status.watch_armed and not status.stopping:
        if status.watch_degraded is not None:
            # Alive and keeping the chain right: a restart would not free the uid's inotify.
            return Response(200, b"ok: event loop alive, conf dir polled (inotify limit)\n")
        return Response(200, b"ok: event loop alive, watch armed\n")
    why = "stopping" if status.stopping else "watch not armed"
    return Response(503, f"not healthy: {why}\n".encode())


def readyz(status: Status, now: float | None = None) -> Response:
    """200 only in Verified; the body names the state and why (``Status.now``), and, once
    the chain has failed since the last Verified, since when: a node stuck for an hour must
    not read like one still starting."""
    failing = status.failing(time.time() if now is None else now)
    body = f"{status.state.value}: {status.now}{f'; {failing}' if failing else ''}\n".encode()
    return Response(200 if status.state is State.Verified else 503, body)


def connection_cap(soft_limit: int, open_now: int, listeners: int) -> int:
    """How many connections each of ``listeners`` may hold at once, so that ``RESERVED_FDS``
    descriptors stay free for the agent's own work under the open-file limit. Pure."""
    if soft_limit == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    # One more descriptor per listener: the one that accepts a connection only to refuse it.
    spare = (soft_limit - open_now - RESERVED_FDS) // max(1, listeners) - 1
    return max(1, min(MAX_CONNECTIONS, spare))


def open_descriptors() -> int:
    try:
        return sum(1 for _ in Path("/proc/self/fd").iterdir())
    except OSError:
        return 64  # no /proc: assume a busy process


def fd_budget_cap(listeners: int) -> int:
    """``connection_cap`` for this process, now."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return connection_cap(soft, open_descriptors(), listeners)


def _every_address(port: int) -> socket.socket:
    """A socket listening on ``port`` of every address: IPv6 and IPv4 in one where the host
    has IPv6, else every IPv4 address (a node or a pod may have IPv6 turned off)."""
    if socket.has_dualstack_ipv6():
        try:
            return socket.create_server(
                ("", port), family=socket.AF_INET6, dualstack_ipv6=True, backlog=BACKLOG
            )
        except OSError as err:
            if err.errno not in (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL):
                raise
    return socket.create_server(("", port), family=socket.AF_INET, backlog=BACKLOG)


class Server:
    """One listening socket serving ``paths`` of one agent's ``status``; ``start`` binds,
    ``close`` unbinds.

    It accepts connections itself rather than through ``asyncio.start_server``: at most ``cap``
    are served at once, the excess is accepted and closed at once with a 503 (a flood costs a
    descriptor per connection for a moment, never the agent's own), and a full descriptor
    table pauses accepting instead of logging a traceback per attempt. Either is said in one
    ``listener_busy`` line a minute at most, and counted in ``refused``.
    """

    def __init__(
        self,
        status: Callable[[], Status],
        metrics: Metrics,
        host: str,
        port: int,
        paths: frozenset[str] = ALL_PATHS,
        cap: int = MAX_CONNECTIONS,
    ) -> None:
        self.status = status
        self.metrics = metrics
        self.host = host
        self.port = port
        self.paths = paths
        self.cap = cap
        #: Connections accepted and closed at once because ``cap`` were open.
        self.refused = 0
        #: accept() calls that failed for want of descriptors or memory.
        self.accept_errors = 0
        self._sock: socket.socket | None = None
        self._serving: set[asyncio.Task[None]] = set()
        self._paused: asyncio.TimerHandle | None = None
        self._noted_at = -NOTE_EVERY

    def refusals(self) -> int:
        """Connections refused and accept() failures so far."""
        return self.refused + self.accept_errors

    @property
    def bound(self) -> tuple[str, int]:
        """The address actually bound (port 0 asks the kernel for a free one)."""
        assert self._sock is not None
        host, port = self._sock.getsockname()[:2]
        return str(host), int(port)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.host == "":
            self._sock = _every_address(self.port)
        else:
            infos = await loop.getaddrinfo(
                self.host, self.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )
            family, _, _, _, address = infos[0]
            self._sock = socket.create_server(address[:2], family=family, backlog=BACKLOG)
        self._sock.setblocking(False)
        loop.add_reader(self._sock.fileno(), self._accept)

    async def close(self) -> None:
        if self._sock is None:
            return
        if self._paused is not None:
            self._paused.cancel()
        asyncio.get_running_loop().remove_reader(self._sock.fileno())
        self._sock.close()
        self._sock = None
        for task in self._serving:
            task.cancel()
        await asyncio.gather(*self._serving, return_exceptions=True)

    def _accept(self) -> None:
        """The listening socket is readable: take a batch of connections, then let the loop
        run the agent's own work before the next."""
        assert self._sock is not None
        for _ in range(ACCEPT_BATCH):
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as err:
                # EMFILE, ENFILE, ENOBUFS, ENOMEM: the kernel keeps the connection queued.
                self.accept_errors += 1
                self._pause()
                self._note(f"accept() failed: {err.strerror}; pausing accepts {ACCEPT_PAUSE:g} s")
                return
            if len(self._serving) >= self.cap:
                self._refuse(conn)
                continue
            conn.setblocking(False)
            task = asyncio.get_running_loop().create_task(self._serve(conn))
            self._serving.add(task)
            task.add_done_callback(self._serving.discard)

    def _pause(self) -> None:
        assert self._sock is not None
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._sock.fileno())
        self._paused = loop.call_later(ACCEPT_PAUSE, self._resume)

    def _resume(self) -> None:
        self._paused = None
        if self._sock is not None:
            asyncio.get_running_loop().add_reader(self._sock.fileno(), self._accept)

    def _refuse(self, conn: socket.socket) -> None:
        self.refused += 1
        with contextlib.suppress(OSError):
            conn.send(BUSY, socket.MSG_DONTWAIT | socket.MSG_NOSIGNAL)
        conn.close()
        self._note(
            f"{self.cap} connections open, the most served at once: refusing more with 503"
            " (counted in chainfsm_http_refused_total)"
        )

    def _note(self, reason: str) -> None:
        """One line a minute at most, however many connections a flood brings."""
        now = time.monotonic()
        if now - self._noted_at < NOTE_EVERY:
            return
        self._noted_at = now
        host, port = self.bound
        logs.event(
            "listener_busy",
            logging.WARNING,
            address=f"{host}:{port}",
            reason=f"{reason}; said at most once a minute",
        )

    async def _serve(self, conn: socket.socket) -> None:
        try:
            reader, writer = await asyncio.open_connection(sock=conn, limit=MAX_LINE)
        except OSError:
            conn.close()
            return
        await self._handle(reader, writer)

    def respond(self, method: str, path: str) -> Response:
        if method not in ("GET", "HEAD"):
            return Response(405, b"only GET and HEAD\n")
        route = path.split("?", 1)[0]
        if route not in self.paths:
            return Response(404, f"not found: try {' or '.join(sorted(self.paths))}\n".encode())
        if route == "/healthz":
            return healthz(self.status())
        if route == "/readyz":
            return readyz(self.status())
        if route == "/metrics":
            return Response(200, self.metrics.render(), CONTENT_TYPE)
        raise AssertionError(f"unrouted path {route}")

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
        except OSError:
            # The client went away (reset, EHOSTUNREACH from an ICMP error, a timeout): nothing
            # of ours to clean, and an escaped error would be one traceback per connection.
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
