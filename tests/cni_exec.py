"""Running a CNI config list by hand, as libcni does, with the reference plugins.

ADD runs the plugins in order, each given the previous one's result as ``prevResult``; CHECK
runs them in order with the final ADD result; DEL runs them in reverse with it. The list's
``name`` and ``cniVersion`` are injected into every plugin, and ``runtimeConfig`` only for the
capabilities a plugin declares.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from containerd import REFERENCE_PLUGINS

#: A hang guard for one plugin call (they take milliseconds).
CALL_TIMEOUT = 30.0


class PluginError(Exception):
    """A plugin exited non-zero; the message holds its CNI error object."""


@dataclass(frozen=True, slots=True)
class Attachment:
    """Where a container's interface goes: the container id, its netns path and the ifname."""

    container_id: str
    netns: Path
    ifname: str = "eth0"


def plugin_stdin(
    conflist: Mapping[str, Any],
    plugin: Mapping[str, Any],
    prev: Any = None,
    runtime_config: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Pure. The stdin of one plugin in the list, as libcni builds it."""
    conf = dict(plugin)
    conf["name"] = conflist["name"]
    conf["cniVersion"] = conflist.get("cniVersion", "0.1.0")
    capabilities = plugin.get("capabilities") or {}
    declared = {k: v for k, v in (runtime_config or {}).items() if capabilities.get(k)}
    if declared:
        conf["runtimeConfig"] = declared
    if prev is not None:
        conf["prevResult"] = prev
    return conf


def call(
    command: str,
    conf: Mapping[str, Any],
    where: Attachment,
    bin_dir: Path = REFERENCE_PLUGINS,
) -> Any:
    """Run one plugin; its JSON result (None when it prints nothing). Raises PluginError."""
    env = {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": where.container_id,
        "CNI_NETNS": str(where.netns),
        "CNI_IFNAME": where.ifname,
        "CNI_PATH": str(bin_dir),
        # bridge and portmap run iptables.
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
    }
    done = subprocess.run(
        [str(bin_dir / conf["type"])],
        input=json.dumps(conf).encode(),
        env=env,
        capture_output=True,
        timeout=CALL_TIMEOUT,
        check=False,
    )
    out = done.stdout.decode(errors="replace").strip()
    if done.returncode != 0:
        err = done.stderr.decode(errors="replace").strip()
        raise PluginError(f"{command} {conf['type']} exited {done.returncode}: {out} {err}")
    return json.loads(out) if out else None


def add(conflist: Mapping[str, Any], where: Attachment, bin_dir: Path = REFERENCE_PLUGINS) -> Any:
    """ADD through the list; the final result."""
    prev = None
    for plugin in conflist["plugins"]:
        prev = call("ADD", plugin_stdin(conflist, plugin, prev), where, bin_dir)
    return prev


def check(
    conflist: Mapping[str, Any], where: Attachment, result: Any, bin_dir: Path = REFERENCE_PLUGINS
) -> None:
    """CHECK through the list. (portmap 1.1.1's CHECK fails on IPv4-only results: leave it
    out of lists that are checked.)"""
    for plugin in conflist["plugins"]:
        call("CHECK", plugin_stdin(conflist, plugin, result), where, bin_dir)


def delete(
    conflist: Mapping[str, Any], where: Attachment, result: Any, bin_dir: Path = REFERENCE_PLUGINS
) -> None:
    """DEL through the list, in reverse; every plugin is called even when one fails."""
    errors = []
    for plugin in reversed(conflist["plugins"]):
        try:
            call("DEL", plugin_stdin(conflist, plugin, result), where, bin_dir)
        except PluginError as err:
            errors.append(str(err))
    if errors:
        raise PluginError("; ".join(errors))
