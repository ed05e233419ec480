"""The sandbox ("pause") image for the private containerd, made here: no registry is reachable.

One layer holding Debian's static busybox as ``/busybox``, entrypoint ``busybox sleep`` for as
long as a sandbox lives, written as an OCI image layout in a tar archive (what ``ctr images
import`` reads), in Python so no image builder is needed.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path
from typing import Any

from tests.support import gate

#: The name the CRI plugin's ``sandbox_image`` refers to; a registry that cannot exist.
NAME = "chainfsm.invalid/sandbox:1"
ENTRYPOINT = ["/busybox", "sleep", "2147483647"]

_LAYER = "application/vnd.oci.image.layer.v1.tar"
_CONFIG = "application/vnd.oci.image.config.v1+json"
_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
_INDEX = "application/vnd.oci.image.index.v1+json"


def _tar_bytes(members: dict[str, tuple[bytes, int]]) -> bytes:
    """Pure. A deterministic tar of ``name -> (bytes, mode)``, owned by root, at time 0."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, (data, mode) in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _descriptor(media_type: str, blob: bytes, **extra: Any) -> dict[str, Any]:
    return {
        "mediaType": media_type,
        "digest": f"sha256:{hashlib.sha256(blob).hexdigest()}",
        "size": len(blob),
        **extra,
    }


def oci_archive(busybox: bytes, name: str = NAME) -> bytes:
    """Pure. The image as an OCI layout tar: ``oci-layout``, ``index.json`` and the blobs."""
    layer = _tar_bytes({"busybox": (busybox, 0o755)})
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Entrypoint": ENTRYPOINT},
            "rootfs": {
                "type": "layers",
                "diff_ids": [f"sha256:{hashlib.sha256(layer).hexdigest()}"],
            },
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": _MANIFEST,
            "config": _descriptor(_CONFIG, config),
            "layers": [_descriptor(_LAYER, layer)],
        }
    ).encode()
    tag = name.rsplit(":", 1)[1]
    index = {
        "schemaVersion": 2,
        "mediaType": _INDEX,
        "manifests": [
            _descriptor(
                _MANIFEST,
                manifest,
                platform={"architecture": "amd64", "os": "linux"},
                annotations={
                    # containerd names the image by this one; other tools by the ref name.
                    "io.containerd.image.name": name,
                    "org.opencontainers.image.ref.name": tag,
                },
            )
        ],
    }
    members = {
        "oci-layout": (b'{"imageLayoutVersion": "1.0.0"}', 0o644),
        "index.json": (json.dumps(index).encode(), 0o644),
    }
    for blob in (layer, config, manifest):
        members[f"blobs/sha256/{hashlib.sha256(blob).hexdigest()}"] = (blob, 0o644)
    return _tar_bytes(members)


def import_into(socket: Path, workdir: Path, snapshotter: str) -> str:
    """Write the archive under ``workdir`` and import it into the containerd on ``socket``, in
    the CRI's namespace, unpacked for ``snapshotter``. Returns the image's name."""
    archive = workdir / "sandbox-image.tar"
    archive.write_bytes(oci_archive(gate.BUSYBOX.read_bytes()))
    ctr = ["ctr", "-a", str(socket), "-n", "k8s.io"]
    subprocess.run(
        [*ctr, "images", "import", "--snapshotter", snapshotter, str(archive)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return NAME
