"""Protobuf wire bytes written out by hand, for CRI answers in tests (no protobuf library).

Independent of the product's codec (chainfsm/core/cri_messages.py): a test that compares the
two compares two readings of api.proto.
"""

from __future__ import annotations

import json
from collections.abc import Mapping


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def field(number: int, value: int | str | bytes) -> bytes:
    """One field: an int as a varint, text and bytes length-delimited."""
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    raw = value.encode() if isinstance(value, str) else value
    return varint(number << 3 | 2) + varint(len(raw)) + raw


def entry(number: int, key: str, value: str) -> bytes:
    """One entry of a ``map<string, string>`` field."""
    return field(number, field(1, key) + field(2, value))


def status_response(
    network_ready: bool, info: Mapping[str, str] | None = None, reason: str = ""
) -> bytes:
    """``StatusResponse``: RuntimeReady, NetworkReady as given, and the ``info`` map."""
    network = field(1, "NetworkReady") + field(2, int(network_ready)) + field(3, reason)
    conditions = field(1, field(1, "RuntimeReady") + field(2, 1)) + field(1, network)
    return field(1, conditions) + b"".join(entry(2, k, v) for k, v in (info or {}).items())


def cniconfig(conf_dir: str, name: str, types: list[str], source: bytes) -> str:
    """containerd's ``cniconfig``: its loopback network, then the one loaded from ``conf_dir``."""
    loopback = {
        "Name": "cni-loopback",
        "CNIVersion": "0.3.1",
        "Plugins": [{"Network": {"type": "loopback"}}],
        "Source": "{}",
    }
    loaded = {
        "Name": name,
        "CNIVersion": "1.0.0",
        "Plugins": [{"Network": {"type": t}, "Source": "{}"} for t in types],
        "Source": source.decode(),
    }
    return json.dumps(
        {
            "PluginDirs": ["/opt/cni/bin"],
            "PluginConfDir": conf_dir,
            "Prefix": "eth",
            "Networks": [
                {"Config": loopback, "IFName": "lo"},
                {"Config": loaded, "IFName": "eth0"},
            ],
        }
    )
