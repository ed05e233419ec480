"""The container runtime's CRI socket: a small async client for the calls chainfsm makes.

``Status`` (verbose), ``ListPodSandbox``, ``PodSandboxStatus`` (verbose) and
``StopPodSandbox``, over gRPC on a unix socket, each bounded by a timeout. The messages are
encoded and decoded by ``core.cri_messages``; gRPC here only carries their bytes, so no
protobuf library is needed. grpclib (pure Python, asyncio-native) is imported on the first
call, so an agent without ``--cri-socket`` never loads it (docs/performance.md has the
figures against grpcio).

Every failure is one ``CriError`` whose message is one line naming the socket.
"""

from __future__ import annotations

import asyncio
import stat
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from chainfsm.core import cri_messages
from chainfsm.core.cri_messages import RuntimeStatus, Sandbox, SandboxStatus

if TYPE_CHECKING:
    from grpclib.client import Channel
    from grpclib.encoding.base import CodecBase

_T = TypeVar("_T")

#: Seconds one call may take, connecting included. The runtime answers these in milliseconds;
#: a runtime that does not answer in this long is stuck, and the agent must not wait on it.
DEFAULT_TIMEOUT = 5.0


class CriError(Exception):
    """A CRI call that did not give an answer; ``str()`` is one line naming the socket.
    ``status``: the gRPC status the runtime answered with (e.g. ``NOT_FOUND``), if it did."""

    def __init__(self, message: str, status: str | None = None) -> None:
        super().__init__(message)
        self.status = status


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _raw_codec() -> CodecBase:
    """grpclib's codec interface over bytes as they are: the messages are encoded by hand."""
    from grpclib.encoding.base import CodecBase

    class RawCodec(CodecBase):
        __content_subtype__ = "proto"

        def encode(self, message: Any, message_type: Any) -> bytes:
            if not isinstance(message, bytes):
                raise TypeError(f"expected bytes, got {type(message).__name__}")
            return message

        def decode(self, data: bytes, message_type: Any) -> bytes:
            return data

    return RawCodec()


class CriClient:
    """One runtime's CRI socket. Connects on the first call and again after a failure; use it
    as an async context manager, or call ``close``."""

    def __init__(self, socket: Path, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.socket = socket
        self.timeout = timeout
        self._channel: Channel | None = None

    async def status(self) -> RuntimeStatus:
        """``Status`` with ``verbose``: the conditions and the ``info`` map."""
        answer = await self._call("Status", cri_messages.encode_status_request(verbose=True))
        return self._decode("Status", cri_messages.decode_status_response, answer)

    async def list_sandboxes(self) -> tuple[Sandbox, ...]:
        """``ListPodSandbox`` with no filter: every sandbox, ready or not."""
        answer = await self._call("ListPodSandbox", cri_messages.encode_list_sandboxes_request())
        return self._decode("ListPodSandbox", cri_messages.decode_list_sandboxes_response, answer)

    async def sandbox_status(self, sandbox_id: str) -> SandboxStatus:
        """``PodSandboxStatus`` with ``verbose``."""
        request = cri_messages.encode_sandbox_status_request(sandbox_id, verbose=True)
        answer = await self._call("PodSandboxStatus", request)
        return self._decode("PodSandboxStatus", cri_messages.decode_sandbox_status_response, answer)

    async def stop_sandbox(self, sandbox_id: str) -> None:
        """``StopPodSandbox``: the runtime tears the sandbox's network down and stops it."""
        await self._call("StopPodSandbox", cri_messages.encode_stop_sandbox_request(sandbox_id))

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None

    async def __aenter__(self) -> CriClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _decode(self, method: str, decode: Callable[[bytes], _T], answer: bytes) -> _T:
        try:
            result = decode(answer)
        except cri_messages.MalformedMessage as err:
            raise CriError(
                f"CRI {method} at {self.socket}: the answer is not a CRI v1 message: {err}"
            ) from err
        return result

    def _check_socket(self) -> None:
        """Say plainly what is wrong with the path before gRPC says it obscurely."""
        try:
            mode = self.socket.stat().st_mode
        except FileNotFoundError:
            raise CriError(f"no CRI socket at {self.socket}: nothing there") from None
        except OSError as err:
            raise CriError(f"CRI socket {self.socket}: {err.strerror}") from None
        if not stat.S_ISSOCK(mode):
            raise CriError(f"CRI socket {self.socket} is not a socket")

    async def _call(self, method: str, request: bytes) -> bytes:
        from grpclib import GRPCError, Status  # here: only a node that asks pays for it
        from grpclib.client import Channel, UnaryUnaryMethod
        from grpclib.exceptions import ProtocolError, StreamTerminatedError

        where = f"CRI {method} at {self.socket}"
        self._check_socket()
        if self._channel is None:
            self._channel = Channel(path=str(self.socket), codec=_raw_codec())
        try:
            async with asyncio.timeout(self.timeout):
                call = UnaryUnaryMethod[bytes, bytes](
                    self._channel, f"/{cri_messages.SERVICE}/{method}", bytes, bytes
                )
                answer = await call(request)
        except TimeoutError:
            self.close()
            raise CriError(f"{where}: no answer within {self.timeout:g} s") from None
        except GRPCError as err:
            if err.status is Status.UNIMPLEMENTED:
                raise CriError(
                    f"{where}: the runtime does not serve CRI v1 {method}"
                    " (a runtime older than the CRI v1 API?)"
                ) from None
            detail = _one_line(err.message or "")
            raise CriError(
                f"{where}: {err.status.name}: {detail}".rstrip(": "), err.status.name
            ) from None
        except ConnectionRefusedError:
            self.close()
            raise CriError(f"{where}: connection refused (is the runtime running?)") from None
        except (StreamTerminatedError, ProtocolError) as err:
            self.close()
            raise CriError(f"{where}: the connection broke: {_one_line(str(err))}") from None
        except OSError as err:
            self.close()
            raise CriError(f"{where}: {_one_line(err.strerror or str(err))}") from None
        return answer
