"""Stand-in CNI plugins for a bin dir: tiny shell scripts that answer VERSION as the reference
plugins do, so any machine can play a node's /opt/cni/bin."""

from __future__ import annotations

import json
from pathlib import Path

#: What the reference plugins 1.1.1 answer for most plugins.
SPEC = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"]


def plugin_script(bin_dir: Path, name: str, body: str) -> Path:
    """An executable plugin made of a shell script, renamed into place complete."""
    staged = bin_dir / f".{name}.staged"
    staged.write_text(f"#!/bin/sh\n{body}\n")
    staged.chmod(0o755)
    staged.replace(bin_dir / name)
    return bin_dir / name


def answering(versions: list[str], count_in: Path | None = None) -> str:
    """A plugin body that answers VERSION with ``versions`` (and counts its calls)."""
    reply = json.dumps({"cniVersion": versions[-1], "supportedVersions": versions})
    counting = f'echo x >> "{count_in}"\n' if count_in else ""
    return f"{counting}cat > /dev/null\nprintf '%s' '{reply}'"


def install(bin_dir: Path, *names: str) -> Path:
    """``bin_dir`` (made if missing) with a VERSION-answering plugin for each name."""
    bin_dir.mkdir(exist_ok=True)
    for name in names:
        plugin_script(bin_dir, name, answering(SPEC))
    return bin_dir
