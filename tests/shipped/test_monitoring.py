"""deploy/monitoring's objects: both validate strictly against the Prometheus Operator's CRDs
(as the pydantic models generated from them), the rules' unit tests see every alert fire and
stay silent, every alert names the node and carries its runbook, and the PodMonitor scrapes
what the DaemonSet serves. promtool and a real Prometheus: tests/runtime/test_prometheus.py.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from chainfsm.cli import commands
from tests.support import antrea_standin, manifests
from tests.support.constants import DEPLOY, ROOT
from tests.support.manifests import Doc, pod_spec, render_deploy
from tests.support.monitoring_rules import UNIT_TESTS, alerts, podmonitor


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
    # And the alerts table of Monitoring lists it, with its severity.
    assert f"| `{name}` |" in operations[: operations.index("\n## Runbook\n")]
    row = next(line for line in operations.splitlines() if line.startswith(f"| `{name}` |"))
    assert row.endswith(f"| {alert['labels']['severity']} |"), row
    # The commands select the agent's pod as the PodMonitor does, and its container by name.
    for line in notes["runbook"].splitlines():
        assert line.startswith(("POD=$(kubectl -n kube-system get pods", "kubectl ")), line
        if "-c " in line:
            assert " -c chainfsm " in line


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
    docs = render_deploy("monitoring")
    assert sorted(doc["kind"] for doc in docs) == ["PodMonitor", "PrometheusRule"]
    for doc in docs:
        assert doc["apiVersion"] == "monitoring.coreos.com/v1"
        assert operator_schema_errors(doc) == [], doc["kind"]


def test_the_operator_schema_check_refuses_a_misspelt_field() -> None:
    """The check above would catch a typo: an unknown field in either object fails it."""
    monitor, rule = (
        copy.deepcopy(doc)
        for kind in ("PodMonitor", "PrometheusRule")
        for doc in render_deploy("monitoring")
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
    monitor = podmonitor()
    assert monitor["metadata"]["namespace"] == "kube-system"
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    if target.startswith("components/"):
        docs = antrea_standin.render_component(tmp_path)
    else:
        docs = render_deploy(target)
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
    settings = commands.settings_from(commands.build_parser().parse_args(["run"]))
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
    kubectl = manifests.kubectl()
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
