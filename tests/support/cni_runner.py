"""Running a CNI network list by hand, the way libcni does (CNI spec, "Network configuration
lists"), with the plugin binaries in a bin dir.

- ADD runs the plugins in order. Each gets the plugin's config with the list's ``name`` and
  ``cniVersion`` injected, and, from the second one on, ``prevResult``: the previous plugin's
  result. The last result is the list's result.
- CHECK runs them in order, each with ``prevResult`` = the list's ADD result.
- DEL runs them in reverse order, each with ``prevResult`` = the list's ADD result (when known),
  and keeps going past failures, reporting them all at the end.

Also the network namespace and link helpers a test needs around that.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NETNS_DIR = Path("/run/netns")


class CniError(Exception):
    """A plugin (or several, for DEL) failed; the message holds the CNI error object."""


@dataclass(frozen=True)
class Attachment:
    """One container's attachment: what libcni puts in the plugins' environment."""

    container_id: str
    netns: Path
    ifname: str = "eth0"


def plugin_stdin(
    network: Mapping[str, Any], plugin: Mapping[str, Any], prev_result: Any = None
) -> dict[str, Any]:
    """A plugin's stdin: its config, the list's name and cniVersion, and the prevResult."""
    conf = dict(plugin)
    conf["name"] = network["name"]
    if "cniVersion" in network:
        conf["cniVersion"] = network["cniVersion"]
    if prev_result is not None:
        conf["prevResult"] = prev_result
    return conf


class CniRunner:
    """Runs a network list's plugins from ``bin_dir`` for one attachment."""

    def __init__(self, bin_dir: Path, attachment: Attachment) -> None:
        self.bin_dir = bin_dir
        self.attachment = attachment

    def run_plugin(self, command: str, conf: Mapping[str, Any]) -> Any:
        """Run one plugin; its parsed stdout (None when empty), or CniError."""
        kind = str(conf["type"])
        env = {
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": self.attachment.container_id,
            "CNI_NETNS": str(self.attachment.netns),
            "CNI_IFNAME": self.attachment.ifname,
            "CNI_PATH": str(self.bin_dir),
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        }
        done = subprocess.run(
            [str(self.bin_dir / kind)],
            input=json.dumps(conf).encode(),
            env=env,
            capture_output=True,
            check=False,
        )
        out = done.stdout.decode(errors="replace").strip()
        if done.returncode != 0:
            err = done.stderr.decode(errors="replace").strip()
            raise CniError(f"{command} {kind} exited {done.returncode}: {out} {err}".strip())
        return json.loads(out) if out else None

    def add(self, network: Mapping[str, Any]) -> Any:
        """ADD every plugin in order, chaining results; the list's result."""
        result: Any = None
        for plugin in network["plugins"]:
            result = self.run_plugin("ADD", plugin_stdin(network, plugin, result))
        return result

    def check(self, network: Mapping[str, Any], result: Any) -> None:
        """CHECK every plugin in order against the ADD result; CniError on the first failure."""
        for plugin in network["plugins"]:
            self.run_plugin("CHECK", plugin_stdin(network, plugin, result))

    def delete(self, network: Mapping[str, Any], result: Any = None) -> None:
        """DEL every plugin in reverse order, all of them even if some fail; then CniError."""
        errors: list[str] = []
        for plugin in reversed(network["plugins"]):
            try:
                self.run_plugin("DEL", plugin_stdin(network, plugin, result))
            except CniError as err:
                errors.append(str(err))
        if errors:
            raise CniError("; ".join(errors))


def ip(*args: str) -> str:
    """Run ``ip`` with ``args``; its stdout, or CalledProcessError with its stderr."""
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=True).stdout


def ip_json(*args: str) -> Any:
    return json.loads(ip("-json", *args) or "[]")


def link_exists(name: str, netns: str | None = None) -> bool:
    where = ["-n", netns] if netns else []
    done = subprocess.run(["ip", *where, "link", "show", "dev", name], capture_output=True)
    return done.returncode == 0


def delete_link(name: str) -> None:
    """Remove a host link (a test's bridge) if it is there."""
    if link_exists(name):
        ip("link", "delete", "dev", name)


@contextlib.contextmanager
def network_namespace(prefix: str = "chainfsm") -> Iterator[str]:
    """A new named network namespace, removed afterwards; yields its name."""
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    ip("netns", "add", name)
    try:
        yield name
    finally:
        ip("netns", "delete", name)


def netns_path(name: str) -> Path:
    return NETNS_DIR / name
