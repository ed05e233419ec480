"""The Kubernetes manifests under deploy/: every kustomize overlay renders offline
(`kubectl kustomize`, no server), every rendered object validates strictly against the
Kubernetes schemas bundled by kubernetes-validate, and the DaemonSet is what README.md
promises: an init container and a sidecar, configured by settings the agent's own parser accepts."""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any

import kubernetes_validate
import pytest
import yaml
from runtime import need

from chainfsm import cli, discovery

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
KUBERNETES_VERSION = "1.30"  # the oldest minor AKS still supports when this was written
OVERLAYS = sorted(p.parent.name for p in (DEPLOY / "overlays").glob("*/kustomization.yaml"))
TARGETS = ["base", *(f"overlays/{name}" for name in OVERLAYS)]

Doc = dict[str, Any]


def render(target: str) -> list[Doc]:
    kubectl = shutil.which("kubectl")
    need(kubectl, "kubectl (with its built-in kustomize) is not installed")
    assert kubectl is not None
    done = subprocess.run(
        [kubectl, "kustomize", str(DEPLOY / target)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"kubectl kustomize {target}: {done.stderr}"
    assert "Warning" not in done.stderr, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def one(docs: list[Doc], kind: str) -> Doc:
    found = [doc for doc in docs if doc["kind"] == kind]
    assert len(found) == 1, f"{len(found)} objects of kind {kind}"
    return found[0]


def pod_spec(docs: list[Doc]) -> Doc:
    spec: Doc = one(docs, "DaemonSet")["spec"]["template"]["spec"]
    return spec


def config(docs: list[Doc]) -> dict[str, str]:
    data: dict[str, str] = one(docs, "ConfigMap")["data"]
    return data


def test_there_is_an_aks_antrea_overlay_and_an_example() -> None:
    assert "aks-antrea" in OVERLAYS
    assert len(OVERLAYS) >= 2


@pytest.mark.parametrize("target", TARGETS)
def test_every_rendered_object_validates_strictly(target: str) -> None:
    docs = render(target)
    assert {doc["kind"] for doc in docs} == {"ConfigMap", "DaemonSet"}
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
    docs = render(target)
    env = config(docs)
    assert all(key.startswith("CHAINFSM_") for key in env)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = cli.settings_from(cli.build_parser().parse_args(["run"]))
    assert str(settings.net_dir) == "/etc/cni/net.d"
    assert settings.output.endswith(".conflist")
    assert settings.output < "10", "our output must sort before the primary's name"
    assert "/" not in settings.plugin["type"]


@pytest.mark.parametrize("target", TARGETS)
def test_the_daemonset_is_an_init_container_and_a_sidecar(target: str) -> None:
    docs = render(target)
    spec = pod_spec(docs)
    env = config(docs)
    (init,) = spec["initContainers"]
    (sidecar,) = spec["containers"]
    assert init["args"][:2] == ["run", "--once"]
    assert "--timeout" in init["args"]
    assert sidecar["args"] == ["run"]
    assert init["image"] == sidecar["image"]
    name = one(docs, "ConfigMap")["metadata"]["name"]
    for container in (init, sidecar):
        assert container["envFrom"] == [{"configMapRef": {"name": name}}]

    port = int(env["CHAINFSM_LISTEN"].rsplit(":", 1)[1])
    assert port == 9808
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
def test_containers_are_locked_down_and_write_only_where_they_must(target: str) -> None:
    docs = render(target)
    spec = pod_spec(docs)
    env = config(docs)
    volumes = {v["name"]: v for v in spec["volumes"]}
    for container in (*spec["initContainers"], *spec["containers"]):
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


@pytest.mark.parametrize(
    ("overlay", "output", "plugin_type"),
    [("aks-antrea", "05-antrea.conflist", "antrea")],
)
def test_the_aks_overlay_chains_antrea_after_azure(
    overlay: str, output: str, plugin_type: str
) -> None:
    docs = render(f"overlays/{overlay}")
    env = config(docs)
    assert env["CHAINFSM_OUTPUT"] == output
    assert yaml.safe_load(env["CHAINFSM_PLUGIN"]) == {"type": plugin_type}
    names = ["05-antrea.conflist", "10-azure.conflist-old", "10-azure.conflist8412.tmp"]
    for primary in ("10-azure.conflist", "15-azure-swift-overlay.conflist"):
        found = discovery.find_primary([*names, primary], output, env["CHAINFSM_PRIMARY"])
        assert found == primary
    image = pod_spec(docs)["containers"][0]["image"]
    assert not image.startswith("localhost/"), "the overlay sets the image pushed for the cluster"
