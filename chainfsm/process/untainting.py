"""``--untaint KEY``: lift this node's start-up taint once the chain is Verified.

A task of its own, beside the agent's: it reads the node at start (so the gauge says whether
the taint is there), waits for Verified, then, while the agent is still Verified, removes
every taint with KEY by a JSON patch that ``test``s the list as read, so a change by anyone
else in between is never lost: the API refuses the patch (422, or 409), and the task reads
again. Every problem (no
credentials, RBAC, a wrong node name, an API that does not answer) is one log line and a
retry with backoff; none of them ever waits for the agent or holds it up, and the agent never
waits for this task. It removes, never adds: a chain that fails later does not taint the node
again (docs/operations.md says why, and which alerts cover that instead).

Once the API said the node has none left, the task ends: the taint is a start-up gate, and
the node's later life is the agent's alerts' business.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from chainfsm import logs
from chainfsm.agent import retry
from chainfsm.core import taints
from chainfsm.core.states import State, Transition
from chainfsm.edge import off_loop
from chainfsm.settings import Settings

if TYPE_CHECKING:
    from chainfsm.edge import nodes

#: The log line's event name.
EVENT = "untaint"


class Untainter:
    """``observe`` goes in ``agent.machine.listeners``; ``run`` is the task; ``view`` is what
    the metrics and the dump show."""

    def __init__(
        self,
        settings: Settings,
        environ: Mapping[str, str] = os.environ,
        service_account: Path | None = None,
        timeout: float | None = None,
        *,
        backoff: retry.Backoff | None = None,
    ) -> None:
        assert settings.untaint is not None
        assert settings.node_name is not None
        self.settings = settings
        self.key = settings.untaint
        self.node = settings.node_name
        self._environ = environ
        self._service_account = service_account
        self._timeout = timeout
        #: The waits between the API's retries.
        self._backoff = backoff if backoff is not None else retry.Backoff()
        self.present = True  # may be, until the API says otherwise
        self.done = False
        self.removed: str | None = None
        self.last_error: str | None = None
        self.calls = 0
        #: Set while the agent is Verified: the taint is removed only then (fail closed: a
        #: chain that broke after Verified, while the API was away, keeps the node tainted).
        self.verified = asyncio.Event()
        #: Set at each Verified: cuts a backoff short.
        self._nudge = asyncio.Event()
        #: Set whenever ``view`` changes (tests await it rather than sleep).
        self.changed = asyncio.Event()
        self._said: set[str] = set()

    def observe(self, record: Transition) -> None:
        if record.dest == State.Verified.value:
            self.verified.set()
            self._nudge.set()
        elif record.source == State.Verified.value:
            self.verified.clear()

    def view(self) -> taints.View:
        return taints.View(
            key=self.key,
            node=self.node,
            present=self.present,
            done=self.done,
            removed=self.removed,
            last_error=self.last_error,
            calls=self.calls,
        )

    def _once(self, what: str, level: int = logging.INFO, **fields: str) -> None:
        """One line per distinct message: a retry loop must not flood the log."""
        if what in self._said:
            return
        self._said.add(what)
        logs.event(EVENT, level, node=self.node, key=self.key, **fields, reason=what)

    def _trouble(self, err: Exception) -> None:
        from chainfsm.edge import nodes

        level = logging.INFO if isinstance(err, nodes.Changed) else logging.ERROR
        if isinstance(err, nodes.Unreachable):
            level = logging.WARNING
        self.last_error = str(err)
        self._once(str(err), level)
        self.changed.set()

    async def run(self) -> None:
        """Until the node has no taint with our key (or the task is cancelled)."""
        # lightkube and its HTTP client, imported off the event loop: the agent's first look
        # at the conf dir does not wait for them.
        await asyncio.to_thread(importlib.import_module, "chainfsm.edge.nodes")
        from chainfsm.edge import nodes

        api = await self._connect()
        try:
            while not self.done:
                # A fresh backoff for each round: one round ends at success, or at a wait
                # for the next Verified.
                async for attempt in retry.api_policy(nodes.ApiProblem, self._sleep, self._backoff):
                    with attempt:
                        try:
                            await self._step(api)
                        except nodes.ApiProblem as err:
                            self._trouble(err)
                            raise
        finally:
            await api.close()

    async def _sleep(self, seconds: float) -> None:
        """A backoff that a new Verified cuts short."""
        self._nudge.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._nudge.wait()

    async def _connect(self) -> nodes.Nodes:
        """The API client, once its config can be read: a missing one is said once and
        tried again with the API's backoff, cut short at each Verified (a kubeconfig or token
        that appears later is used without waiting for the chain to change)."""
        from chainfsm.edge import nodes

        account = self._service_account or nodes.SERVICE_ACCOUNT
        async for attempt in retry.api_policy(nodes.NoConfig, self._sleep, self._backoff):
            with attempt:
                try:
                    config = await off_loop.run(
                        nodes.load_config, self.settings.kubeconfig, self._environ, account
                    )
                    if self._timeout is None:
                        return nodes.Nodes(config, self.node)
                    return nodes.Nodes(config, self.node, self._timeout)
                except nodes.NoConfig as err:
                    self._trouble(err)
                    raise
        raise AssertionError("api_policy retries for ever")  # pragma: no cover

    async def _step(self, api: nodes.Nodes) -> None:
        """Read the node; while not Verified, note what is there and wait for Verified;
        while Verified, remove ours. Raises ApiProblem for the retry policy."""
        self.calls += 1
        node = await api.get()
        verified = self.verified.is_set()  # as it is now, after the read
        found = taints.removal(node, self.key)
        self.last_error = None
        if not found.needed:
            self.present = False
            if verified:
                self._finish(None)
                return
            self._once(f"no taint {self.key} on node {self.node}: nothing to remove")
            self.changed.set()
            await self.verified.wait()
            return
        self.present = True
        ours = taints.describe(found.removed)
        if not verified:
            self._once(f"kept until the chain is Verified: {ours}", taints=ours)
            self.changed.set()
            await self.verified.wait()
            return
        self.calls += 1
        await api.patch(found.patch())
        self._finish(ours)

    def _finish(self, removed: str | None) -> None:
        self.present = False
        self.done = True
        self.last_error = None
        if removed is None:
            self._once(f"no taint {self.key} on node {self.node}: nothing to remove")
        else:
            self.removed = removed
            logs.event(
                EVENT,
                node=self.node,
                key=self.key,
                removed=removed,
                reason=f"the chain is Verified: removed {removed} from node {self.node}",
            )
        self.changed.set()
