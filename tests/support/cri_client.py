"""A CRI ``RuntimeService/Status`` client: the container runtime's own verdict on the network.

The few CRI messages needed are described here by hand instead of vendoring the CRI protos:

    StatusRequest    { bool verbose = 1; }
    StatusResponse   { RuntimeStatus status = 1; map<string, string> info = 2; }
    RuntimeStatus    { repeated RuntimeCondition conditions = 1; }
    RuntimeCondition { string type = 1; bool status = 2; string reason = 3; string message = 4; }

Encoding and decoding are pure functions over the protobuf wire format (only grpcio is needed
for the transport). containerd 1.6 serves both ``runtime.v1`` and ``runtime.v1alpha2``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc

API_VERSIONS = ("runtime.v1", "runtime.v1alpha2")
_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5


@dataclass(frozen=True, slots=True)
class Condition:
    type: str
    status: bool = False
    reason: str = ""
    message: str = ""


@dataclass(frozen=True, slots=True)
class Status:
    """One answer of ``RuntimeService/Status``."""

    conditions: dict[str, Condition]
    info: dict[str, str] = field(default_factory=dict)

    @property
    def network_ready(self) -> bool:
        condition = self.conditions.get("NetworkReady")
        return condition is not None and condition.status

    @property
    def cni_load_status(self) -> str:
        """``lastCNILoadStatus``: "OK" or the error of the runtime's last load of the conf dir
        (only filled in a verbose answer)."""
        return self.info.get("lastCNILoadStatus", "")

    @property
    def networks(self) -> list[tuple[str, list[str]]]:
        """The networks the runtime loaded, as (name, plugin types), from ``cniconfig``."""
        loaded: dict[str, Any] = json.loads(self.info.get("cniconfig") or "{}")
        return [
            (
                str(net["Config"]["Name"]),
                [str(p["Network"]["type"]) for p in net["Config"]["Plugins"]],
            )
            for net in loaded.get("Networks") or []
        ]

    def describe(self) -> str:
        net = self.conditions.get("NetworkReady", Condition("NetworkReady"))
        return (
            f"NetworkReady={net.status} reason={net.reason!r} message={net.message!r}"
            f" lastCNILoadStatus={self.cni_load_status!r} networks={self.networks}"
        )


def encode_status_request(verbose: bool) -> bytes:
    """Pure. ``StatusRequest{verbose}``: field 1, varint; proto3 omits a false bool."""
    return b"\x08\x01" if verbose else b""


def _varint(buf: bytes, at: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        if at >= len(buf):
            raise ValueError("truncated varint")
        byte = buf[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def wire_fields(buf: bytes) -> Iterator[tuple[int, int | bytes]]:
    """Pure. The (field number, value) pairs of one message: ints for varints, bytes else."""
    at = 0
    while at < len(buf):
        key, at = _varint(buf, at)
        number, kind = key >> 3, key & 7
        value: int | bytes
        if kind == _VARINT:
            value, at = _varint(buf, at)
        elif kind == _LENGTH:
            size, at = _varint(buf, at)
            value = buf[at : at + size]
            if len(value) != size:
                raise ValueError("truncated field")
            at += size
        elif kind in (_FIXED64, _FIXED32):
            width = 8 if kind == _FIXED64 else 4
            value = buf[at : at + width]
            at += width
        else:
            raise ValueError(f"unsupported wire type {kind}")
        yield number, value


def _text(value: int | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else ""


def _message(value: int | bytes) -> bytes:
    if not isinstance(value, bytes):
        raise ValueError("expected a length-delimited field")
    return value


def _condition(buf: bytes) -> Condition:
    parts: dict[int, int | bytes] = dict(wire_fields(buf))
    return Condition(
        type=_text(parts.get(1, b"")),
        status=bool(parts.get(2, 0)),
        reason=_text(parts.get(3, b"")),
        message=_text(parts.get(4, b"")),
    )


def decode_status_response(buf: bytes) -> Status:
    """Pure. ``StatusResponse`` bytes to a Status."""
    conditions: dict[str, Condition] = {}
    info: dict[str, str] = {}
    for number, value in wire_fields(buf):
        if number == 1:
            for inner, condition in wire_fields(_message(value)):
                if inner == 1:
                    parsed = _condition(_message(condition))
                    conditions[parsed.type] = parsed
        elif number == 2:  # a map entry is a message {key = 1; value = 2}
            entry = dict(wire_fields(_message(value)))
            info[_text(entry.get(1, b""))] = _text(entry.get(2, b""))
    return Status(conditions, info)


class Client:
    """A blocking CRI client on a unix socket (call it from a thread in async code)."""

    def __init__(self, socket: Path) -> None:
        # grpc rejects "unix://relative": authority-based URIs are not for unix sockets.
        self._channel = grpc.insecure_channel(f"unix://{socket.resolve()}")
        self._api: str | None = None

    def status(self, verbose: bool = True, timeout: float = 5.0) -> Status:
        last: grpc.RpcError | None = None
        for api in [self._api] if self._api else API_VERSIONS:
            call = self._channel.unary_unary(
                f"/{api}.RuntimeService/Status",
                request_serializer=lambda raw: raw,
                response_deserializer=lambda raw: raw,
            )
            try:
                answer: bytes = call(encode_status_request(verbose), timeout=timeout)
            except grpc.RpcError as err:
                if err.code() is grpc.StatusCode.UNIMPLEMENTED:
                    last = err
                    continue
                raise
            self._api = api
            return decode_status_response(answer)
        assert last is not None
        raise last

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
