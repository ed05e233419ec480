"""The CRI v1 messages chainfsm speaks, as protobuf wire bytes, and the values they carry.

Purely computational: requests are encoded to bytes and answers decoded from bytes, with no
protobuf library (the few messages are described here by hand). The field numbers are those of
``k8s.io/cri-api`` ``pkg/apis/runtime/v1/api.proto`` (package ``runtime.v1``):

    StatusRequest            { bool verbose = 1; }
    StatusResponse           { RuntimeStatus status = 1; map<string, string> info = 2; }
    RuntimeStatus            { repeated RuntimeCondition conditions = 1; }
    RuntimeCondition         { string type = 1; bool status = 2; string reason = 3;
                               string message = 4; }
    ListPodSandboxRequest    { PodSandboxFilter filter = 1; }        (sent empty: every sandbox)
    ListPodSandboxResponse   { repeated PodSandbox items = 1; }
    PodSandbox               { string id = 1; PodSandboxMetadata metadata = 2;
                               PodSandboxState state = 3; int64 created_at = 4; }
    PodSandboxMetadata       { string name = 1; string uid = 2; string namespace = 3;
                               uint32 attempt = 4; }
    PodSandboxStatusRequest  { string pod_sandbox_id = 1; bool verbose = 2; }
    PodSandboxStatusResponse { PodSandboxStatus status = 1; map<string, string> info = 2; }
    PodSandboxStatus         { string id = 1; PodSandboxMetadata metadata = 2;
                               PodSandboxState state = 3; int64 created_at = 4;
                               LinuxPodSandboxStatus linux = 6; }
    LinuxPodSandboxStatus    { Namespace namespaces = 1; }
    Namespace                { NamespaceOption options = 2; }
    NamespaceOption          { NamespaceMode network = 1; }
    StopPodSandboxRequest    { string pod_sandbox_id = 1; }
    StopPodSandboxResponse   { }

Fields not listed are skipped, as protobuf readers do. proto3 leaves out a field at its default
(false, 0, "", the first enum value), so an absent field decodes to that default.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

#: The gRPC service every method here belongs to.
SERVICE = "runtime.v1.RuntimeService"

_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5
_EMPTY: Mapping[str, str] = MappingProxyType({})


class MalformedMessage(ValueError):
    """The bytes (or a JSON document inside them) are not the message they should be."""


# --- the wire format -------------------------------------------------------------------------


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


def _key(number: int, kind: int) -> bytes:
    return _encode_varint(number << 3 | kind)


def _encode_string(number: int, text: str) -> bytes:
    """A string field; proto3 leaves out the empty string."""
    if not text:
        return b""
    raw = text.encode()
    return _key(number, _LENGTH) + _encode_varint(len(raw)) + raw


def _encode_bool(number: int, value: bool) -> bytes:
    """A bool field; proto3 leaves out false."""
    return _key(number, _VARINT) + b"\x01" if value else b""


def _decode_varint(buf: bytes, at: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        if at >= len(buf):
            raise MalformedMessage("truncated varint")
        byte = buf[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7
        if shift > 63:
            raise MalformedMessage("varint longer than 10 bytes")


def wire_fields(buf: bytes) -> Iterator[tuple[int, int | bytes]]:
    """The (field number, value) pairs of one message, in order: an int for a varint, bytes
    for a length-delimited or fixed-width field."""
    at = 0
    while at < len(buf):
        key, at = _decode_varint(buf, at)
        number, kind = key >> 3, key & 7
        value: int | bytes
        if kind == _VARINT:
            value, at = _decode_varint(buf, at)
        elif kind == _LENGTH:
            size, at = _decode_varint(buf, at)
            value = buf[at : at + size]
            if len(value) != size:
                raise MalformedMessage(f"field {number} truncated")
            at += size
        elif kind in (_FIXED64, _FIXED32):
            width = 8 if kind == _FIXED64 else 4
            value = buf[at : at + width]
            if len(value) != width:
                raise MalformedMessage(f"field {number} truncated")
            at += width
        else:
            raise MalformedMessage(f"field {number} has wire type {kind}, which CRI never uses")
        if number == 0:
            raise MalformedMessage("field number 0")
        yield number, value


def _message(number: int, value: int | bytes) -> bytes:
    if not isinstance(value, bytes):
        raise MalformedMessage(f"field {number} is a varint where a message belongs")
    return value


def _text(number: int, value: int | bytes) -> str:
    try:
        return _message(number, value).decode()
    except UnicodeDecodeError as err:
        raise MalformedMessage(f"field {number} is not UTF-8") from err


def _int(number: int, value: int | bytes) -> int:
    if not isinstance(value, int):
        raise MalformedMessage(f"field {number} is not a varint")
    return value


def _int64(number: int, value: int | bytes) -> int:
    """An int64: the wire carries it as 64-bit two's complement."""
    raw = _int(number, value) & 0xFFFF_FFFF_FFFF_FFFF
    return raw - (1 << 64) if raw >= 1 << 63 else raw


def _map_entry(value: bytes) -> tuple[str, str]:
    """One entry of a ``map<string, string>``: a message ``{key = 1; value = 2}``."""
    key = text = ""
    for number, inner in wire_fields(value):
        if number == 1:
            key = _text(number, inner)
        elif number == 2:
            text = _text(number, inner)
    return key, text


# --- values ----------------------------------------------------------------------------------


class SandboxState(enum.IntEnum):
    """``PodSandboxState``."""

    READY = 0
    NOTREADY = 1


class NamespaceMode(enum.IntEnum):
    """``NamespaceMode``: a sandbox whose network namespace is ``NODE`` is on the host network
    and never runs CNI."""

    POD = 0
    CONTAINER = 1
    NODE = 2
    TARGET = 3


@dataclass(frozen=True, slots=True)
class Condition:
    """``RuntimeCondition``."""

    type: str
    status: bool = False
    reason: str = ""
    message: str = ""


@dataclass(frozen=True, slots=True)
class CniNetwork:
    """One network of ``cniconfig``'s ``Networks``: the config the runtime loaded."""

    name: str
    cni_version: str
    #: The ``type`` of each plugin, in order.
    plugins: tuple[str, ...]
    #: The loaded file's bytes as the runtime read them (``Config.Source``), as text.
    source: str


@dataclass(frozen=True, slots=True)
class CniConfig:
    """``cniconfig`` of a verbose Status from containerd: what its CRI plugin loaded."""

    plugin_conf_dir: str
    #: Every network in load order; containerd puts its loopback network first.
    networks: tuple[CniNetwork, ...]


@dataclass(frozen=True, slots=True)
class RuntimeStatus:
    """``StatusResponse``: the conditions and (when asked verbose) the ``info`` map."""

    conditions: tuple[Condition, ...]
    info: Mapping[str, str] = field(default_factory=lambda: _EMPTY)

    def condition(self, kind: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == kind), None)

    @property
    def network_ready(self) -> bool:
        found = self.condition("NetworkReady")
        return found is not None and found.status

    @property
    def cni_load_status(self) -> str | None:
        """``lastCNILoadStatus``: "OK" or the error of the runtime's last load of the conf dir;
        None when the runtime does not say (not containerd, or not verbose)."""
        return self.info.get("lastCNILoadStatus")

    def cni_config(self) -> CniConfig | None:
        """The parsed ``cniconfig``, or None when the runtime does not say which config it
        loaded (CRI-O, for one). Raises MalformedMessage when it says so in a shape we cannot
        read."""
        raw = self.info.get("cniconfig")
        return None if raw is None else parse_cni_config(raw)


@dataclass(frozen=True, slots=True)
class Sandbox:
    """``PodSandbox``: one entry of ``ListPodSandbox``."""

    id: str
    name: str
    uid: str
    namespace: str
    state: SandboxState
    #: Unix nanoseconds.
    created_at: int


@dataclass(frozen=True, slots=True)
class SandboxStatus:
    """``PodSandboxStatusResponse``: the status and (when asked verbose) the ``info`` map."""

    sandbox: Sandbox
    #: The network namespace's mode, or None when the runtime gave no Linux namespace options.
    network_mode: NamespaceMode | None
    info: Mapping[str, str] = field(default_factory=lambda: _EMPTY)

    @property
    def host_network(self) -> bool:
        return self.network_mode is NamespaceMode.NODE


# --- requests --------------------------------------------------------------------------------


def encode_status_request(verbose: bool) -> bytes:
    return _encode_bool(1, verbose)


def encode_list_sandboxes_request() -> bytes:
    """No filter: every sandbox the runtime knows, ready or not."""
    return b""


def encode_sandbox_status_request(sandbox_id: str, verbose: bool) -> bytes:
    return _encode_string(1, sandbox_id) + _encode_bool(2, verbose)


def encode_stop_sandbox_request(sandbox_id: str) -> bytes:
    return _encode_string(1, sandbox_id)


# --- answers ---------------------------------------------------------------------------------


def _condition(buf: bytes) -> Condition:
    kind = reason = message = ""
    status = False
    for number, value in wire_fields(buf):
        if number == 1:
            kind = _text(number, value)
        elif number == 2:
            status = bool(_int(number, value))
        elif number == 3:
            reason = _text(number, value)
        elif number == 4:
            message = _text(number, value)
    return Condition(kind, status, reason, message)


def decode_status_response(buf: bytes) -> RuntimeStatus:
    conditions: list[Condition] = []
    info: dict[str, str] = {}
    for number, value in wire_fields(buf):
        if number == 1:
            for inner, condition in wire_fields(_message(number, value)):
                if inner == 1:
                    conditions.append(_condition(_message(inner, condition)))
        elif number == 2:
            key, text = _map_entry(_message(number, value))
            info[key] = text
    return RuntimeStatus(tuple(conditions), MappingProxyType(info))


def _metadata(buf: bytes) -> tuple[str, str, str]:
    name = uid = namespace = ""
    for number, value in wire_fields(buf):
        if number == 1:
            name = _text(number, value)
        elif number == 2:
            uid = _text(number, value)
        elif number == 3:
            namespace = _text(number, value)
    return name, uid, namespace


def _state(number: int, value: int | bytes) -> SandboxState:
    raw = _int(number, value)
    try:
        return SandboxState(raw)
    except ValueError as err:
        raise MalformedMessage(f"sandbox state {raw} is not a PodSandboxState") from err


def _network_mode(linux: bytes) -> NamespaceMode | None:
    """``LinuxPodSandboxStatus`` to the network namespace's mode (namespaces.options.network)."""
    mode: NamespaceMode | None = None
    for number, namespaces in wire_fields(linux):
        if number != 1:
            continue
        for inner, options in wire_fields(_message(number, namespaces)):
            if inner != 2:
                continue
            mode = NamespaceMode.POD  # options present: an absent network field means POD
            for kind, value in wire_fields(_message(inner, options)):
                if kind == 1:
                    raw = _int(kind, value)
                    try:
                        mode = NamespaceMode(raw)
                    except ValueError as err:
                        raise MalformedMessage(
                            f"network namespace mode {raw} is not a NamespaceMode"
                        ) from err
    return mode


def _sandbox(buf: bytes) -> tuple[Sandbox, NamespaceMode | None]:
    """The fields ``PodSandbox`` and ``PodSandboxStatus`` share (1 to 4), plus the latter's
    ``linux`` (6), which a ``PodSandbox`` never has."""
    sandbox_id = ""
    name = uid = namespace = ""
    state = SandboxState.READY
    created_at = 0
    mode: NamespaceMode | None = None
    for number, value in wire_fields(buf):
        if number == 1:
            sandbox_id = _text(number, value)
        elif number == 2:
            name, uid, namespace = _metadata(_message(number, value))
        elif number == 3:
            state = _state(number, value)
        elif number == 4:
            created_at = _int64(number, value)
        elif number == 6:
            mode = _network_mode(_message(number, value))
    if not sandbox_id:
        raise MalformedMessage("a sandbox without an id")
    return Sandbox(sandbox_id, name, uid, namespace, state, created_at), mode


def decode_list_sandboxes_response(buf: bytes) -> tuple[Sandbox, ...]:
    return tuple(
        _sandbox(_message(number, value))[0] for number, value in wire_fields(buf) if number == 1
    )


def decode_sandbox_status_response(buf: bytes) -> SandboxStatus:
    found: tuple[Sandbox, NamespaceMode | None] | None = None
    info: dict[str, str] = {}
    for number, value in wire_fields(buf):
        if number == 1:
            found = _sandbox(_message(number, value))
        elif number == 2:
            key, text = _map_entry(_message(number, value))
            info[key] = text
    if found is None:
        raise MalformedMessage("a PodSandboxStatusResponse without a status")
    sandbox, mode = found
    return SandboxStatus(sandbox, mode, MappingProxyType(info))


# --- cniconfig -------------------------------------------------------------------------------


def _get(obj: Any, key: str, kind: type, where: str) -> Any:
    value = obj.get(key) if isinstance(obj, dict) else None
    if not isinstance(value, kind):
        raise MalformedMessage(f"cniconfig: {where}{key} is not a {kind.__name__}")
    return value


def parse_cni_config(raw: str) -> CniConfig:
    """containerd's ``cniconfig`` (go-cni's ``ConfigResult`` as JSON) to a CniConfig.

    ``Networks`` may be null (nothing loaded); each network's ``Config`` holds ``Name``,
    ``CNIVersion``, ``Plugins`` (each with ``Network.type``) and ``Source``, which Go's JSON
    writes as a string (a ``[]byte`` would be base64; go-cni declares it a string).
    """
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError) as err:
        raise MalformedMessage(f"cniconfig is not JSON: {err}") from err
    try:
        # A \ud800 escape is valid JSON but no text: every later encode of it would raise.
        json.dumps(doc, ensure_ascii=False).encode()
    except (ValueError, RecursionError) as err:
        raise MalformedMessage(f"cniconfig is not text: {err}") from err
    if not isinstance(doc, dict):
        raise MalformedMessage("cniconfig is not a JSON object")
    conf_dir = _get(doc, "PluginConfDir", str, "")
    listed = doc.get("Networks")
    if listed is None:
        listed = []
    if not isinstance(listed, list):
        raise MalformedMessage("cniconfig: Networks is not a list")
    networks = []
    for index, network in enumerate(listed):
        where = f"Networks[{index}]."
        config = _get(network, "Config", dict, where)
        where += "Config."
        plugins = _get(config, "Plugins", list, where) if config.get("Plugins") else []
        types = tuple(
            str(_get(_get(p, "Network", dict, f"{where}Plugins[{i}]."), "type", str, ""))
            for i, p in enumerate(plugins)
        )
        networks.append(
            CniNetwork(
                name=_get(config, "Name", str, where),
                cni_version=str(config.get("CNIVersion") or ""),
                plugins=types,
                source=str(config.get("Source") or ""),
            )
        )
    return CniConfig(conf_dir, tuple(networks))
