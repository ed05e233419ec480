"""deploy/components/antrea-aks-runtime after antrea-aks, over the stand-in of Antrea's
antrea-aks.yml: rendered with `kubectl kustomize`, strictly validated, its settings parsed by
the real parser; and antrea-aks without it stays as it was (no socket, no record)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import kubernetes_validate
import pytest
import yaml

from chainfsm.cli import commands
from tests.support import antrea_standin
from tests.support.manifests import KUBERNETES_VERSION, Doc, by_name, config, pod_spec, render

AGENT = antrea_standin.FACTS["daemonset"]
SOCKET = "/run/containerd/containerd.sock"


def _render(root: Path, *components: str) -> list[Doc]:
    antrea_standin.layout(root)
    kustomization = {
        "resources": ["antrea-aks.yml"],
        "components": [f"components/{c}" for c in components],
    }
    (root / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return render(root)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> list[Doc]:
    return _render(tmp_path_factory.mktemp("runtime"), "antrea-aks", "antrea-aks-runtime")


@pytest.fixture(scope="module")
def without(tmp_path_factory: pytest.TempPathFactory) -> list[Doc]:
    return _render(tmp_path_factory.mktemp("plain"), "antrea-aks")


def test_every_rendered_object_validates_strictly(rendered: list[Doc]) -> None:
    for doc in rendered:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_socket_and_the_record_reach_the_chainfsm_container_alone(
    rendered: list[Doc], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = pod_spec(rendered, AGENT)
    volumes = by_name(spec["volumes"])
    containers = by_name(spec["containers"])
    mounts = {m["mountPath"]: m for m in containers["chainfsm"]["volumeMounts"]}
    socket = volumes[mounts[SOCKET]["name"]]["hostPath"]
    assert socket == {"path": SOCKET, "type": "Socket"}
    assert mounts[SOCKET]["readOnly"] is True
    for env, value in config(rendered).items():
        monkeypatch.setenv(env, value)
    settings = commands.settings_from(commands.build_parser().parse_args(["run"]))
    assert str(settings.cri_socket) == SOCKET
    assert settings.repair_unchained == "off"
    # The record lies on a hostPath under the node's /run: kept across restarts, not reboots.
    record_dir = str(PurePosixPath(settings.record_file).parent)
    record = volumes[mounts[record_dir]["name"]]["hostPath"]
    assert record["path"].startswith("/run/")
    assert not mounts[record_dir].get("readOnly", False)
    # Antrea's own containers do not get the socket.
    socket_volumes = {n for n, v in volumes.items() if v.get("hostPath", {}).get("path") == SOCKET}
    for name, container in containers.items():
        if name != "chainfsm":
            assert not {m["name"] for m in container.get("volumeMounts", [])} & socket_volumes


def test_without_the_component_there_is_no_socket_and_no_record(
    rendered: list[Doc], without: list[Doc]
) -> None:
    assert "CHAINFSM_CRI_SOCKET" not in config(without)
    plain = pod_spec(without, AGENT)
    assert SOCKET not in str(plain)
    # The component adds exactly its two volumes and its settings, nothing else.
    added = set(by_name(pod_spec(rendered, AGENT)["volumes"])) - set(by_name(plain["volumes"]))
    assert added == {"chainfsm-cri-socket", "chainfsm-record"}
    extra = set(config(rendered).items()) - set(config(without).items())
    assert {key for key, _ in extra} == {
        "CHAINFSM_CRI_SOCKET",
        "CHAINFSM_RECORD_FILE",
        "CHAINFSM_REPAIR_UNCHAINED",
    }
