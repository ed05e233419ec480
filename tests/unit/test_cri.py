"""The test support's CRI client on its own (no runtime needed): its view of a Status over the
product's codec, and the RunPodSandbox request only it sends."""

from __future__ import annotations

import json

import pytest

from chainfsm.core import cri_messages
from chainfsm.core.cri_messages import MalformedMessage, NamespaceMode
from tests.support import cri_client
from tests.support.cri_wire import entry, status_response


def view(raw: bytes) -> cri_client.Status:
    return cri_client.Status.of(cri_messages.decode_status_response(raw))


def test_a_not_ready_answer_decodes_with_its_load_error() -> None:
    loaded = {
        "PluginConfDir": "/d",
        "Networks": [{"Config": {"Name": "testnet", "Plugins": [{"Network": {"type": "bridge"}}]}}],
    }
    error = (
        "cni config load failed: failed to load CNI config list file /d/05-antrea.conflist: x" * 3
    )
    raw = status_response(
        False, {"lastCNILoadStatus": error, "cniconfig": json.dumps(loaded)}, "NotInit"
    )
    status = view(raw)
    assert status.conditions["RuntimeReady"].status
    assert not status.network_ready
    assert status.conditions["NetworkReady"].reason == "NotInit"
    assert status.cni_load_status == error
    assert status.networks == [("testnet", ["bridge"])]
    assert "NetworkReady=False reason='NotInit'" in status.describe()


def test_a_ready_answer_and_an_empty_one() -> None:
    assert view(status_response(True)).network_ready
    empty = view(b"")
    assert (empty.conditions, empty.networks, empty.cni_load_status) == ({}, [], "")


def test_truncated_bytes_are_an_error_not_a_wrong_answer() -> None:
    raw = status_response(True) + entry(2, "cniconfig", "{}")
    with pytest.raises(MalformedMessage, match="truncated"):
        view(raw[:-3])


@pytest.mark.parametrize(
    ("host_network", "mode", "hostname"),
    [(False, NamespaceMode.POD, b"web"), (True, NamespaceMode.NODE, None)],
)
def test_run_pod_sandbox_asks_for_the_pods_network_namespace_or_the_nodes(
    host_network: bool, mode: NamespaceMode, hostname: bytes | None
) -> None:
    raw = cri_client.encode_run_pod_sandbox_request("web", "shop", "u-1", host_network)

    def fields(buf: object) -> dict[int, int | bytes]:
        assert isinstance(buf, bytes)
        return dict(cri_messages.wire_fields(buf))

    config = fields(fields(raw)[1])
    assert fields(config[1]) == {1: b"web", 2: b"u-1", 3: b"shop"}
    assert config.get(2) == hostname
    options = fields(fields(fields(config[8])[2])[1])
    assert options == {1: mode}
