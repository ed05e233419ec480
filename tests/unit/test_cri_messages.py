"""The CRI v1 codec on bytes: requests as the runtime expects them, answers as runtimes send them.

The expected bytes are written out with the tests' own encoder (support/cri_wire.py), from the
field numbers of k8s.io/cri-api's api.proto, and one answer is a real containerd 1.6 capture.
"""

from __future__ import annotations

import json

import pytest

from chainfsm.core import cri_messages
from chainfsm.core.cri_messages import (
    CniConfig,
    CniNetwork,
    Condition,
    MalformedMessage,
    NamespaceMode,
    Sandbox,
    SandboxState,
)
from tests.support.constants import TESTDATA
from tests.support.cri_wire import entry, field, varint

CRI_DATA = TESTDATA / "cri"


def metadata(name: str, uid: str, namespace: str, attempt: int = 0) -> bytes:
    return field(1, name) + field(2, uid) + field(3, namespace) + field(4, attempt)


# --- requests --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoded", "expected"),
    [
        (cri_messages.encode_status_request(verbose=True), field(1, 1)),
        (cri_messages.encode_status_request(verbose=False), b""),
        (cri_messages.encode_list_sandboxes_request(), b""),
        (
            cri_messages.encode_sandbox_status_request("abc123", verbose=True),
            field(1, "abc123") + field(2, 1),
        ),
        (cri_messages.encode_sandbox_status_request("abc123", verbose=False), field(1, "abc123")),
        (cri_messages.encode_stop_sandbox_request("f" * 64), field(1, "f" * 64)),
        # A length past 127 takes a two-byte varint.
        (cri_messages.encode_stop_sandbox_request("x" * 200), field(1, "x" * 200)),
    ],
)
def test_requests_encode_to_the_fields_of_api_proto(encoded: bytes, expected: bytes) -> None:
    assert encoded == expected


# --- Status ----------------------------------------------------------------------------------


def test_a_real_containerd_status_decodes_to_its_conditions_and_loaded_config() -> None:
    status = cri_messages.decode_status_response(
        (CRI_DATA / "status-containerd-1.6.bin").read_bytes()
    )
    assert status.conditions == (
        Condition("RuntimeReady", True),
        Condition("NetworkReady", True),
    )
    assert status.network_ready
    assert status.cni_load_status == "OK"
    loaded = status.cni_config()
    assert loaded is not None
    assert loaded.plugin_conf_dir.endswith("/net.d")
    assert [(n.name, n.plugins) for n in loaded.networks] == [
        ("cni-loopback", ("loopback",)),
        ("br", ("bridge", "portmap")),
    ]
    assert json.loads(loaded.networks[1].source)["name"] == "br"
    assert loaded.networks[1].cni_version == "0.4.0"


def test_a_status_not_ready_carries_the_reason_and_message() -> None:
    condition = field(1, "NetworkReady") + field(3, "NetworkPluginNotReady")
    condition += field(4, "cni plugin not initialized")
    buf = field(1, field(1, field(1, "RuntimeReady") + field(2, 1)) + field(1, condition))
    buf += entry(2, "lastCNILoadStatus", "cni config load failed: bad")
    status = cri_messages.decode_status_response(buf)
    assert not status.network_ready
    assert status.condition("NetworkReady") == Condition(
        "NetworkReady", False, "NetworkPluginNotReady", "cni plugin not initialized"
    )
    assert status.cni_load_status == "cni config load failed: bad"
    assert status.cni_config() is None


def test_a_runtime_that_does_not_say_what_it_loaded_has_no_cni_config() -> None:
    buf = field(1, field(1, field(1, "NetworkReady") + field(2, 1)))
    buf += entry(2, "config", "{}")  # CRI-O's info holds no cniconfig
    status = cri_messages.decode_status_response(buf)
    assert status.network_ready
    assert status.cni_load_status is None
    assert status.cni_config() is None


def test_unknown_fields_are_skipped_as_protobuf_readers_do() -> None:
    # runtime_handlers (3) and features (4) of newer runtimes; a fixed64 and fixed32 too.
    extra = field(3, field(1, "runc")) + field(4, field(1, 1))
    extra += varint(5 << 3 | 1) + b"\x00" * 8 + varint(6 << 3 | 5) + b"\x00" * 4
    buf = field(1, field(1, field(1, "NetworkReady") + field(2, 1))) + extra
    assert cri_messages.decode_status_response(buf).network_ready


# --- cniconfig -------------------------------------------------------------------------------


def cniconfig(*networks: object, conf_dir: str = "/etc/cni/net.d") -> str:
    return json.dumps(
        {"PluginDirs": ["/opt/cni/bin"], "PluginConfDir": conf_dir, "Networks": networks}
    )


def network(
    name: str, *types: str, source: str = "{}", version: str = "1.0.0"
) -> dict[str, object]:
    plugins = [{"Network": {"type": t}, "Source": "{}"} for t in types]
    return {
        "Config": {"Name": name, "CNIVersion": version, "Plugins": plugins, "Source": source},
        "IFName": "eth0",
    }


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            cniconfig(network("azure", "azure-vnet", "antrea", source='{"a":1}')),
            CniConfig(
                "/etc/cni/net.d",
                (CniNetwork("azure", "1.0.0", ("azure-vnet", "antrea"), '{"a":1}'),),
            ),
        ),
        # Nothing loaded: go-cni writes a nil slice as null.
        (
            json.dumps({"PluginConfDir": "/x", "Networks": None}),
            CniConfig("/x", ()),
        ),
        (json.dumps({"PluginConfDir": "/x"}), CniConfig("/x", ())),
        # A config with no plugins at all.
        (
            json.dumps({"PluginConfDir": "/x", "Networks": [{"Config": {"Name": "n"}}]}),
            CniConfig("/x", (CniNetwork("n", "", (), ""),)),
        ),
    ],
)
def test_cniconfig_parses_to_the_conf_dir_and_each_loaded_network(
    raw: str, expected: CniConfig
) -> None:
    assert cri_messages.parse_cni_config(raw) == expected


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("{not json", "not JSON"),
        ("[]", "not a JSON object"),
        (json.dumps({"Networks": []}), "PluginConfDir"),
        (json.dumps({"PluginConfDir": "/x", "Networks": {}}), "Networks is not a list"),
        (json.dumps({"PluginConfDir": "/x", "Networks": [{}]}), "Networks[0].Config"),
        (
            json.dumps({"PluginConfDir": "/x", "Networks": [{"Config": {"Name": 3}}]}),
            "Networks[0].Config.Name",
        ),
        (
            json.dumps(
                {"PluginConfDir": "/x", "Networks": [{"Config": {"Name": "n", "Plugins": [{}]}}]}
            ),
            "Plugins[0].Network",
        ),
        # Valid JSON, but a lone surrogate is no text: comparing Source with our bytes raised.
        (
            '{"PluginConfDir": "/x", "Networks": [{"Config": {"Name": "n", "Source": "\\ud800"}}]}',
            "not text",
        ),
    ],
)
def test_a_cniconfig_we_cannot_read_is_refused_with_where(raw: str, says: str) -> None:
    with pytest.raises(MalformedMessage, match=f"cniconfig.*{says}".replace("[", r"\[")):
        cri_messages.parse_cni_config(raw)


# --- sandboxes -------------------------------------------------------------------------------


def test_list_pod_sandbox_decodes_every_item() -> None:
    ready = field(1, "a" * 64) + field(2, metadata("web-0", "uid-1", "default", attempt=2))
    ready += field(4, 1_733_000_000_123_456_789) + entry(5, "app", "web")
    gone = field(1, "b" * 64) + field(2, metadata("job", "uid-2", "batch")) + field(3, 1)
    gone += field(4, 1_733_000_001_000_000_000) + field(7, "runc")
    sandboxes = cri_messages.decode_list_sandboxes_response(field(1, ready) + field(1, gone))
    assert sandboxes == (
        Sandbox(
            "a" * 64, "web-0", "uid-1", "default", SandboxState.READY, 1_733_000_000_123_456_789
        ),
        Sandbox(
            "b" * 64, "job", "uid-2", "batch", SandboxState.NOTREADY, 1_733_000_001_000_000_000
        ),
    )


def test_no_sandboxes_is_an_empty_answer() -> None:
    assert cri_messages.decode_list_sandboxes_response(b"") == ()


def sandbox_status(linux: bytes | None, info: dict[str, str] | None = None) -> bytes:
    status = field(1, "c" * 64) + field(2, metadata("p", "u", "ns")) + field(4, 5)
    if linux is not None:
        status += field(6, linux)
    return field(1, status) + b"".join(entry(2, k, v) for k, v in (info or {}).items())


def network_option(mode: int | None) -> bytes:
    """``LinuxPodSandboxStatus{namespaces{options{network, pid, ipc}}}``."""
    options = (b"" if mode is None else field(1, mode)) + field(2, 1) + field(3, 0)
    return field(1, field(2, options))


@pytest.mark.parametrize(
    ("linux", "mode"),
    [
        (network_option(2), NamespaceMode.NODE),
        (network_option(0), NamespaceMode.POD),
        # proto3 leaves out POD, the enum's default: options present, network absent.
        (network_option(None), NamespaceMode.POD),
        # No options at all: the runtime did not say (not POD by default).
        (field(1, b""), None),
        (b"", None),
        (None, None),
    ],
)
def test_pod_sandbox_status_reads_the_network_namespace_mode(
    linux: bytes | None, mode: NamespaceMode | None
) -> None:
    status = cri_messages.decode_sandbox_status_response(sandbox_status(linux))
    assert status.network_mode is mode
    assert status.host_network is (mode is NamespaceMode.NODE)
    assert status.sandbox == Sandbox("c" * 64, "p", "u", "ns", SandboxState.READY, 5)


def test_pod_sandbox_status_keeps_the_verbose_info() -> None:
    info = {"info": json.dumps({"cniResult": {"Interfaces": {"eth0": {}}}})}
    status = cri_messages.decode_sandbox_status_response(sandbox_status(network_option(0), info))
    assert json.loads(status.info["info"])["cniResult"]["Interfaces"] == {"eth0": {}}


def test_a_negative_created_at_decodes_as_int64() -> None:
    item = field(1, "d") + field(4, -1)
    (sandbox,) = cri_messages.decode_list_sandboxes_response(field(1, item))
    assert sandbox.created_at == -1


# --- malformed answers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decode", "buf", "says"),
    [
        (cri_messages.decode_status_response, b"\x0a\x05ab", "truncated"),
        (cri_messages.decode_status_response, b"\x80", "truncated varint"),
        (cri_messages.decode_status_response, b"\xff" * 11, "varint longer"),
        (cri_messages.decode_status_response, varint(1 << 3 | 3), "wire type 3"),
        (cri_messages.decode_status_response, varint(1 << 3 | 1) + b"\x00", "truncated"),
        (cri_messages.decode_status_response, field(1, 7), "varint where a message"),
        (cri_messages.decode_status_response, field(0, 1), "field number 0"),
        (cri_messages.decode_list_sandboxes_response, field(1, field(2, b"")), "without an id"),
        (
            cri_messages.decode_list_sandboxes_response,
            field(1, field(1, "e") + field(3, 9)),
            "not a PodSandboxState",
        ),
        (
            cri_messages.decode_sandbox_status_response,
            sandbox_status(network_option(7)),
            "not a NamespaceMode",
        ),
        (cri_messages.decode_sandbox_status_response, b"", "without a status"),
    ],
)
def test_bytes_that_are_not_the_message_are_refused(decode: object, buf: bytes, says: str) -> None:
    assert callable(decode)
    with pytest.raises(MalformedMessage, match=says):
        decode(buf)


def test_text_that_is_not_utf8_is_refused() -> None:
    buf = field(1, field(1, field(1, b"\xff\xfe")))
    with pytest.raises(MalformedMessage, match="not UTF-8"):
        cri_messages.decode_status_response(buf)
