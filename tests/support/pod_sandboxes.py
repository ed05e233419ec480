"""Real pod sandboxes in the private containerd, and the oracle of which went through the chain.

The primary is the reference ``bridge`` with ``host-local`` in a private subnet; the chained
plugin is a stub in the bin dir that appends ``$CNI_COMMAND $CNI_CONTAINERID`` to a log and, for
ADD, hands its ``prevResult`` back. The stub's log says, for each sandbox, whether the runtime
ran it through the chain: a sandbox id that never reached the stub's ADD was networked without
it. containerd runs in a network namespace of its own (``unshare --net``), so the bridge, the
veths and the addresses stay out of the host's network.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from chainfsm.core import cri_messages
from tests.support import cri_client, gate, sandbox_image
from tests.support.containerd_daemon import Containerd, require_containerd

#: The chained plugin's type (its binary's name in the bin dir).
STUB = "chainstub"
#: The reference plugins the primary and containerd itself (loopback) run.
REFERENCE = ("bridge", "host-local", "loopback")
#: The primary's file name and its list: a private subnet, inside containerd's own netns.
PRIMARY_NAME = "10-podnet.conflist"
PRIMARY: dict[str, Any] = {
    "cniVersion": "1.0.0",
    "name": "podnet",
    "plugins": [
        {
            "type": "bridge",
            "bridge": "cfsmpods0",
            "isGateway": True,
            "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.244.9.0/24"}]]},
        }
    ],
}


def primary_bytes(ipam_dir: Path) -> bytes:
    """The primary with host-local's leases under ``ipam_dir`` (not the host's
    /var/lib/cni/networks), so nothing of a run outlives it."""
    plugin = dict(PRIMARY["plugins"][0])
    plugin["ipam"] = {**plugin["ipam"], "dataDir": str(ipam_dir)}
    return json.dumps({**PRIMARY, "plugins": [plugin]}, indent=2).encode()


#: The stub, run by the runtime with the suite's own Python (absolute, so no PATH is needed).
STUB_SOURCE = f"""#!{sys.executable}
# The chained plugin of the pod tests: logs every command with the container id, and for ADD
# passes the primary's result on, in the list's cniVersion.
import json, os, sys
command = os.environ.get("CNI_COMMAND", "")
with open(os.path.join(os.path.dirname(os.path.realpath(__file__)), "stub.log"), "a") as log:
    log.write(f"{{command}} {{os.environ.get('CNI_CONTAINERID', '')}}\\n")
conf = json.load(sys.stdin) if command in ("ADD", "DEL", "CHECK") else {{}}
if command == "VERSION":
    print(json.dumps({{"cniVersion": "1.0.0",
                      "supportedVersions": ["0.3.0", "0.3.1", "0.4.0", "1.0.0"]}}))
elif command == "ADD":
    result = dict(conf.get("prevResult") or {{}})
    result["cniVersion"] = conf["cniVersion"]
    print(json.dumps(result))
"""


def require_pods() -> None:
    """Return when containerd, the reference plugins, ``unshare``, ``ctr`` and a static busybox
    are here; else skip or fail (gate.py decides which)."""
    require_containerd()
    gate.require_cni_plugins(*REFERENCE)
    gate.need(shutil.which("unshare"), "needs util-linux's unshare")
    gate.need(shutil.which("ctr"), "needs containerd's ctr")
    gate.require_static_busybox()


def make_bin_dir(path: Path) -> Path:
    """The runtime's bin dir: the reference plugins (links) and the stub."""
    path.mkdir(parents=True, exist_ok=True)
    for name in REFERENCE:
        (path / name).symlink_to(gate.CNI_BIN_DIR / name)
    stub = path / STUB
    stub.write_text(STUB_SOURCE)
    stub.chmod(0o755)
    return path


class Pods:
    """A private containerd that runs pod sandboxes, and the stub's log as the oracle."""

    def __init__(self, base: Path) -> None:
        self.bin_dir = make_bin_dir(base / "bin")
        self.stub_log = self.bin_dir / "stub.log"
        self.conf_dir = base / "net.d"
        self.conf_dir.mkdir()
        self.primary_bytes = primary_bytes(base / "ipam")
        self.containerd = Containerd(base, self.conf_dir, self.bin_dir, own_netns=True)
        self.created: list[str] = []
        try:
            sandbox_image.import_into(self.containerd.socket, base, "native")
        except BaseException:
            self.containerd.stop()
            raise

    @property
    def socket(self) -> Path:
        return self.containerd.socket

    @property
    def client(self) -> cri_client.Client:
        return self.containerd.client

    def run(self, name: str, namespace: str = "default", host_network: bool = False) -> str:
        """A sandbox, as the kubelet would ask for a pod (a fresh uid each time); its id."""
        sandbox_id = self.client.run_pod_sandbox(name, namespace, str(uuid.uuid4()), host_network)
        self.created.append(sandbox_id)
        return sandbox_id

    def chained(self) -> set[str]:
        """The sandbox ids the stub saw an ADD for: exactly those networked through the chain."""
        if not self.stub_log.exists():
            return set()
        lines = self.stub_log.read_text().splitlines()
        return {line.split(" ", 1)[1] for line in lines if line.startswith("ADD ")}

    def ready(self) -> set[str]:
        listed = self.client.list_pod_sandboxes()
        return {s.id for s in listed if s.state is cri_messages.SandboxState.READY}

    def remove_all(self) -> None:
        """Stop and remove every sandbox the runtime holds: their shims outlive containerd."""
        for sandbox in self.client.list_pod_sandboxes():
            self.client.stop_pod_sandbox(sandbox.id)
            self.client.remove_pod_sandbox(sandbox.id)

    def stop(self) -> None:
        try:
            self.remove_all()
        finally:
            self.containerd.stop()


@contextlib.contextmanager
def running_pods(base: Path) -> Iterator[Pods]:
    require_pods()
    pods = Pods(base)
    try:
        yield pods
    finally:
        pods.stop()
