"""The Kubernetes manifests under deploy/: every kustomize overlay renders offline
(`kubectl kustomize`, no server), every rendered object validates strictly against the
Kubernetes schemas bundled by kubernetes-validate, and the DaemonSet is what docs/deploy.md
promises: one long-running agent container and no init container to hold it back, configured
by settings the agent's own parser accepts."""

from __future__ import annotations

import copy
from pathlib import PurePosixPath

import kubernetes_validate
import pytest
import yaml

from chainfsm.cli import commands
from tests.support.constants import DEPLOY
from tests.support.host_ports import clashes
from tests.support.manifests import KUBERNETES_VERSION, config, one, pod_spec, render_deploy

OVERLAYS = sorted(p.parent.name for p in (DEPLOY / "overlays").glob("*/kustomization.yaml"))
#: What renders offline: the base and every overlay that fetches nothing (the antrea-aks overlay
#: pulls Antrea's release manifest; tests/shipped/test_antrea_aks.py renders it over a stand-in).
TARGETS = [
    "base",
    *(
        f"overlays/{name}"
        for name in OVERLAYS
        if "://" not in (DEPLOY / "overlays" / name / "kustomization.yaml").read_text()
    ),
]


def test_there_is_an_antrea_aks_overlay_a_component_and_an_example() -> None:
    assert "antrea-aks" in OVERLAYS
    assert (DEPLOY / "components" / "antrea-aks" / "kustomization.yaml").is_file()
    assert "overlays/example-eks-cilium" in TARGETS


@pytest.mark.parametrize("target", TARGETS)
def test_every_rendered_object_validates_strictly(target: str) -> None:
    docs = render_deploy(target)
    assert {doc["kind"] for doc in docs} == {
        "ConfigMap",
        "DaemonSet",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
    }
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_strict_validation_refuses_a_misspelt_field() -> None:
    """The validation above would catch a typo in a manifest (strict: unknown fields fail)."""
    docs = yaml.safe_load_all((DEPLOY / "base" / "daemonset.yaml").read_text())
    daemonset = copy.deepcopy(next(doc for doc in docs if doc))
    kubernetes_validate.validate(daemonset, KUBERNETES_VERSION, strict=True)
    daemonset["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(daemonset, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("target", TARGETS)
def test_the_agent_accepts_the_settings(target: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ConfigMap's CHAINFSM_* variables parse with the agent's own command line, and its
    conf dir is the node's /etc/cni/net.d as mounted."""
    docs = render_deploy(target)
    env = config(docs)
    assert all(key.startswith("CHAINFSM_") for key in env)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = commands.settings_from(commands.build_parser().parse_args(["run"]))
    assert str(settings.net_dir) == "/etc/cni/net.d"
    assert settings.output.endswith(".conflist")
    assert settings.output < "10", "our output must sort before the primary's name"
    assert "/" not in settings.plugin["type"]


@pytest.mark.parametrize("target", TARGETS)
def test_the_daemonset_is_one_agent_and_no_init_container(target: str) -> None:
    """No `run --once` init container: it would hold the agent, and so its /metrics and
    probes, back through exactly the state the alerts exist for (docs/deploy.md, "deploy/base")."""
    docs = render_deploy(target)
    spec = pod_spec(docs)
    env = config(docs)
    assert not spec.get("initContainers")
    (sidecar,) = spec["containers"]
    assert sidecar["name"] == "chainfsm"
    assert sidecar["args"] == ["run"]
    name = one(docs, "ConfigMap")["metadata"]["name"]
    assert sidecar["envFrom"] == [{"configMapRef": {"name": name}}]

    port = int(env["CHAINFSM_LISTEN"].rsplit(":", 1)[1])
    assert port == 10365
    probes = {kind: sidecar[kind]["httpGet"] for kind in ("readinessProbe", "livenessProbe")}
    assert probes["readinessProbe"]["path"] == "/readyz"
    assert probes["livenessProbe"]["path"] == "/healthz"
    for probe in probes.values():
        assert probe["port"] == port
        assert probe["host"] == env["CHAINFSM_LISTEN"].rsplit(":", 1)[0]

    # Runs on every node before any pod network exists, tainted nodes included.
    assert spec["priorityClassName"] == "system-node-critical"
    assert spec["hostNetwork"] is True
    assert {"operator": "Exists"} in spec["tolerations"]
    assert one(docs, "DaemonSet")["metadata"]["namespace"] == "kube-system"


@pytest.mark.parametrize("target", TARGETS)
def test_the_host_ports_are_none_that_a_node_s_other_components_use(target: str) -> None:
    """On the host network a port taken by another component (9808: every CSI driver's
    livenessprobe) would keep the probes from binding; docs/deploy.md says why these ports."""
    (sidecar,) = pod_spec(render_deploy(target))["containers"]
    assert [p["containerPort"] for p in sidecar["ports"]] == [10365, 10366]
    assert clashes(sidecar) == []


@pytest.mark.parametrize("target", TARGETS)
def test_containers_are_locked_down_and_write_only_where_they_must(target: str) -> None:
    docs = render_deploy(target)
    spec = pod_spec(docs)
    env = config(docs)
    volumes = {v["name"]: v for v in spec["volumes"]}
    for container in spec["containers"]:
        security = container["securityContext"]
        assert security["capabilities"] == {"drop": ["ALL"]}
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["privileged"] is False
        assert "add" not in security["capabilities"]

        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        writable = {path for path, m in mounts.items() if not m.get("readOnly", False)}
        net = volumes[mounts["/etc/cni/net.d"]["name"]]
        assert net["hostPath"]["path"] == "/etc/cni/net.d"
        assert volumes[mounts["/opt/cni/bin"]["name"]]["hostPath"]["path"] == "/opt/cni/bin"
        assert mounts["/opt/cni/bin"]["readOnly"] is True
        assert env["CHAINFSM_BIN_DIR"] == "/opt/cni/bin"
        # The ready file and dumps go to a mounted emptyDir: the root fs is read-only.
        for key in ("CHAINFSM_READY_FILE", "CHAINFSM_DUMP_FILE"):
            parent = str(PurePosixPath(env[key]).parent)
            assert parent in writable, f"{key}={env[key]} is not on a writable mount"
            assert "emptyDir" in volumes[mounts[parent]["name"]]
        assert writable == {"/etc/cni/net.d", "/run/chainfsm"}

        resources = container["resources"]
        assert set(resources) == {"requests", "limits"}
        assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}
