"""The hand-written CRI Status codec against bytes built field by field (no runtime needed)."""

from __future__ import annotations

import json

import pytest

from tests.support import cri_client


def field(number: int, payload: bytes | int) -> bytes:
    """One protobuf field: a varint for a small int, length-delimited for bytes."""
    if isinstance(payload, int):
        return bytes([number << 3 | 0, payload])
    return bytes([number << 3 | 2]) + varint(len(payload)) + payload


def varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def condition(kind: str, status: bool, reason: str = "", message: str = "") -> bytes:
    parts = field(1, kind.encode())
    if status:
        parts += field(2, 1)
    if reason:
        parts += field(3, reason.encode())
    if message:
        parts += field(4, message.encode())
    return parts


def test_a_not_ready_answer_decodes_with_its_load_error() -> None:
    loaded = {
        "Networks": [{"Config": {"Name": "testnet", "Plugins": [{"Network": {"type": "bridge"}}]}}]
    }
    error = (
        "cni config load failed: failed to load CNI config list file /d/05-antrea.conflist: x" * 3
    )
    raw = (
        field(
            1,
            field(1, condition("RuntimeReady", True))
            + field(1, condition("NetworkReady", False, "NetworkPluginNotReady", "not init")),
        )
        + field(2, field(1, b"lastCNILoadStatus") + field(2, error.encode()))
        + field(2, field(1, b"cniconfig") + field(2, json.dumps(loaded).encode()))
    )
    status = cri_client.decode_status_response(raw)
    assert status.conditions["RuntimeReady"].status
    assert not status.network_ready
    assert status.conditions["NetworkReady"].reason == "NetworkPluginNotReady"
    assert status.cni_load_status == error
    assert status.networks == [("testnet", ["bridge"])]


def test_a_ready_answer_and_the_request() -> None:
    raw = field(1, field(1, condition("NetworkReady", True)))
    assert cri_client.decode_status_response(raw).network_ready
    assert cri_client.decode_status_response(b"").conditions == {}
    assert cri_client.encode_status_request(True) == b"\x08\x01"
    assert cri_client.encode_status_request(False) == b""


def test_truncated_bytes_are_an_error_not_a_wrong_answer() -> None:
    raw = field(1, field(1, condition("NetworkReady", True)))
    with pytest.raises(ValueError, match="truncated"):
        cri_client.decode_status_response(raw[:-3])
