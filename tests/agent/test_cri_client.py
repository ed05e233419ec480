"""The CRI client's failures, each one line naming the socket: on real unix sockets in temp dirs.

What the client gets right against a real runtime is in tests/runtime/test_cri_client.py; here
are the sockets a runtime is not behind: none, a file, one nobody accepts on, one that never
answers, and a gRPC server that serves no CRI v1 (an older runtime).
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from chainfsm.edge.cri import CriClient, CriError


def one_line(err: pytest.ExceptionInfo[CriError]) -> str:
    text = str(err.value)
    assert "\n" not in text
    return text


async def test_no_socket_says_nothing_is_there(tmp_path: Path) -> None:
    async with CriClient(tmp_path / "containerd.sock") as client:
        with pytest.raises(CriError) as err:
            await client.status()
    assert one_line(err) == f"no CRI socket at {tmp_path / 'containerd.sock'}: nothing there"


async def test_a_file_that_is_not_a_socket_is_named(tmp_path: Path) -> None:
    (tmp_path / "containerd.sock").write_text("")
    async with CriClient(tmp_path / "containerd.sock") as client:
        with pytest.raises(CriError) as err:
            await client.list_sandboxes()
    assert one_line(err) == f"CRI socket {tmp_path / 'containerd.sock'} is not a socket"


async def test_a_socket_nobody_listens_on_is_a_refused_connection(tmp_path: Path) -> None:
    path = tmp_path / "containerd.sock"
    with socket.socket(socket.AF_UNIX) as bound:
        bound.bind(str(path))  # bound, never listening: what a dead runtime leaves behind
        async with CriClient(path) as client:
            with pytest.raises(CriError) as err:
                await client.sandbox_status("abc")
    assert one_line(err) == (
        f"CRI PodSandboxStatus at {path}: connection refused (is the runtime running?)"
    )


async def test_a_runtime_that_never_answers_is_bounded_by_the_timeout(tmp_path: Path) -> None:
    path = tmp_path / "containerd.sock"
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind(str(path))
        listening.listen()  # the kernel accepts; nobody ever reads or writes
        async with CriClient(path, timeout=0.2) as client:
            with pytest.raises(CriError) as err:
                await client.stop_sandbox("abc")
    assert one_line(err) == f"CRI StopPodSandbox at {path}: no answer within 0.2 s"


@pytest.fixture
async def no_cri_server(tmp_path: Path) -> AsyncIterator[Path]:
    """A gRPC server on a unix socket that serves no CRI v1: what a runtime older than the v1
    API answers for runtime.v1 is UNIMPLEMENTED. grpcio's server, like containerd's grpc-go,
    sends that with its content-type."""
    path = tmp_path / "old.sock"
    async with serving_nothing(path):
        yield path


@contextlib.asynccontextmanager
async def serving_nothing(path: Path) -> AsyncIterator[None]:
    server = grpc.aio.server()
    server.add_insecure_port(f"unix://{path}")
    await server.start()
    try:
        yield
    finally:
        await server.stop(grace=None)


async def test_an_older_runtime_is_named_as_such(no_cri_server: Path) -> None:
    async with CriClient(no_cri_server) as client:
        with pytest.raises(CriError) as err:
            await client.status()
    assert one_line(err) == (
        f"CRI Status at {no_cri_server}: the runtime does not serve CRI v1 Status"
        " (a runtime older than the CRI v1 API?)"
    )


async def test_after_a_failure_the_next_call_connects_again(tmp_path: Path) -> None:
    path = tmp_path / "later.sock"
    async with CriClient(path) as client:
        with pytest.raises(CriError):
            await client.status()
        async with serving_nothing(path):
            with pytest.raises(CriError, match="does not serve CRI v1"):
                await client.status()
