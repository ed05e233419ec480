"""Binding ``--listen`` and ``--metrics-listen``, and binding them again later when the address
cannot be had at start-up (a port held by another process of the host network, a pod IP not
there yet): the agent's chain work never waits for a listener, nor stops for one.

Imported only with ``--listen`` or ``--metrics-listen``.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os

from chainfsm import logs
from chainfsm.process import http_endpoints

#: Seconds before the first retry of a bind; each failure doubles it, up to ``RETRY_MAX``.
RETRY_FIRST = 1.0
#: The longest wait between two tries: one ``listen_failed`` line a minute while it lasts.
RETRY_MAX = 60.0


def _why(err: OSError) -> str:
    # create_server's message repeats the address: the system's words suffice (a name that
    # does not resolve has a negative errno and its own words).
    code = err.errno or 0
    return os.strerror(code) if code > 0 else err.strerror or str(err)


class Listener:
    """One listener of the agent: ``server`` bound at ``address``, or being retried until it
    is (``up`` says which)."""

    def __init__(self, name: str, address: str, server: http_endpoints.Server) -> None:
        self.name = name
        self.address = address
        self.server = server
        self.up = False
        #: Failed binds so far.
        self.failures = 0

    async def bind(self) -> bool:
        """Try once; True when bound. A failure is one loud line saying what happens next."""
        try:
            await self.server.start()
        except OSError as err:
            self.failures += 1
            delay = self.delay()
            logs.event(
                "listen_failed",
                logging.ERROR,
                address=self.address,
                listener=self.name,
                attempt=self.failures,
                reason=f"cannot listen on {self.address}: {_why(err)}; the agent goes on"
                f" chaining without it and tries again in {delay:g} s. {_CONSEQUENCE[self.name]}"
                f". {remedy(self.name, err)}",
            )
            return False
        self.up = True
        host, port = self.server.bound
        logs.event(
            "listening",
            address=f"{host}:{port}",
            paths=" ".join(sorted(self.server.paths)),
            connections=self.server.cap,
        )
        return True

    def delay(self) -> float:
        """Seconds until the next try, after ``failures`` failed ones."""
        return min(RETRY_MAX, RETRY_FIRST * 2.0 ** max(0, self.failures - 1))

    def is_up(self) -> bool:
        return self.up

    async def retry(self) -> None:
        """Try again with backoff until bound (or cancelled)."""
        while not self.up:
            await asyncio.sleep(self.delay())
            await self.bind()


_CONSEQUENCE = {
    "probes": (
        "Meanwhile the kubelet's probes on this port reach whatever holds it, or nothing: the"
        " readiness probe fails (not Ready), and a failing liveness probe restarts the"
        " container, which leaves the chain in place"
    ),
    "metrics": "Meanwhile Prometheus cannot scrape this agent (ChainfsmAgentDown)",
}

#: Each listener's flag, and what names its port in the manifests.
_FLAG = {
    "probes": ("--listen", "the probes' port"),
    "metrics": ("--metrics-listen", "the pod's port chainfsm-prom"),
}


def remedy(name: str, err: OSError) -> str:
    """What to do, by what went wrong: only a taken port is freed or changed."""
    flag, port = _FLAG[name]
    if err.errno == errno.EADDRINUSE:
        return f"Free the port or choose another with {flag}, and {port} with it"
    if err.errno == errno.EADDRNOTAVAIL:
        return (
            f"No interface of this host has that address (yet): give {flag} an address the"
            " host has, or :PORT for all of them"
        )
    return f"Check {flag}"
