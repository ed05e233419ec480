"""The agent's settings: one frozen value, built once from flags and environment variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chainfsm import chaining


@dataclass(frozen=True, slots=True)
class Settings:
    net_dir: Path = Path("/etc/cni/net.d")
    """The CNI conf dir the runtime reads (containerd's ``conf_dir``)."""

    output: str = "05-antrea.conflist"
    """Our file's name in ``net_dir``. It must end in ``.conflist`` and should sort before
    the primary's name, or the runtime never reads it."""

    plugin: Mapping[str, Any] = field(default_factory=lambda: dict(chaining.DEFAULT_PLUGIN))
    """The plugin appended to the primary's list (Antrea in networkPolicyOnly mode by default)."""

    rewrites: tuple[chaining.Rewrite, ...] | None = None
    """Edits of the primary's plugins in our chained copy; ``()`` for none. None: what Antrea's
    install-cni does on AKS when the plugin is antrea (azure-vnet ``"mode": "bridge"`` becomes
    ``"transparent"``), nothing for any other plugin."""

    primary: str | None = None
    """An exact name or glob for the primary; by default the first config file not ours."""

    bin_dir: Path | None = None
    """Where the plugin binaries are (``/opt/cni/bin`` on nodes). When set, the agent is
    Verified only while every plugin ``type`` of the chain is there and supports the list's
    ``cniVersion``; the chain is written either way (fail closed). Off by default."""

    once: bool = False
    """Exit after the first Verified (0) or Failed (1): the init-container mode."""

    timeout: float | None = None
    """Seconds after which ``--once`` gives up (exit 1); None waits as long as it takes."""

    keep_on_primary_loss: bool = False
    """Keep our output when the primary disappears. Off: a chain with no primary behind it
    would make the runtime report a network that AKS says is not ready."""

    cleanup_on_exit: bool = False
    """Remove our output on SIGTERM. Off: removing it makes the node NotReady."""

    retry_attempts: int = 30
    """Validations of an invalid primary before Failed. The budget ends at this count or at
    ``retry_seconds``, whichever comes first."""

    retry_seconds: float = 120.0
    """Seconds of validating an invalid primary before Failed."""

    backoff_initial: float = 0.05
    """First retry delay in seconds; it doubles up to ``backoff_max``, with full jitter.
    A change in the conf dir cuts any delay short."""

    backoff_max: float = 5.0
    """Longest retry delay in seconds, also the cap between retries out of Failed."""

    revert_limit: int = 5
    """How many times another writer may replace our output within ``revert_window`` before we
    say so and back off instead of fighting it."""

    revert_window: float = 60.0
    """Seconds over which reverts of our output are counted."""

    history: int = 100
    """How many transitions the agent remembers for the state dump (a ring: the oldest go)."""

    dump_file: Path = Path("/run/chainfsm/dump.json")
    """Where SIGUSR1 writes the state dump (atomically; the dir is created if missing). The
    agent's pid goes beside it, in ``<dump_file>.pid``, for ``chainfsm dump``."""

    listen: str | None = None
    """``HOST:PORT`` for /healthz, /readyz and /metrics; None (the default) opens no port."""

    metrics_listen: str | None = None
    """``HOST:PORT`` for /metrics alone, for a cluster's Prometheus to scrape (the pod's IP,
    from the downward API); None (the default) opens no such port. The probes stay on
    ``listen``, so a flood on this address cannot fail them."""

    ready_file: Path | None = None
    """A file present only while Verified, for exec readiness probes; None: no file."""

    log_format: str = "json"
    """``json`` (one object per line) or ``text``."""


def split_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6) as a host and a port, or ValueError. Pure."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:9808 or [::1]:9808)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)
