"""What deploy/base and the Antrea component ship for --untaint, as rendered: a ClusterRole
with exactly get and patch on nodes, bound to the service account the chainfsm pod runs as
(in its namespace), the token mounted, CHAINFSM_NODE_NAME from the downward API's
spec.nodeName, and the taint key empty, which the agent's own parser reads as off. Every
object validates strictly against the Kubernetes schema."""

from __future__ import annotations

import kubernetes_validate
import pytest

from chainfsm.cli import commands
from tests.support import antrea_standin
from tests.support.manifests import (
    KUBERNETES_VERSION,
    Doc,
    by_name,
    config,
    one,
    pod_spec,
    render_deploy,
)

TARGETS = ["base", "component"]


@pytest.fixture(scope="module", params=TARGETS)
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> list[Doc]:
    if request.param == "base":
        return render_deploy("base")
    return antrea_standin.render_component(tmp_path_factory.mktemp("component"))


def test_the_rbac_and_the_downward_api_render_strictly_valid(rendered: list[Doc]) -> None:
    for kind in ("ClusterRole", "ClusterRoleBinding", "DaemonSet"):
        kubernetes_validate.validate(one(rendered, kind), KUBERNETES_VERSION, strict=True)


def test_the_role_allows_get_and_patch_on_nodes_and_nothing_else(rendered: list[Doc]) -> None:
    role = one(rendered, "ClusterRole")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "patch"]}]


def test_the_role_is_bound_to_the_service_account_the_pod_runs_as(rendered: list[Doc]) -> None:
    role, binding = one(rendered, "ClusterRole"), one(rendered, "ClusterRoleBinding")
    daemonset = one(rendered, "DaemonSet")
    spec = daemonset["spec"]["template"]["spec"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": spec["serviceAccountName"],
            "namespace": daemonset["metadata"]["namespace"],
        }
    ]
    assert spec.get("automountServiceAccountToken", True) is True
    accounts = [d for d in rendered if d["kind"] == "ServiceAccount"]
    # The base brings its own account; Antrea's manifest brings antrea-agent.
    assert [a["metadata"]["name"] for a in accounts] in ([], [spec["serviceAccountName"]])


def test_the_node_name_comes_from_the_downward_api(rendered: list[Doc]) -> None:
    (chainfsm,) = [c for c in pod_spec(rendered)["containers"] if c["name"] == "chainfsm"]
    env = by_name(chainfsm["env"])
    assert env["CHAINFSM_NODE_NAME"] == {
        "name": "CHAINFSM_NODE_NAME",
        "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}},
    }


def test_the_taint_key_ships_empty_and_means_off(
    rendered: list[Doc], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = config(rendered)
    assert env["CHAINFSM_UNTAINT"] == ""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CHAINFSM_NODE_NAME", "aks-user-12345678-vmss000000")
    settings = commands.settings_from(commands.build_parser().parse_args(["run"]))
    assert settings.untaint is None
    # The operator's one change turns it on, with the node name the pod already has.
    monkeypatch.setenv("CHAINFSM_UNTAINT", "chainfsm.io/chain-not-ready")
    settings = commands.settings_from(commands.build_parser().parse_args(["run"]))
    assert settings.untaint == "chainfsm.io/chain-not-ready"
    assert settings.node_name == "aks-user-12345678-vmss000000"
