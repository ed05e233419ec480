"""deploy/monitoring against real Prometheus parts: the rules pass ``promtool check rules`` and
their unit tests, both objects validate strictly against the Prometheus Operator's CRDs (as
the pydantic models generated from them), every alert names the node and carries its runbook,
the PodMonitor scrapes what the DaemonSet serves, and a real Prometheus scraping a real agent
shows no alert while the chain is Verified, a firing alert naming the node once the agent is
Failed, and none again once the primary is fixed.

Needs Debian's ``prometheus`` package (prometheus and promtool): skipped without it, failed
under CHAINFSM_REQUIRE_RUNTIME=1. The Prometheus started here listens on 127.0.0.1 only,
scrapes only the agent on 127.0.0.1, keeps its data in the test's temp dir and is stopped by
its own pid.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import re
import shutil
import socket
import subprocess
import urllib.request
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import antrea_standin
import pytest
import yaml
from agent_process import AgentProcess, agent_process
from harness import HANG_GUARD, TESTDATA, primary_bytes, write_in_place
from kustomizing import DEPLOY, ROOT, pod_spec
from runtime import need
from test_deploy import render

from chainfsm import cli

RULES = DEPLOY / "monitoring" / "prometheusrule.yaml"
UNIT_TESTS = TESTDATA / "monitoring" / "rules_test.yml"
NODE = "aks-nodepool1-12345678-vmss000000"

Doc = dict[str, Any]


def _tool(name: str) -> str:
    found = shutil.which(name)
    need(found, f"needs {name} (apt-get install prometheus)")
    assert found is not None
    return found


def rule_groups(annotations: bool = True) -> list[Doc]:
    """The PrometheusRule's groups, as a Prometheus rule file holds them."""
    groups: list[Doc] = yaml.safe_load(RULES.read_text())["spec"]["groups"]
    if not annotations:
        for group in groups:
            for rule in group["rules"]:
                rule.pop("annotations", None)
    return groups


def alerts() -> list[Doc]:
    return [rule for group in rule_groups() for rule in group["rules"] if "alert" in rule]


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


def test_the_unit_tests_see_every_alert_fire_and_stay_silent() -> None:
    checks = [
        check
        for test in yaml.safe_load(UNIT_TESTS.read_text())["tests"]
        for check in test["alert_rule_test"]
    ]
    for alert in alerts():
        name = alert["alert"]
        mine = [check for check in checks if check["alertname"] == name]
        assert any(check["exp_alerts"] for check in mine), f"{name} is never seen firing"
        assert any(not check["exp_alerts"] for check in mine), f"{name} is never seen silent"


@pytest.mark.parametrize("alert", alerts(), ids=lambda a: a["alert"])
def test_every_alert_names_the_node_and_carries_its_runbook(alert: Doc) -> None:
    name = alert["alert"]
    notes = alert["annotations"]
    assert alert["labels"]["severity"] in ("critical", "warning")
    assert set(notes) == {"summary", "description", "runbook"}
    if name != "ChainfsmMetricsAbsent":  # no target at all: there is no node to name
        assert "{{ $labels.node }}" in notes["summary"]
        assert "{{ $labels.node }}" in notes["runbook"]
    # The description points at the alert's own section of the runbook, by its anchor.
    assert f"Runbook: docs/operations.md#{name.lower()}." in " ".join(notes["description"].split())
    operations = (ROOT / "docs" / "operations.md").read_text()
    runbook = operations[operations.index("\n## Runbook\n") :]
    assert f"\n### {name}\n" in runbook
    # The commands select the agent's pod as the PodMonitor does, and its container by name.
    for line in notes["runbook"].splitlines():
        assert line.startswith(("POD=$(kubectl -n kube-system get pods", "kubectl ")), line
        if "-c " in line:
            assert " -c chainfsm " in line


def _podmonitor() -> Doc:
    (found,) = [doc for doc in render("monitoring") if doc["kind"] == "PodMonitor"]
    return found


def operator_schema_errors(doc: Doc) -> list[str]:
    """Where ``doc`` breaks the Prometheus Operator's CRD schema, strictly: the object must
    parse as the model generated from the CRD and dump back (by the CRD's field names, only
    what was set) to exactly itself, so a field the schema does not know fails too."""
    # Imported here: the generated models take seconds to import, and only these tests use them.
    import pydantic
    from cloudcoil.models.prometheus_operator import v1

    models: dict[str, type[pydantic.BaseModel]] = {
        "PodMonitor": v1.PodMonitor,
        "PrometheusRule": v1.PrometheusRule,
    }
    model = models[doc["kind"]]
    try:
        parsed = model.model_validate(doc)
    except pydantic.ValidationError as err:
        return [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors()]
    return _differences(doc, parsed.model_dump(by_alias=True, exclude_unset=True, mode="json"))


def _differences(given: Any, kept: Any, at: str = "") -> list[str]:
    if isinstance(given, dict) and isinstance(kept, dict):
        return [
            problem
            for key in sorted(given.keys() | kept.keys())
            for problem in (
                [f"{at}{key}: not in the schema"]
                if key not in kept
                else _differences(given.get(key), kept[key], f"{at}{key}.")
            )
        ]
    if isinstance(given, list) and isinstance(kept, list) and len(given) == len(kept):
        return [
            p
            for i, pair in enumerate(zip(given, kept, strict=True))
            for p in _differences(*pair, f"{at}{i}.")
        ]
    return [] if given == kept else [f"{at.rstrip('.')}: {given!r} is read as {kept!r}"]


def test_the_monitoring_objects_validate_strictly_against_the_operators_schema() -> None:
    docs = render("monitoring")
    assert sorted(doc["kind"] for doc in docs) == ["PodMonitor", "PrometheusRule"]
    for doc in docs:
        assert doc["apiVersion"] == "monitoring.coreos.com/v1"
        assert operator_schema_errors(doc) == [], doc["kind"]


def test_the_operator_schema_check_refuses_a_misspelt_field() -> None:
    """The check above would catch a typo: an unknown field in either object fails it."""
    monitor, rule = (
        copy.deepcopy(doc)
        for kind in ("PodMonitor", "PrometheusRule")
        for doc in render("monitoring")
        if doc["kind"] == kind
    )
    monitor["spec"]["podMetricsEndpoints"][0]["scrapeTimout"] = "10s"
    assert operator_schema_errors(monitor) == [
        "spec.podMetricsEndpoints.0.scrapeTimout: not in the schema"
    ]
    rule["spec"]["groups"][0]["rules"][0]["fro"] = rule["spec"]["groups"][0]["rules"][0].pop("for")
    assert operator_schema_errors(rule) == ["spec.groups.0.rules.0.fro: not in the schema"]
    rule["spec"]["groups"][0]["rules"][0]["for"] = 300  # wrong type: a duration is a string
    assert operator_schema_errors(rule)[0].startswith("spec.groups.0.rules.0.for: ")


@pytest.mark.parametrize(
    "target", ["base", "overlays/example-eks-cilium", "components/antrea-aks over Antrea's"]
)
def test_the_podmonitor_scrapes_what_the_daemonset_serves(
    target: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monitor = _podmonitor()
    assert monitor["metadata"]["namespace"] == "kube-system"
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    if target.startswith("components/"):
        docs = antrea_standin.render_component(tmp_path)
    else:
        docs = render(target)
    template = next(doc for doc in docs if doc["kind"] == "DaemonSet")["spec"]["template"]
    labels = template["metadata"]["labels"]
    assert monitor["spec"]["selector"] == {"matchLabels": {"chainfsm/metrics": "true"}}
    assert labels["chainfsm/metrics"] == "true"
    (agent,) = [c for c in pod_spec(docs)["containers"] if c["name"] == "chainfsm"]
    ports = {port["name"]: port["containerPort"] for port in agent["ports"]}
    assert all(len(name) <= 15 for name in ports)
    assert endpoint["port"] == "chainfsm-prom"
    # The agent listens where the PodMonitor scrapes: the pod's IP (the downward API's, as
    # the kubelet expands it) and the named port; the probes stay on loopback.
    env = {e["name"]: e for e in agent["env"]}
    assert env["POD_IP"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    listen = env["CHAINFSM_METRICS_LISTEN"]["value"]
    assert listen == f"$(POD_IP):{ports['chainfsm-prom']}"
    monkeypatch.setenv("CHAINFSM_METRICS_LISTEN", listen.replace("$(POD_IP)", "10.224.0.4"))
    settings = cli.settings_from(cli.build_parser().parse_args(["run"]))
    assert settings.metrics_listen == f"10.224.0.4:{ports['chainfsm-prom']}"


@pytest.mark.parametrize(
    ("target", "patch", "daemonset"),
    [
        ("base", "no-metrics-port.yaml", "chainfsm"),
        (
            "components/antrea-aks over Antrea's",
            "no-metrics-port-antrea-agent.yaml",
            "antrea-agent",
        ),
    ],
)
def test_the_metrics_port_can_be_turned_off_with_one_patch(
    target: str, patch: str, daemonset: str, tmp_path: Path
) -> None:
    """What docs/operations.md, "Metrics on the node's address", tells an operator to put in an
    overlay."""
    if target == "base":
        kustomization: Doc = {"resources": [os.path.relpath(DEPLOY / "base", tmp_path)]}
    else:
        antrea_standin.layout(tmp_path)
        kustomization = {"resources": ["antrea-aks.yml"], "components": ["components/antrea-aks"]}
    kustomization["patches"] = [{"path": patch}]
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    operations = (ROOT / "docs" / "operations.md").read_text()
    shown = re.search(rf"# {re.escape(patch)}\n(.*?)```", operations, re.DOTALL)
    assert shown is not None, f"docs/operations.md shows {patch}"
    (tmp_path / patch).write_text(shown.group(1))
    kubectl = _kubectl()
    done = subprocess.run(
        [kubectl, "kustomize", str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    docs = [doc for doc in yaml.safe_load_all(done.stdout) if doc]
    (found,) = [doc for doc in docs if doc["kind"] == "DaemonSet"]
    assert found["metadata"]["name"] == daemonset
    (agent,) = [
        c for c in found["spec"]["template"]["spec"]["containers"] if c["name"] == "chainfsm"
    ]
    names = {e["name"] for e in agent.get("env", [])}
    assert "CHAINFSM_METRICS_LISTEN" not in names
    assert "chainfsm-prom" not in {port["name"] for port in agent.get("ports", [])}
    assert agent["args"] == ["run"]  # the patch removed the port, not the agent


def _kubectl() -> str:
    found = shutil.which("kubectl")
    need(found, "kubectl (with its built-in kustomize) is not installed")
    assert found is not None
    return found


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
    (endpoint,) = _podmonitor()["spec"]["podMetricsEndpoints"]
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
