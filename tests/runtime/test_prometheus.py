"""deploy/monitoring against real Prometheus parts: the rules pass ``promtool check rules`` and
their unit tests, and a real Prometheus scraping a real agent shows no alert while the chain is
Verified, a firing alert naming the node once the agent is Failed, and none again once the
primary is fixed.

Needs Debian's ``prometheus`` package (prometheus and promtool): skipped without it, failed
under CHAINFSM_REQUIRE_RUNTIME=1. The Prometheus started here listens on 127.0.0.1 only,
scrapes only the agent on 127.0.0.1, keeps its data in the test's temp dir and is stopped by
its own pid.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import subprocess
import urllib.request
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from chainfsm.cli.demo import write_in_place
from tests.support.agent_process import AgentProcess, agent_process
from tests.support.constants import HANG_GUARD
from tests.support.gate import need
from tests.support.manifests import Doc
from tests.support.monitoring_rules import NODE, UNIT_TESTS, alerts, podmonitor, rule_groups
from tests.support.primaries import primary_bytes


def _tool(name: str) -> str:
    found = shutil.which(name)
    need(found, f"needs {name} (apt-get install prometheus)")
    assert found is not None
    return found


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_tool("promtool"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_rules_pass_promtool_check(tmp_path: Path) -> None:
    (tmp_path / "rules.yml").write_text(yaml.safe_dump({"groups": rule_groups()}))
    done = _promtool("check", "rules", "rules.yml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in done.stdout


def test_the_rules_pass_their_promtool_unit_tests(tmp_path: Path) -> None:
    """Annotations are left out here (promtool compares them whole); the end-to-end test
    below reads them as Prometheus renders them."""
    (tmp_path / "rules.yml").write_text(yaml.safe_dump({"groups": rule_groups(False)}))
    tests = UNIT_TESTS.read_text().replace("rule_files: [RULES]", "rule_files: [rules.yml]")
    (tmp_path / "rules_test.yml").write_text(tests)
    done = _promtool("test", "rules", "rules_test.yml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


# -- end to end: a real Prometheus scraping a real agent ------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _api(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
        return json.load(answer)["data"]


async def _poll(port: int, path: str, done: Any) -> Any:
    """Ask Prometheus's API until ``done(data)`` is true, at most HANG_GUARD seconds (a hang
    guard, not a timing assertion); each ask waits for a scrape or an evaluation."""
    async with asyncio.timeout(HANG_GUARD * 2):
        while True:
            try:
                data = await asyncio.to_thread(_api, port, path)
            except OSError:
                data = None  # still starting
            if data is not None and done(data):
                return data
            await asyncio.sleep(0.2)


def _firing(data: Any) -> list[Doc]:
    return [a for a in data["alerts"] if a["labels"]["alertname"].startswith("Chainfsm")]


def _prometheus_config(agent_port: int, rules: Path) -> Doc:
    """The PodMonitor's scrape as a plain job: the target's Kubernetes meta label is given
    statically (no API server here), and the PodMonitor's own relabelings turn it into
    ``node`` and set ``job``, as the operator's generated config does."""
    (endpoint,) = podmonitor()["spec"]["podMetricsEndpoints"]
    relabel = [
        {
            {"sourceLabels": "source_labels", "targetLabel": "target_label"}.get(key, key): value
            for key, value in rule.items()
        }
        for rule in endpoint["relabelings"]
    ]
    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "scrape_configs": [
            {
                "job_name": "podmonitor-under-test",
                "metrics_path": endpoint["path"],
                "static_configs": [
                    {
                        "targets": [f"127.0.0.1:{agent_port}"],
                        "labels": {"__meta_kubernetes_pod_node_name": NODE},
                    }
                ],
                "relabel_configs": relabel,
            }
        ],
    }


@pytest.fixture
async def scraped_agent(tmp_path: Path) -> AsyncIterator[tuple[AgentProcess, int, Path]]:
    """A real agent with a short retry budget, and a real Prometheus scraping it every second
    with the rules' ``for:`` cut to one second. Yields the agent, Prometheus's port and the
    conf dir."""
    prometheus = _tool("prometheus")
    net_dir = tmp_path / "net.d"
    net_dir.mkdir()
    groups = rule_groups()
    for group in groups:
        for rule in group["rules"]:
            rule["for"] = "1s"
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump({"groups": groups}))
    async with agent_process(
        net_dir,
        *("--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"),
        *("--retry-attempts", "3", "--retry-seconds", "1", "--backoff-max", "0.2"),
    ) as agent:
        _, agent_port = agent.address("/metrics")
        config = tmp_path / "prometheus.yml"
        config.write_text(yaml.safe_dump(_prometheus_config(agent_port, rules)))
        port = _free_port()
        with (tmp_path / "prometheus.log").open("wb") as log:
            proc = await asyncio.create_subprocess_exec(
                prometheus,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
                stdout=asyncio.subprocess.DEVNULL,
                stderr=log,
            )
        try:
            await _poll(port, "/api/v1/status/buildinfo", lambda data: True)
            yield agent, port, net_dir
        finally:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), HANG_GUARD)


# slow: a real Prometheus scrapes until its alert fires (about 10 s)
@pytest.mark.slow
async def test_a_real_prometheus_pages_for_a_failed_chain_naming_the_node(
    scraped_agent: tuple[AgentProcess, int, Path],
) -> None:
    agent, port, net_dir = scraped_agent
    primary = net_dir / "10-azure.conflist"

    # Verified: once Prometheus holds that and has evaluated the rules after it, no alert.
    write_in_place(primary, primary_bytes())
    await agent.line("transition", dest="Verified")
    verified = await _poll(
        port,
        '/api/v1/query?query=chainfsm_state{state="Verified"}==1',
        lambda data: data["result"],
    )
    (series,) = verified["result"]
    assert series["metric"]["node"] == NODE
    assert series["metric"]["job"] == "chainfsm"
    seen_at = float(series["value"][0])
    await _poll(
        port,
        "/api/v1/rules?type=alert",
        lambda data: all(_evaluated_after(group, seen_at + 1.5) for group in data["groups"]),
    )
    assert _firing(await asyncio.to_thread(_api, port, "/api/v1/alerts")) == []

    # The primary stays invalid past the retry budget: Failed, and the page names the node.
    since = len(agent.lines)
    write_in_place(primary, b"")
    await agent.line("transition", since, dest="Failed", trigger="budget_spent")
    data = await _poll(
        port,
        "/api/v1/alerts",
        lambda data: any(a["state"] == "firing" for a in _firing(data)),
    )
    (alert,) = _firing(data)
    assert alert["labels"]["alertname"] == "ChainfsmChainFailed"
    assert alert["labels"]["node"] == NODE
    assert alert["labels"]["severity"] == "critical"
    assert alert["annotations"]["summary"] == f"CNI chain failed on node {NODE}"
    # The value is how long the chain has been failing, from chainfsm_failing_since_*.
    assert re.search(r"has been failing for \S", alert["annotations"]["description"])
    assert f"--field-selector spec.nodeName={NODE} " in alert["annotations"]["runbook"]
    assert "chainfsm explain" in alert["annotations"]["runbook"]

    # Fixed: Verified again, and the alert resolves.
    since = len(agent.lines)
    write_in_place(primary, primary_bytes())
    await agent.line("transition", since, dest="Verified")
    await _poll(port, "/api/v1/alerts", lambda data: _firing(data) == [])


def _evaluated_after(group: Doc, stamp: float) -> bool:
    last = datetime.fromisoformat(re.sub(r"(\.\d{6})\d*", r"\1", group["lastEvaluation"]))
    return last.timestamp() > stamp
