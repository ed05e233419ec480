"""The product's CRI client against a real containerd: what it decodes is what the runtime says.

The test support's grpcio client (tests/support/cri_client.py) reads the same answers over
another gRPC library (with the same codec: what is checked here is the runtime's own answer).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from chainfsm.edge.cri import CriClient, CriError
from tests.support.constants import HANG_GUARD
from tests.support.containerd_daemon import Containerd, require_containerd, wait_for

PRIMARY = {
    "cniVersion": "0.4.0",
    "name": "cri-client-test",
    "plugins": [
        {
            "type": "bridge",
            "bridge": "crict0",
            "ipam": {"type": "host-local", "subnet": "198.18.9.0/24"},
        },
        {"type": "portmap", "capabilities": {"portMappings": True}},
    ],
}


@pytest.fixture(scope="module")
def containerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Containerd]:
    require_containerd()
    base = tmp_path_factory.mktemp("ctd")
    (base / "net.d").mkdir()
    (base / "net.d" / "10-primary.conflist").write_text(json.dumps(PRIMARY))
    runtime = Containerd(base, base / "net.d")
    try:
        wait_for("NetworkReady", lambda: runtime.status().network_ready, HANG_GUARD)
        yield runtime
    finally:
        runtime.stop()


async def test_status_says_what_containerd_loaded_from_which_dir(containerd: Containerd) -> None:
    async with CriClient(containerd.socket) as client:
        status = await client.status()
    other = containerd.status()  # the test support's own reading, over grpcio
    assert status.network_ready is other.network_ready is True
    assert status.cni_load_status == other.cni_load_status == "OK"
    loaded = status.cni_config()
    assert loaded is not None
    assert Path(loaded.plugin_conf_dir) == containerd.conf_dir
    assert [(n.name, n.plugins) for n in loaded.networks] == [
        ("cni-loopback", ("loopback",)),
        (PRIMARY["name"], ("bridge", "portmap")),
    ]
    assert other.networks == [(n.name, list(n.plugins)) for n in loaded.networks]
    assert loaded.networks[-1].plugins == ("bridge", "portmap")
    assert json.loads(loaded.networks[-1].source) == PRIMARY


async def test_no_sandboxes_yet_and_an_unknown_one_is_one_line(containerd: Containerd) -> None:
    async with CriClient(containerd.socket) as client:
        assert await client.list_sandboxes() == ()
        with pytest.raises(CriError) as err:
            await client.sandbox_status("0" * 64)
        with pytest.raises(CriError) as stop_err:
            await client.stop_sandbox("0" * 64)
    assert err.value.status == stop_err.value.status == "NOT_FOUND"
    for text in (str(err.value), str(stop_err.value)):
        assert "\n" not in text
        assert f"at {containerd.socket}: NOT_FOUND: " in text
