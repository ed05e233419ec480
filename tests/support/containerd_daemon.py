"""A private containerd for tests: its own root, state, socket and CNI conf dir.

It runs as root with the CRI plugin on, reads CNI configs from a test's temp dir and runs the
reference plugins, exactly one config (``max_conf_num = 1``), as on a Kubernetes node. It is
stopped by its own process id, never by name.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc

from tests.support import cri_client, gate, sandbox_image
from tests.support.constants import HANG_GUARD

#: Seconds allowed for start-up and for a graceful stop (it takes about 2 s); hang guards only.
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
#: A unix socket path is limited to 108 bytes (sun_path).
SOCKET_PATH_MAX = 107


def require_containerd() -> None:
    """Return when root, ``ip``, the reference plugins and containerd are here; else skip or
    fail (gate.py decides which)."""
    gate.require_cni_plugins("bridge", "host-local", "portmap", "tuning")
    if shutil.which("containerd") is None:
        gate.require_runtime("needs containerd (apt-get install containerd)")


def config_toml(base: Path, conf_dir: Path, bin_dir: Path) -> str:
    """Pure. containerd 1.6's config: everything under ``base``, CRI on, one CNI config."""
    return f"""\
version = 2
root = "{base}/root"
state = "{base}/state"
# Snapshotters we do not use, and tracing: kept out so the log holds only what matters.
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.overlayfs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = "{base}/containerd.sock"

[ttrpc]
  address = "{base}/containerd.sock.ttrpc"

[plugins]
  # Without a path of its own, containerd creates /opt/containerd on the host.
  [plugins."io.containerd.internal.v1.opt"]
    path = "{base}/opt"
  [plugins."io.containerd.grpc.v1.cri"]
    # Both needed for RunPodSandbox on these machines (runc fails without them); the
    # sandbox image is made and imported by support/sandbox_image.py, no registry is reached.
    disable_apparmor = true
    restrict_oom_score_adj = true
    sandbox_image = "{sandbox_image.NAME}"
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "native"
    [plugins."io.containerd.grpc.v1.cri".cni]
      conf_dir = "{conf_dir}"
      bin_dir = "{bin_dir}"
      max_conf_num = 1
"""


def wait_for(what: str, check: Callable[[], bool], timeout: float, pause: float = 0.01) -> None:
    """Poll ``check`` until true; containerd has no push API for these. A hang guard only."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        time.sleep(pause)


class Containerd:
    """One running containerd; ``client`` asks it for its status."""

    def __init__(
        self,
        base: Path,
        conf_dir: Path,
        bin_dir: Path = gate.CNI_BIN_DIR,
        own_netns: bool = False,
    ) -> None:
        self.base = base.resolve()
        self.conf_dir = conf_dir.resolve()
        self.socket = self.base / "containerd.sock"
        if len(os.fsencode(self.socket)) > SOCKET_PATH_MAX:
            raise ValueError(f"{self.socket} is too long for a unix socket")
        self.log = self.base / "containerd.log"
        config = self.base / "config.toml"
        config.write_text(config_toml(self.base, self.conf_dir, bin_dir.resolve()))
        with self.log.open("wb") as log:
            # In a network namespace of its own, the plugins it runs for pod sandboxes (a
            # bridge, veths, addresses) stay out of the host's network.
            unshare = ["unshare", "--net", "--"] if own_netns else []
            self.process = subprocess.Popen(
                [*unshare, "containerd", "--config", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.client = cri_client.Client(self.socket)
        try:
            # Until the socket answers a CRI Status: it appears before CRI is initialised.
            wait_for("containerd's socket", self._serving, START_TIMEOUT)
        except BaseException:
            self.stop()
            raise

    def _serving(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"containerd exited with {self.process.returncode}: {self.tail()}")
        if not self.socket.exists():
            return False
        try:
            self.client.status()
        except grpc.RpcError as err:
            # containerd 1.6 serves its socket before the CRI service has started: until
            # then every CRI call answers UNKNOWN "server is not initialized yet".
            if "not initialized" not in str(err):
                raise
            return False
        return True

    def status(self) -> cri_client.Status:
        return self.client.status(verbose=True)

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM to our own pid, wait for the exit (SIGKILL only if that hangs)."""
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        # The ttrpc socket outlives a graceful stop.
        (self.base / "containerd.sock.ttrpc").unlink(missing_ok=True)


class Sampler:
    """Samples the runtime's status back to back for as long as it runs, keeping every answer,
    so a test can say what containerd *never* reported, not only where it ended up."""

    def __init__(self, containerd: Containerd) -> None:
        self.containerd = containerd
        self.samples: list[cri_client.Status] = []
        self._sampled = asyncio.Event()

    async def run(self) -> None:
        while True:
            status = await asyncio.to_thread(self.containerd.status)
            self.samples.append(status)
            self._sampled.set()
            self._sampled = asyncio.Event()

    async def until(
        self, what: str, check: Callable[[cri_client.Status], bool]
    ) -> cri_client.Status:
        """The first status from now on for which ``check`` holds (containerd has no push API,
        so this is the event to await); fails with the last status seen after HANG_GUARD."""
        seen = len(self.samples)
        try:
            async with asyncio.timeout(HANG_GUARD):
                while True:
                    for status in self.samples[seen:]:
                        if check(status):
                            return status
                    seen = len(self.samples)
                    await self._sampled.wait()
        except TimeoutError:
            last = self.samples[-1].describe() if self.samples else "no answer at all"
            raise AssertionError(f"containerd never reported {what}; last: {last}") from None


@contextlib.asynccontextmanager
async def sampling(containerd: Containerd) -> AsyncIterator[Sampler]:
    sampler = Sampler(containerd)
    task = asyncio.create_task(sampler.run(), name="cri-sampler")
    try:
        await sampler.until("any status", lambda _: True)
        yield sampler
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
