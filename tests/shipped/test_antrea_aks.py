"""deploy/components/antrea-aks over Antrea's own antrea-agent DaemonSet: rendered with
`kubectl kustomize` over a stand-in built from the facts of Antrea's antrea-aks.yml (same
objects, containers, volumes and image), strictly validated, and held to what the component
promises: chainfsm is the one writer of 05-antrea.conflist, and Antrea's install-cni's other
two jobs (the antrea binary, the openvswitch module) still happen."""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path, PurePosixPath

import kubernetes_validate
import pytest
import yaml

from chainfsm.cli import commands
from chainfsm.core import chaining
from tests.support import antrea_standin
from tests.support.constants import DEPLOY
from tests.support.host_ports import clashes
from tests.support.manifests import KUBERNETES_VERSION, Doc, by_name, config, kubectl, one, pod_spec
from tests.support.manifests import render as render_dir

FACTS = antrea_standin.FACTS
AGENT = FACTS["daemonset"]
INIT = "install-antrea-cni"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> list[Doc]:
    return antrea_standin.render_component(tmp_path_factory.mktemp("component"))


def test_every_rendered_object_validates_strictly(rendered: list[Doc]) -> None:
    assert {(d["kind"], d["metadata"]["name"].split("-")[0]) for d in rendered} == {
        ("ConfigMap", "antrea"),
        ("ConfigMap", "chainfsm"),
        ("DaemonSet", "antrea"),
        ("ClusterRole", "chainfsm"),
        ("ClusterRoleBinding", "chainfsm"),
    }
    for doc in rendered:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_chainfsm_is_the_one_writer_of_the_conf_dir(rendered: list[Doc]) -> None:
    spec = pod_spec(rendered, AGENT)
    containers = by_name(spec["containers"])
    assert "install-cni" not in containers
    everything = [*spec["initContainers"], *spec["containers"]]
    assert not any("install_cni_chaining" in str(c.get("command")) for c in everything)
    writers = [
        c["name"]
        for c in everything
        for m in c.get("volumeMounts", [])
        if m["name"] == "host-cni-conf" and not m.get("readOnly", False)
    ]
    assert writers == ["chainfsm"]


def test_antrea_s_own_containers_volumes_and_config_are_left_alone(rendered: list[Doc]) -> None:
    before = antrea_standin.daemonset()["spec"]["template"]["spec"]
    after = pod_spec(rendered, AGENT)
    for name in ("antrea-agent", "antrea-ovs"):
        assert by_name(after["containers"])[name] == by_name(before["containers"])[name]
    kept = by_name(after["volumes"])
    for volume in before["volumes"]:
        # install-cni's /lib/modules goes with it (the init container has its own).
        if volume["name"] == "host-lib-modules":
            assert volume["name"] not in kept
        else:
            assert kept[volume["name"]] == volume
    assert one(rendered, "ConfigMap", "antrea-config") == antrea_standin.configmap()
    daemonset = one(rendered, "DaemonSet", AGENT)
    assert daemonset["metadata"]["namespace"] == FACTS["namespace"]
    assert after["hostNetwork"] is True


def test_the_init_container_takes_over_the_binary_and_the_module(rendered: list[Doc]) -> None:
    spec = pod_spec(rendered, AGENT)
    (init,) = spec["initContainers"]
    assert init["name"] == INIT
    # Antrea's own image, at whatever tag the manifest gives antrea-agent.
    assert init["image"] == by_name(spec["containers"])["antrea-agent"]["image"]
    assert init["image"] == antrea_standin.IMAGE
    volumes = by_name(spec["volumes"])
    mounts = {m["mountPath"]: m for m in init["volumeMounts"]}
    bin_mount = mounts["/host/opt/cni/bin"]
    assert volumes[bin_mount["name"]]["hostPath"]["path"] == "/opt/cni/bin"
    assert not bin_mount.get("readOnly", False)
    modules = mounts["/lib/modules"]
    assert volumes[modules["name"]]["hostPath"]["path"] == "/lib/modules"
    assert modules["readOnly"] is True
    security = init["securityContext"]
    assert security["capabilities"] == {"drop": ["ALL"], "add": ["SYS_MODULE"]}
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False


def _run_init(
    rendered: list[Doc], tmp_path: Path, env: dict[str, str], modprobe: int
) -> tuple[subprocess.CompletedProcess[str], Path, Path]:
    """The init container's own command, with the image's and the host's paths moved into
    ``tmp_path`` and a modprobe that records its arguments and exits with ``modprobe``."""
    (init,) = pod_spec(rendered, AGENT)["initContainers"]
    binary = FACTS["chaining"]["binary_installed_as"]
    image_bin, host_bin, tools = tmp_path / "image", tmp_path / "host-bin", tmp_path / "tools"
    for directory in (image_bin, host_bin, tools):
        directory.mkdir()
    (image_bin / "antrea-cni").write_text("#!/bin/sh\necho antrea\n")
    called = tmp_path / "modprobe.args"
    (tools / "modprobe").write_text(f'#!/bin/sh\necho "$@" >> {called}\nexit {modprobe}\n')
    (tools / "modprobe").chmod(0o755)
    script = init["args"][0]
    assert binary[0] in script
    assert str(PurePosixPath(binary[1]).parent) in script
    script = script.replace(binary[0], str(image_bin / "antrea-cni"))
    script = script.replace(str(PurePosixPath(binary[1]).parent), str(host_bin))
    done = subprocess.run(
        [*init["command"], script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": f"{tools}:/usr/bin:/bin", **env},
    )
    return done, host_bin, called


def test_the_init_script_installs_antrea_and_loads_openvswitch(
    rendered: list[Doc], tmp_path: Path
) -> None:
    done, host_bin, called = _run_init(rendered, tmp_path, {}, modprobe=0)
    assert done.returncode == 0, done.stderr
    _, target, mode = FACTS["chaining"]["binary_installed_as"]
    installed = host_bin / PurePosixPath(target).name
    assert installed.read_text() == "#!/bin/sh\necho antrea\n"
    assert installed.stat().st_mode & 0o777 == int(mode, 8)
    assert [p.name for p in host_bin.iterdir()] == ["antrea"], "no temp file left behind"
    assert called.read_text().split() == [FACTS["chaining"]["kernel_module"]]


def test_the_init_script_honours_skip_loading_kernel_modules(
    rendered: list[Doc], tmp_path: Path
) -> None:
    skip = {FACTS["chaining"]["skip_module_env"]: "1"}
    done, host_bin, called = _run_init(rendered, tmp_path, skip, modprobe=1)
    assert done.returncode == 0, done.stderr
    assert (host_bin / "antrea").is_file()
    assert not called.exists()


def test_the_init_script_fails_loudly_when_the_module_cannot_load(
    rendered: list[Doc], tmp_path: Path
) -> None:
    done, _, _ = _run_init(rendered, tmp_path, {}, modprobe=1)
    assert done.returncode == 1
    assert "cannot load the openvswitch module" in done.stderr


def test_the_chainfsm_container_is_probed_hardened_and_configured(
    rendered: list[Doc], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = pod_spec(rendered, AGENT)
    agent = by_name(spec["containers"])["chainfsm"]
    env = config(rendered)
    name = next(
        d["metadata"]["name"]
        for d in rendered
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("chainfsm-config")
    )
    assert agent["envFrom"] == [{"configMapRef": {"name": name}}]
    assert agent["args"] == ["run"]
    host, port = env["CHAINFSM_LISTEN"].rsplit(":", 1)
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        assert agent[probe]["httpGet"] == {"host": host, "path": path, "port": int(port)}
    security = agent["securityContext"]
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["privileged"] is False
    volumes = by_name(spec["volumes"])
    mounts = {m["mountPath"]: m for m in agent["volumeMounts"]}
    assert volumes[mounts["/etc/cni/net.d"]["name"]]["hostPath"]["path"] == "/etc/cni/net.d"
    assert volumes[mounts["/opt/cni/bin"]["name"]]["hostPath"]["path"] == "/opt/cni/bin"
    assert mounts["/opt/cni/bin"]["readOnly"] is True
    writable = {p for p, m in mounts.items() if not m.get("readOnly", False)}
    assert writable == {"/etc/cni/net.d", "/run/chainfsm"}
    assert "emptyDir" in volumes[mounts["/run/chainfsm"]["name"]]

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = commands.settings_from(commands.build_parser().parse_args(["run"]))
    assert (str(settings.net_dir), str(settings.bin_dir)) == ("/etc/cni/net.d", "/opt/cni/bin")
    assert settings.output == FACTS["chaining"]["output"]
    assert dict(settings.plugin) == FACTS["chaining"]["appended_plugin"]
    assert settings.rewrites == chaining.DEFAULT_REWRITES
    for key in ("CHAINFSM_READY_FILE", "CHAINFSM_DUMP_FILE"):
        assert str(PurePosixPath(env[key]).parent) in writable


def test_chainfsm_s_host_ports_clash_with_nothing_on_the_node(rendered: list[Doc]) -> None:
    """Antrea's own ports (10349-10351, NodePortLocal) and the CSI sidecars' are taken."""
    agent = by_name(pod_spec(rendered, AGENT)["containers"])["chainfsm"]
    assert [p["containerPort"] for p in agent["ports"]] == [10365, 10366]
    assert clashes(agent) == []


def _overlay(root: Path) -> tuple[Path, list[str]]:
    """The example overlay with Antrea's release manifest swapped for the stand-in, and the
    remote resources it named."""
    antrea_standin.layout(root)
    overlay = root / "overlays" / "antrea-aks"
    overlay.mkdir(parents=True)
    doc = yaml.safe_load((DEPLOY / "overlays" / "antrea-aks" / "kustomization.yaml").read_text())
    remote = [r for r in doc["resources"] if "://" in r]
    doc["resources"] = [r for r in doc["resources"] if "://" not in r] + ["antrea-aks.yml"]
    antrea_standin.write(overlay / "antrea-aks.yml")
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump(doc))
    return overlay, remote


def test_the_overlay_pins_antrea_s_release_and_sets_the_image(tmp_path: Path) -> None:
    overlay, remote = _overlay(tmp_path)
    assert FACTS["release_manifest"] in remote
    tag = antrea_standin.TAG
    assert all(f"/{tag}/" in url for url in remote), "every Antrea file from the same release"
    assert any(url.endswith("/antrea-aks-node-init.yml") for url in remote)
    docs = render_dir(overlay)
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    agent = by_name(pod_spec(docs, AGENT)["containers"])["chainfsm"]
    assert not agent["image"].startswith("localhost/")
    assert config(docs)["CHAINFSM_OUTPUT"] == "05-antrea.conflist"


def _post_render(chart: str, tmp_path: Path, image: str | None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": f"{Path(kubectl()).parent}:/usr/bin:/bin", "TMPDIR": str(tmp_path)}
    return subprocess.run(
        [DEPLOY / "helm" / "post-render"],
        input=chart,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**env, "CHAINFSM_IMAGE": image} if image is not None else env,
    )


def _mounts_name_volumes(docs: list[Doc]) -> None:
    """The API server refuses a pod whose mount names no volume; schema validation does not."""
    spec = pod_spec(docs, AGENT)
    volumes = by_name(spec["volumes"])
    for container in [*spec["initContainers"], *spec["containers"]]:
        for mount in container.get("volumeMounts", []):
            assert mount["name"] in volumes, (container["name"], mount["name"])


def _users(spec: Doc, volume: str) -> set[str]:
    """The containers of ``spec`` that mount ``volume``."""
    return {
        container["name"]
        for container in [*(spec.get("initContainers") or []), *spec["containers"]]
        for mount in container.get("volumeMounts", [])
        if mount["name"] == volume
    }


def _mounted_only_by_install_cni(spec: Doc, volume: str) -> bool:
    return _users(spec, volume) == {"install-cni"}


def _every_volume_is_mounted(docs: list[Doc], before: Doc) -> None:
    """The component leaves no host path that nothing mounts (held for nothing): the hostPath
    volumes unmounted after it are those the stand-in (which lists only the mounts its facts
    need) leaves unmounted itself."""

    def unmounted(spec: Doc) -> set[str]:
        return {
            v["name"] for v in spec["volumes"] if "hostPath" in v and not _users(spec, v["name"])
        }

    assert unmounted(pod_spec(docs, AGENT)) == unmounted(before)


def test_every_mount_names_a_volume(rendered: list[Doc]) -> None:
    _mounts_name_volumes(rendered)


def test_every_volume_is_mounted_by_a_container(rendered: list[Doc]) -> None:
    before = antrea_standin.daemonset()["spec"]["template"]["spec"]
    assert _mounted_only_by_install_cni(before, "host-lib-modules")
    _every_volume_is_mounted(rendered, before)


def test_the_helm_post_renderer_applies_the_same_component(
    rendered: list[Doc], tmp_path: Path
) -> None:
    image = "registry.example/chainfsm:1.2.3"
    done = _post_render(antrea_standin.manifest(), tmp_path, image)
    assert done.returncode == 0, done.stderr
    docs = [d for d in yaml.safe_load_all(done.stdout) if d]
    expected = copy.deepcopy(one(rendered, "DaemonSet", AGENT))
    by_name(expected["spec"]["template"]["spec"]["containers"])["chainfsm"]["image"] = image
    assert one(docs, "DaemonSet", AGENT) == expected
    assert list(tmp_path.iterdir()) == [], "its temp dir is removed"

    unset = _post_render("", tmp_path, None)
    assert unset.returncode != 0
    assert "CHAINFSM_IMAGE" in unset.stderr
    digest = _post_render("", tmp_path, "registry.example/chainfsm@sha256:" + "0" * 64)
    assert digest.returncode == 2
    assert "not a digest" in digest.stderr


def test_helm_s_dont_load_kernel_modules_carries_over(tmp_path: Path) -> None:
    """agent.dontLoadKernelModules: the chart sets SKIP_LOADING_KERNEL_MODULES on install-cni
    and leaves out host-lib-modules; the init container that replaces it must skip modprobe
    too, and the pod must still be one the API server accepts."""
    done = _post_render(antrea_standin.manifest_without_kernel_modules(), tmp_path, "r.example/c:1")
    assert done.returncode == 0, done.stderr
    docs = [d for d in yaml.safe_load_all(done.stdout) if d]
    kubernetes_validate.validate(one(docs, "DaemonSet", AGENT), KUBERNETES_VERSION, strict=True)
    _mounts_name_volumes(docs)
    chart = yaml.safe_load_all(antrea_standin.manifest_without_kernel_modules())
    _every_volume_is_mounted(docs, pod_spec([d for d in chart if d], AGENT))
    (init,) = pod_spec(docs, AGENT)["initContainers"]
    assert {"name": "SKIP_LOADING_KERNEL_MODULES", "value": "1"} in init["env"]


def test_the_deploy_doc_s_aks_section_says_what_antrea_and_the_component_do(
    rendered: list[Doc],
) -> None:
    deploy_doc = (DEPLOY.parent / "docs" / "deploy.md").read_text()
    start = deploy_doc.index("\n## Deploy on AKS with Antrea\n")
    section = deploy_doc[start : deploy_doc.index("\n## ", start + 1)]
    step = FACTS["containers"]["install-cni"]
    said = [
        # Antrea's chaining step, as its manifest has it: a long-running container, three jobs.
        "is **not an init container**",
        "`install-cni`",
        f"`{' '.join(step['command'] + step['args'])}`",
        *(f"`{cap}`" for cap in step["capabilities_add"]),
        f"`{FACTS['chaining']['skip_module_env']}`",
        f"`{FACTS['chaining']['kernel_module']}`",
        "`/opt/cni/bin/antrea`",
        # What the component puts in its place, by the names it renders.
        *(f"`{c['name']}`" for c in pod_spec(rendered, AGENT)["initContainers"]),
        "**container `chainfsm`**",
        # Versions and alternatives.
        "#6499",
        "#6506",
        "2.1.0",
        "from Antrea 2.5",
        antrea_standin.TAG,
        "`antrea-node-init`",
        "`encap` mode",
    ]
    missing = [words for words in said if words not in section]
    assert missing == []


@pytest.mark.parametrize("name", ["antrea-aks", "example-eks-cilium"])
def test_an_overlay_copied_as_its_comment_says_still_renders(tmp_path: Path, name: str) -> None:
    """An overlay names its component or base by a relative path: the copy its comment tells
    of must keep that path true (run here as written, in a dir holding a checkout's deploy/)."""
    text = (DEPLOY / "overlays" / name / "kustomization.yaml").read_text()
    (command,) = [
        line[1:].split("#")[0].split()
        for line in text.splitlines()
        if line.startswith("#") and line[1:].split()[:2] == ["cp", "-r"]
    ]
    shutil.copytree(DEPLOY, tmp_path / "deploy")
    subprocess.run(command, cwd=tmp_path, check=True, timeout=60)
    shutil.rmtree(tmp_path / "deploy")  # only the copy is left to render
    copied = tmp_path / command[-1] / "overlays" / name
    doc = yaml.safe_load((copied / "kustomization.yaml").read_text())
    if any("://" in r for r in doc["resources"]):  # Antrea's release: the stand-in instead
        doc["resources"] = [r for r in doc["resources"] if "://" not in r] + ["antrea-aks.yml"]
        antrea_standin.write(copied / "antrea-aks.yml")
        (copied / "kustomization.yaml").write_text(yaml.safe_dump(doc))
    (daemonset,) = [d for d in render_dir(copied) if d["kind"] == "DaemonSet"]
    assert "chainfsm" in by_name(daemonset["spec"]["template"]["spec"]["containers"])
