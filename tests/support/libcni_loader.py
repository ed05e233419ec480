"""The runtime's own loader as a test oracle: containerd's go-cni and libcni, built from Debian's
source, judging conf dirs.

``tests/support/cnioracle/main.go`` loads a directory exactly as containerd's CRI plugin does
(go-cni's ``Load(WithLoNetwork, WithDefaultConf)`` with ``max_conf_num = 1``: libcni's
``ConfFiles``, then ``ConfListFromFile``, or ``ConfFromFile`` and ``ConfListFromConf``; the
first file wins). It is built once per test session into a temp dir, offline: GOPATH mode over
Debian's
``/usr/share/gocode`` (``golang-github-containerd-go-cni-dev``,
``golang-github-containernetworking-cni-dev``, i.e. libcni 1.1.2 on Debian 12, the very sources
Debian's containerd 1.6 is built from), no module downloads. One process judges many dirs.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

SOURCE = Path(__file__).parent / "cnioracle" / "main.go"
GOPATH = Path("/usr/share/gocode")
#: The packages whose sources the oracle is built from, and what installs them.
SOURCES = {
    GOPATH / "src/github.com/containerd/go-cni": "golang-github-containerd-go-cni-dev",
    GOPATH / "src/github.com/containernetworking/cni/libcni": (
        "golang-github-containernetworking-cni-dev"
    ),
}


@dataclass(frozen=True, slots=True)
class Loaded:
    """The runtime's verdict on one conf dir: the list it loads, or its error."""

    ok: bool
    error: str = ""
    #: The file it loaded (the first in byte order), as the file system's bytes.
    first: bytes = b""
    name: str = ""
    cni_version: str = ""
    #: Each plugin as Go decoded it: ``type``, ``name``, ``cniVersion`` and ``source`` (the
    #: bytes libcni hands the plugin, re-encoded by Go).
    plugins: list[dict[str, str]] = field(default_factory=list)

    @property
    def plugin_types(self) -> tuple[str, ...]:
        return tuple(p["type"] for p in self.plugins)

    def plugin_documents(self) -> list[Any]:
        return [json.loads(p["source"]) for p in self.plugins]


def missing() -> str | None:
    """Why the oracle cannot be built here, or None."""
    if shutil.which("go") is None:
        return "needs the Go toolchain to build the libcni oracle (apt-get install golang-go)"
    for path, package in SOURCES.items():
        if not path.is_dir():
            return f"needs {path} to build the libcni oracle (apt-get install {package})"
    return None


def build(workdir: Path) -> Path:
    """Compile the oracle into ``workdir``; offline, from Debian's sources only."""
    binary = workdir / "cnioracle"
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": str(GOPATH),
        "GOCACHE": str(workdir / "gocache"),
        "GOFLAGS": "",
        "GOPROXY": "off",
        "GOTOOLCHAIN": "local",
        "CGO_ENABLED": "0",
    }
    built = subprocess.run(
        ["go", "build", "-o", str(binary), str(SOURCE)],
        cwd=workdir,
        env=env,
        check=False,
        capture_output=True,
        text=True,
    )
    if built.returncode != 0:
        raise RuntimeError(f"go build of the libcni oracle failed: {built.stderr.strip()}")
    return binary


class Oracle:
    """One running oracle process; ``load`` asks it about one directory."""

    def __init__(self, binary: Path) -> None:
        self._process = subprocess.Popen(
            [str(binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._in: IO[bytes] = self._process.stdin
        self._out: IO[bytes] = self._process.stdout

    def load(self, conf_dir: Path) -> Loaded:
        self._in.write(json.dumps({"dir": str(conf_dir)}).encode() + b"\n")
        self._in.flush()
        line = self._out.readline()
        assert line, f"the libcni oracle exited ({self._process.poll()})"
        answer = json.loads(line)
        if not answer["ok"]:
            return Loaded(ok=False, error=answer["error"])
        return Loaded(
            ok=True,
            first=base64.b64decode(answer["first"]),
            name=answer["name"],
            cni_version=answer["cniVersion"],
            plugins=answer["plugins"],
        )

    def close(self) -> None:
        self._in.close()
        self._process.wait(timeout=30)
