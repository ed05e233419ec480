"""A fake CRI runtime for the agent tests: a gRPC server (grpcio) on a unix socket that
answers CRI v1 ``Status`` with the bytes a test makes, and ``ListPodSandbox`` with none.
Shared by the ``--cri-socket`` tests and the ``--untaint`` ones (whose taint waits for the
runtime's confirmation)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import grpc


class FakeRuntime:
    """A CRI v1 ``Status`` server on a unix socket; ``answer`` makes each reply's bytes."""

    def __init__(self, socket: Path, answer: Callable[[], bytes]) -> None:
        self.socket = socket
        self.answer = answer
        self.questions = 0
        self.asked = asyncio.Event()

    async def _status(self, request: bytes, context: Any) -> bytes:
        self.questions += 1
        self.asked.set()
        return self.answer()


async def _no_sandboxes(request: bytes, context: Any) -> bytes:
    return b""


@contextlib.asynccontextmanager
async def fake_runtime(socket: Path, answer: Callable[[], bytes]) -> AsyncIterator[FakeRuntime]:
    runtime = FakeRuntime(socket, answer)
    server = grpc.aio.server()
    handler: grpc.RpcMethodHandler[bytes, bytes] = grpc.unary_unary_rpc_method_handler(
        runtime._status
    )  # bytes in, bytes out
    # No sandboxes: an empty ListPodSandboxResponse, so the sandbox passes reach Status.
    listing: grpc.RpcMethodHandler[bytes, bytes] = grpc.unary_unary_rpc_method_handler(
        _no_sandboxes
    )
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "runtime.v1.RuntimeService", {"Status": handler, "ListPodSandbox": listing}
            )
        ]
    )
    server.add_insecure_port(f"unix://{socket}")
    await server.start()
    try:
        yield runtime
    finally:
        await server.stop(grace=None)
