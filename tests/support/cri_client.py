"""A CRI ``RuntimeService`` client: the container runtime's own verdict on the network, and the
pod sandboxes a test runs (the product never creates or removes one).

The few CRI messages needed are described here by hand instead of vendoring the CRI protos:

    StatusRequest    { bool verbose = 1; }
    StatusResponse   { RuntimeStatus status = 1; map<string, string> info = 2; }
    RuntimeStatus    { repeated RuntimeCondition conditions = 1; }
    RuntimeCondition { string type = 1; bool status = 2; string reason = 3; string message = 4; }

    RunPodSandboxRequest  { PodSandboxConfig config = 1; }  -> { string pod_sandbox_id = 1; }
    PodSandboxConfig      { PodSandboxMetadata metadata = 1; string hostname = 2;
                            LinuxPodSandboxConfig linux = 8; }
    PodSandboxMetadata    { string name = 1; string uid = 2; string namespace = 3; }
    LinuxPodSandboxConfig { LinuxSandboxSecurityContext security_context = 2; }
    LinuxSandboxSecurityContext { NamespaceOption namespace_options = 1; }
    NamespaceOption       { NamespaceMode network = 1; }   (POD = 0, NODE = 2)
    Stop/RemovePodSandboxRequest { string pod_sandbox_id = 1; }
    ListPodSandboxResponse { repeated PodSandbox items = 1; }
    PodSandbox            { string id = 1; PodSandboxMetadata metadata = 2; PodSandboxState
                            state = 3; int64 created_at = 4; }   (SANDBOX_READY = 0)

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


#: NamespaceMode values, and PodSandboxState's ready.
NAMESPACE_POD, NAMESPACE_NODE = 0, 2
SANDBOX_READY = 0


@dataclass(frozen=True, slots=True)
class Sandbox:
    """One item of ``ListPodSandbox``."""

    id: str
    name: str
    namespace: str
    ready: bool
    created_at: int


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _field(number: int, value: int | bytes | str) -> bytes:
    """Pure. One field on the wire: an int as a varint, text or bytes length-delimited."""
    if isinstance(value, int):
        return _encode_varint(number << 3 | _VARINT) + _encode_varint(value)
    raw = value.encode() if isinstance(value, str) else value
    return _encode_varint(number << 3 | _LENGTH) + _encode_varint(len(raw)) + raw


def encode_run_pod_sandbox_request(
    name: str, namespace: str, uid: str, host_network: bool = False
) -> bytes:
    """Pure. ``RunPodSandboxRequest`` for a sandbox in the pod's own network namespace, or in
    the node's (``host_network``), as the kubelet asks for a pod with ``hostNetwork: true``."""
    metadata = _field(1, name) + _field(2, uid) + _field(3, namespace)
    mode = _field(1, NAMESPACE_NODE if host_network else NAMESPACE_POD)
    linux = _field(2, _field(1, mode))
    # The kubelet sets no hostname for a host-network pod (runc refuses one without its own UTS).
    hostname = b"" if host_network else _field(2, name)
    config = _field(1, metadata) + hostname + _field(8, linux)
    return _field(1, config)


def encode_sandbox_id_request(sandbox_id: str, verbose: bool = False) -> bytes:
    """Pure. Stop/Remove/PodSandboxStatus requests: the id, and ``verbose`` (field 2)."""
    return _field(1, sandbox_id) + (_field(2, 1) if verbose else b"")


def _metadata(buf: bytes) -> tuple[str, str]:
    parts = dict(wire_fields(buf))
    return _text(parts.get(1, b"")), _text(parts.get(3, b""))


def _sandbox(buf: bytes) -> Sandbox:
    parts = dict(wire_fields(buf))
    name, namespace = _metadata(_message(parts.get(2, b"")))
    state, created = parts.get(3, SANDBOX_READY), parts.get(4, 0)
    return Sandbox(
        id=_text(parts.get(1, b"")),
        name=name,
        namespace=namespace,
        ready=state == SANDBOX_READY,
        created_at=created if isinstance(created, int) else 0,
    )


def decode_list_pod_sandbox_response(buf: bytes) -> list[Sandbox]:
    """Pure. ``ListPodSandboxResponse`` bytes to its sandboxes."""
    return [_sandbox(_message(value)) for number, value in wire_fields(buf) if number == 1]


def decode_pod_sandbox_status_network(buf: bytes) -> int:
    """Pure. The network NamespaceMode of a ``PodSandboxStatusResponse`` (status.linux.
    namespaces.options.network; absent = POD)."""
    path = (1, 6, 1, 2)  # status, linux, namespaces, options
    current = buf
    for number in path:
        found = dict(wire_fields(current)).get(number, b"")
        current = _message(found)
    mode = dict(wire_fields(current)).get(1, NAMESPACE_POD)
    return mode if isinstance(mode, int) else NAMESPACE_POD


def _raw(data: bytes) -> bytes:
    return data


class Client:
    """A blocking CRI client on a unix socket (call it from a thread in async code)."""

    def __init__(self, socket: Path) -> None:
        # grpc rejects "unix://relative": authority-based URIs are not for unix sockets.
        self._channel = grpc.insecure_channel(f"unix://{socket.resolve()}")
        self._api: str | None = None

    def _call(self, method: str, request: bytes, timeout: float) -> bytes:
        """One RuntimeService call, on the first CRI version the runtime serves."""
        last: grpc.RpcError | None = None
        for api in [self._api] if self._api else API_VERSIONS:
            call = self._channel.unary_unary(
                f"/{api}.RuntimeService/{method}",
                request_serializer=_raw,
                response_deserializer=_raw,
            )
            try:
                answer: bytes = call(request, timeout=timeout)
            except grpc.RpcError as err:
                if err.code() is grpc.StatusCode.UNIMPLEMENTED:
                    last = err
                    continue
                raise
            self._api = api
            return answer
        assert last is not None
        raise last

    def status(self, verbose: bool = True, timeout: float = 5.0) -> Status:
        return decode_status_response(self._call("Status", encode_status_request(verbose), timeout))

    def run_pod_sandbox(
        self, name: str, namespace: str, uid: str, host_network: bool = False
    ) -> str:
        """Runs a sandbox through the CNI config the runtime has loaded; returns its id.
        A hang guard of a minute: the first run unpacks the image."""
        request = encode_run_pod_sandbox_request(name, namespace, uid, host_network)
        answer = dict(wire_fields(self._call("RunPodSandbox", request, 60.0)))
        return _text(answer.get(1, b""))

    def stop_pod_sandbox(self, sandbox_id: str) -> None:
        self._call("StopPodSandbox", encode_sandbox_id_request(sandbox_id), 60.0)

    def remove_pod_sandbox(self, sandbox_id: str) -> None:
        self._call("RemovePodSandbox", encode_sandbox_id_request(sandbox_id), 60.0)

    def list_pod_sandboxes(self) -> list[Sandbox]:
        return decode_list_pod_sandbox_response(self._call("ListPodSandbox", b"", 5.0))

    def sandbox_network_mode(self, sandbox_id: str) -> int:
        request = encode_sandbox_id_request(sandbox_id, verbose=True)
        return decode_pod_sandbox_status_network(self._call("PodSandboxStatus", request, 5.0))

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
