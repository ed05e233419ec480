"""Rendering deploy/ with `kubectl kustomize` (offline, no server) and reading the result."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.support.constants import DEPLOY

KUBERNETES_VERSION = "1.30"  # the oldest minor AKS still supports when this was written

Doc = dict[str, Any]


def kubectl() -> str:
    """kubectl: on PATH, or beside this Python (./scripts/test installs it into the venv)."""
    found = shutil.which("kubectl") or shutil.which("kubectl", path=Path(sys.executable).parent)
    assert found, "kubectl (with its built-in kustomize) is not here: ./scripts/test installs it"
    return found


def render(directory: Path) -> list[Doc]:
    """The objects ``kubectl kustomize directory`` renders; fails on an error or a warning."""
    done = subprocess.run(
        [kubectl(), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"kubectl kustomize {directory}: {done.stderr}"
    assert "Warning" not in done.stderr, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def one(docs: list[Doc], kind: str, name: str | None = None) -> Doc:
    found = [
        doc
        for doc in docs
        if doc["kind"] == kind and (name is None or doc["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"{len(found)} objects of kind {kind} named {name}"
    return found[0]


def pod_spec(docs: list[Doc], name: str | None = None) -> Doc:
    spec: Doc = one(docs, "DaemonSet", name)["spec"]["template"]["spec"]
    return spec


def config(docs: list[Doc]) -> dict[str, str]:
    """The data of chainfsm's generated ConfigMap (its name carries a content hash)."""
    found = [
        doc
        for doc in docs
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"].startswith("chainfsm-config")
    ]
    assert len(found) == 1, found
    data: dict[str, str] = found[0]["data"]
    return data


def by_name(items: list[Doc]) -> dict[str, Doc]:
    return {item["name"]: item for item in items or []}


def render_deploy(target: str) -> list[Doc]:
    """``deploy/<target>`` rendered: a base, an overlay or the monitoring objects."""
    return render(DEPLOY / target)
