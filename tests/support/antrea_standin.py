"""A stand-in for Antrea's antrea-aks.yml, built from the facts read from Antrea's own manifest
(tests/testdata/antrea/antrea-aks.facts.json): the same namespace, DaemonSet, labels, image,
containers, mounts and volumes, so a kustomize patch that addresses Antrea's names addresses
these. Only what the component touches or relies on is modelled."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from tests.support.constants import DEPLOY, TESTDATA
from tests.support.manifests import Doc
from tests.support.manifests import render as render_dir

FACTS_FILE = TESTDATA / "antrea" / "antrea-aks.facts.json"
FACTS: dict[str, Any] = json.loads(FACTS_FILE.read_text())
#: The tag a release manifest gives every Antrea container (read from the pinned URL).
TAG = FACTS["release_manifest"].split("/download/", 1)[1].split("/", 1)[0]
IMAGE = f"{FACTS['agent_image']}:{TAG}"
#: What Antrea's install-cni does to chain itself, as read from its script.
STEP: dict[str, Any] = FACTS["chaining"]


def _container(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": name,
        "image": IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "command": spec["command"],
        "volumeMounts": [{"name": v, "mountPath": p} for v, p in spec["mounts"].items()],
    }
    if "args" in spec:
        container["args"] = spec["args"]
    if "capabilities_add" in spec:
        container["securityContext"] = {"capabilities": {"add": spec["capabilities_add"]}}
    if spec.get("privileged"):
        container["securityContext"] = {"privileged": True}
    return container


def daemonset() -> dict[str, Any]:
    """Antrea's antrea-agent DaemonSet as far as the facts go."""
    labels = FACTS["labels"]
    volumes: list[dict[str, Any]] = [
        {"name": name, "hostPath": {"path": path}} for name, path in FACTS["host_paths"].items()
    ]
    volumes += [
        {"name": name, "configMap": {"name": cm}} for name, cm in FACTS["configmap_volumes"].items()
    ]
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": FACTS["daemonset"], "namespace": FACTS["namespace"], "labels": labels},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "hostNetwork": True,
                    "priorityClassName": "system-node-critical",
                    "serviceAccountName": FACTS["daemonset"],
                    # Antrea's manifest has an empty `initContainers:` (null) in AKS mode.
                    "initContainers": None,
                    "containers": [
                        _container(name, spec) for name, spec in FACTS["containers"].items()
                    ],
                    "volumes": volumes,
                },
            },
        },
    }


def configmap() -> dict[str, Any]:
    """Antrea's own ConfigMap (the component must leave it alone)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "antrea-config", "namespace": FACTS["namespace"]},
        "data": {"antrea-agent.conf": "trafficEncapMode: networkPolicyOnly\n"},
    }


def manifest() -> str:
    """The stand-in as one multi-document YAML, as Antrea ships it."""
    return yaml.safe_dump_all([configmap(), daemonset()], sort_keys=False)


def manifest_without_kernel_modules() -> str:
    """What Antrea's Helm chart renders with ``agent.dontLoadKernelModules=true``: install-cni
    gets SKIP_LOADING_KERNEL_MODULES and the host-lib-modules volume is left out."""
    agent = daemonset()
    spec = agent["spec"]["template"]["spec"]
    spec["volumes"] = [v for v in spec["volumes"] if v["name"] != "host-lib-modules"]
    for container in spec["containers"]:
        mounts = container["volumeMounts"]
        container["volumeMounts"] = [m for m in mounts if m["name"] != "host-lib-modules"]
        if container["name"] == "install-cni":
            container["env"] = [{"name": "SKIP_LOADING_KERNEL_MODULES", "value": "1"}]
    return yaml.safe_dump_all([configmap(), agent], sort_keys=False)


def write(path: Path) -> Path:
    path.write_text(manifest())
    return path


def layout(root: Path) -> Path:
    """A dir with the stand-in and a copy of deploy/components (kustomize wants relative paths)."""
    shutil.copytree(DEPLOY / "components", root / "components")
    write(root / "antrea-aks.yml")
    return root


def render_component(root: Path) -> list[Doc]:
    """deploy/components/antrea-aks rendered over the stand-in, in ``root``."""
    layout(root)
    kustomization = {"resources": ["antrea-aks.yml"], "components": ["components/antrea-aks"]}
    (root / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return render_dir(root)


def antrea_step(primary: bytes) -> dict[str, Any]:
    """What Antrea's install-cni writes for ``primary``, by the facts of its script: in a file
    that mentions azure, the exact text edit; then the plugin appended unless a plugin's type
    already contains "antrea"."""
    text = primary.decode()
    if STEP["rewrite_only_when_the_primary_text_contains"] in text:
        old, new = STEP["rewrite_exact_text"]
        text = text.replace(old, new)
    doc: dict[str, Any] = json.loads(text)
    marker = STEP["append_unless_a_plugin_type_contains"]
    if not any(marker in plugin["type"] for plugin in doc["plugins"]):
        doc["plugins"].append(dict(STEP["appended_plugin"]))
    return doc
