"""A plain HTTP request to the agent's endpoints over loopback (no client library between)."""

from __future__ import annotations

import asyncio

from tests.support.constants import HANG_GUARD


async def http_get(port: int, path: str, method: str = "GET") -> tuple[int, str, bytes]:
    """One request; the status, the Content-Type and the body."""
    async with asyncio.timeout(HANG_GUARD):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        await writer.drain()
        raw = await reader.read()
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    if method != "HEAD":  # HEAD announces the length GET would send
        assert int(headers["Content-Length"]) == len(body)
    return int(lines[0].split()[1]), headers["Content-Type"], body
