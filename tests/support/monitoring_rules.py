"""deploy/monitoring's PrometheusRule as a Prometheus rule file holds it, its promtool unit
tests, its PodMonitor, and the node name those tests (and the end-to-end test) give the agent."""

from __future__ import annotations

import yaml

from tests.support.constants import DEPLOY, TESTDATA
from tests.support.manifests import Doc, render_deploy

RULES = DEPLOY / "monitoring" / "prometheusrule.yaml"
UNIT_TESTS = TESTDATA / "monitoring" / "rules_test.yml"
NODE = "aks-nodepool1-12345678-vmss000000"


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


def podmonitor() -> Doc:
    """deploy/monitoring's PodMonitor, rendered."""
    (found,) = [doc for doc in render_deploy("monitoring") if doc["kind"] == "PodMonitor"]
    return found
