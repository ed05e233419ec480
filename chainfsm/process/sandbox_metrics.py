"""The sandbox watch's metrics, read from its latest pass when Prometheus scrapes (only with
``--cri-socket``: without it the series are absent, and the alert on them stays silent)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from chainfsm.process.sandbox_watch import Report


class SandboxCollector(Collector):
    def __init__(self, report: Callable[[], Report | None]) -> None:
        self.report = report

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        report = self.report()
        if report is None:  # no pass yet: no figure rather than a false 0
            return
        verdicts = report.verdicts
        yield GaugeMetricFamily(
            "chainfsm_unchained_sandboxes",
            "Ready pod sandboxes (not on the host network) that the record proves were networked"
            " without the chain, at the last pass",
            value=len(verdicts.unchained),
        )
        yield GaugeMetricFamily(
            "chainfsm_unknown_sandboxes",
            "Ready pod sandboxes (not on the host network) that nothing proves chained or not"
            " (set up before the first look on this boot, or while no agent asked)",
            value=verdicts.unknown,
        )
        yield CounterMetricFamily(
            "chainfsm_sandbox_stops",
            "Pod sandboxes stopped by --repair-unchained stop",
            value=report.stops,
        )
        yield GaugeMetricFamily(
            "chainfsm_sandbox_pass_failed",
            "1 when the last pass over the sandboxes could not ask the runtime or write the record",
            value=0.0 if report.error is None else 1.0,
        )
