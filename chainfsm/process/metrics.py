"""Prometheus metrics of the agent, in the client library's own registry and text format.

Imported only with ``--listen``. Counts that only grow are kept by the agent's machine already
(writes, retries) and read from its status at scrape time; what the agent does not keep
(transitions by edge, failures by reason, the time of the last Verified) is counted here from
its transition listener.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from chainfsm import __version__
from chainfsm.agent.status import Status
from chainfsm.core import states
from chainfsm.core.states import State, Transition

# No *_created series: a timestamp per label set doubles the output and no alert uses it.
prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]

#: The Content-Type of ``render``'s bytes.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Triggers that lead into Failed: the reasons failures are counted by.
FAILURE_REASONS = tuple(
    str(row["trigger"]) for row in states.TRANSITIONS if row["dest"] is State.Failed
)


class _AgentCollector(Collector):
    """What the agent keeps itself, read from its status when Prometheus scrapes."""

    def __init__(self, status: Callable[[], Status]) -> None:
        self.status = status

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily | InfoMetricFamily]:
        status = self.status()
        state = GaugeMetricFamily(
            "chainfsm_state", "1 for the state the agent is in, 0 for the others", labels=["state"]
        )
        for each in State:
            state.add_metric([each.value], 1.0 if status.state is each else 0.0)
        yield state
        yield GaugeMetricFamily(
            "chainfsm_state_since_timestamp_seconds",
            "When the agent entered its current state (Unix time)",
            value=status.state_since,
        )
        yield CounterMetricFamily(
            "chainfsm_writes", "Chained configs written (atomically)", value=status.writes
        )
        yield CounterMetricFamily(
            "chainfsm_retries",
            "Validations of a primary config that was not ready yet",
            value=status.retries,
        )
        yield GaugeMetricFamily(
            "chainfsm_consecutive_failures",
            "Entries into Failed since the last Verified",
            value=status.failures,
        )
        yield GaugeMetricFamily(
            "chainfsm_failing_since_timestamp_seconds",
            "When the agent first entered Failed since its chain was last Verified (Unix time;"
            " 0: not failing). Stays while it retries through Validating; budgets spent are"
            ' chainfsm_failures_total{reason="budget_spent"}',
            value=status.failing_since or 0.0,
        )
        yield GaugeMetricFamily(
            "chainfsm_chain_binaries_missing",
            "Plugin binaries of the chain missing from --bin-dir or not speaking its cniVersion"
            " at the last check (0: all present, or no --bin-dir); above 0 the chain is written"
            " but pods on the node cannot start",
            value=len(status.binary_problems),
        )
        yield GaugeMetricFamily(
            "chainfsm_chain_binaries_unchecked",
            "Plugin binaries of the chain in --bin-dir whose VERSION the agent cannot ask from"
            " its own filesystem (a script for an interpreter the image lacks) at the last"
            " check: Verified all the same, since the runtime on the host runs them",
            value=len(status.binary_unchecked),
        )
        yield GaugeMetricFamily(
            "chainfsm_watch_armed",
            "1 while the conf dir is watched (by inotify, or by polling while degraded)",
            value=1.0 if status.watch_armed else 0.0,
        )
        yield GaugeMetricFamily(
            "chainfsm_watch_degraded",
            "1 while inotify cannot be armed (a uid's inotify limit used up) and the conf dir"
            " and --bin-dir are polled instead; the watch_degraded log line names the sysctl",
            value=1.0 if status.watch_degraded is not None else 0.0,
        )
        yield GaugeMetricFamily(
            "chainfsm_start_timestamp_seconds",
            "When the agent started (Unix time)",
            value=status.started,
        )
        if status.untaint is not None:
            yield GaugeMetricFamily(
                "chainfsm_node_taint_present",
                "1 while this node has the --untaint taint, or may have it (not read yet, or"
                " the API not answering); 0 once it is read absent or removed",
                value=1.0 if status.untaint.present else 0.0,
            )
        info = InfoMetricFamily("chainfsm_build", "The agent's version and output file")
        info.add_metric([], {"version": __version__, "output": status.settings.output})
        yield info


class _PerListener(Collector):
    """One family labelled by listener, each value read from its listener when Prometheus
    scrapes (``family`` makes the empty family)."""

    def __init__(self, family: Callable[[], CounterMetricFamily | GaugeMetricFamily]) -> None:
        self._family = family
        self.sources: dict[str, Callable[[], float]] = {}

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        found = self._family()
        for name, value in sorted(self.sources.items()):
            found.add_metric([name], value())
        yield found


def _refused() -> CounterMetricFamily:
    return CounterMetricFamily(
        "chainfsm_http_refused",
        "Connections refused because a listener had its most open at once, or accept()"
        " failed for want of descriptors",
        labels=["listener"],
    )


def _listener_up() -> GaugeMetricFamily:
    return GaugeMetricFamily(
        "chainfsm_listener_up",
        "1 while the listener is bound; 0 while its address cannot be had (a port taken:"
        " the listen_failed log line says why) and it is tried again with backoff",
        labels=["listener"],
    )


class Metrics:
    """The agent's metrics; ``observe`` goes in ``agent.machine.listeners``."""

    def __init__(self, status: Callable[[], Status]) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_AgentCollector(status))
        self._refusals = _PerListener(_refused)
        self.registry.register(self._refusals)
        self._listeners = _PerListener(_listener_up)
        self.registry.register(self._listeners)
        self.transitions = Counter(
            "chainfsm_transitions",
            "State transitions, by source, dest and trigger",
            ["source", "dest", "trigger"],
            registry=self.registry,
        )
        self.failures = Counter(
            "chainfsm_failures",
            "Entries into Failed, by reason (the trigger that led there)",
            ["reason"],
            registry=self.registry,
        )
        for reason in FAILURE_REASONS:
            self.failures.labels(reason=reason)  # present at 0 before the first failure
        self.last_verified = Gauge(
            "chainfsm_last_verified_timestamp_seconds",
            "When the agent last entered Verified (Unix time; 0: never)",
            registry=self.registry,
        )
        for record in status().history:
            self.observe(record)

    def count_refusals(self, listener: str, count: Callable[[], int]) -> None:
        """Report ``count()`` as the refusals of ``listener`` (e.g. "probes", "metrics")."""
        self._refusals.sources[listener] = count

    def count_listener(self, listener: str, up: Callable[[], bool]) -> None:
        """Report ``up()`` as whether ``listener`` is bound."""
        self._listeners.sources[listener] = lambda: 1.0 if up() else 0.0

    def observe(self, record: Transition) -> None:
        self.transitions.labels(
            source=record.source, dest=record.dest, trigger=record.trigger
        ).inc()
        if record.dest == State.Failed.value:
            self.failures.labels(reason=record.trigger).inc()
        if record.dest == State.Verified.value:
            self.last_verified.set(record.time)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
