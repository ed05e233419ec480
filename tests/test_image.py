"""The container image, built for real with buildah (scripts/build-image) and run against a
conf dir mounted from the host. Runs only as root with CHAINFSM_IMAGE_TEST=1 (.ci/run sets it):
a cold build makes a Debian base with debootstrap first (about a minute)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name
from runtime import need
from test_lock import pins

ROOT = Path(__file__).resolve().parent.parent
PRIMARIES = Path(__file__).resolve().parent / "testdata" / "primaries"
IMAGE = "localhost/chainfsm:test"
IMAGE_UID = 10001  # the Dockerfile's USER

if os.environ.get("CHAINFSM_IMAGE_TEST") != "1":
    pytest.skip(
        "the image build test runs only with CHAINFSM_IMAGE_TEST=1 (as root; .ci/run sets it)",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def image() -> str:
    need(os.geteuid() == 0, "building the image with buildah needs root")
    need(shutil.which("buildah"), "buildah is not installed (Debian package buildah)")
    need(shutil.which("debootstrap"), "debootstrap is not installed (Debian package debootstrap)")
    built = subprocess.run(
        [str(ROOT / "scripts" / "build-image"), IMAGE],
        capture_output=True,
        text=True,
        timeout=1800,  # a hang guard; a cold build takes about a minute
        check=False,
    )
    assert built.returncode == 0, f"scripts/build-image failed:\n{built.stderr[-4000:]}"
    return IMAGE


@pytest.fixture
def container(image: str) -> Iterator[str]:
    """A working container of the image (buildah's, not started: each run is one command)."""
    made = subprocess.run(
        ["buildah", "from", "--pull=never", image], capture_output=True, text=True, check=True
    )
    name = made.stdout.strip()
    yield name
    subprocess.run(["buildah", "rm", name], capture_output=True, check=False)


def run_in(
    container: str,
    *command: str,
    mounts: dict[Path, str] | None = None,
    env: dict[str, str] | None = None,
    user: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run one command in the container. buildah run applies the image's USER, ENV and WORKDIR
    but not its ENTRYPOINT, so ``command`` starts with ``chainfsm`` as the entrypoint would."""
    args = ["buildah", "run", "--isolation", "chroot"]
    for host, inside in (mounts or {}).items():
        args += ["-v", f"{host}:{inside}"]
    for key, value in (env or {}).items():
        args += ["-e", f"{key}={value}"]
    if user is not None:
        args += ["--user", user]
    return subprocess.run(
        [*args, container, "--", *command],
        capture_output=True,
        text=True,
        timeout=300,  # a hang guard
        check=False,
    )


def inspect(image: str) -> dict[str, Any]:
    shown = subprocess.run(
        ["buildah", "inspect", "--type", "image", image], capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(shown.stdout)
    return result


def conf_dir(tmp_path: Path, primary: str, name: str, owner: int) -> Path:
    net = tmp_path / "net.d"
    net.mkdir()
    shutil.copyfile(PRIMARIES / primary, net / name)
    os.chown(net, owner, owner)
    return net


def test_help_runs_inside_the_image(container: str) -> None:
    shown = run_in(container, "chainfsm", "--help")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("usage: chainfsm")
    assert "run" in shown.stdout


def test_run_once_chains_a_mounted_conf_dir_as_the_image_user(
    container: str, tmp_path: Path
) -> None:
    net = conf_dir(tmp_path, "aks-overlay.10-azure.conflist", "10-azure.conflist", IMAGE_UID)
    done = run_in(
        container,
        "chainfsm",
        "run",
        "--once",
        "--timeout",
        "60",
        "--log-format",
        "json",
        mounts={net: "/etc/cni/net.d"},
    )
    assert done.returncode == 0, done.stderr
    primary = json.loads((net / "10-azure.conflist").read_text())
    chained_path = net / "05-antrea.conflist"
    chained = json.loads(chained_path.read_text())
    assert chained["name"] == primary["name"]
    assert chained["cniVersion"] == primary["cniVersion"]
    assert chained["plugins"] == [*primary["plugins"], {"type": "antrea"}]
    assert chained_path.stat().st_uid == IMAGE_UID
    assert sorted(p.name for p in net.iterdir()) == ["05-antrea.conflist", "10-azure.conflist"]
    assert '"dest": "Verified"' in done.stderr


def test_run_once_takes_its_settings_from_the_environment_as_root(
    container: str, tmp_path: Path
) -> None:
    """As the manifests run it: uid 0, settings from CHAINFSM_* variables."""
    net = conf_dir(tmp_path, "eks.10-aws.conflist", "10-aws.conflist", 0)
    plugin = {"type": "cilium-cni", "chaining-mode": "aws-cni"}
    done = run_in(
        container,
        "chainfsm",
        "run",
        "--once",
        "--timeout",
        "60",
        mounts={net: "/etc/cni/net.d"},
        env={
            "CHAINFSM_OUTPUT": "05-cilium.conflist",
            "CHAINFSM_PLUGIN": json.dumps(plugin),
            "CHAINFSM_PRIMARY": "10-aws.conflist",
        },
        user="0:0",
    )
    assert done.returncode == 0, done.stderr
    chained_path = net / "05-cilium.conflist"
    assert json.loads(chained_path.read_text())["plugins"][-1] == plugin
    assert chained_path.stat().st_uid == 0
    assert not (net / "05-antrea.conflist").exists()


def test_run_once_fails_on_a_broken_primary_and_writes_nothing(
    container: str, tmp_path: Path
) -> None:
    net = tmp_path / "net.d"
    net.mkdir()
    (net / "10-azure.conflist").write_bytes(b"")  # the half-written primary of the AKS race
    os.chown(net, IMAGE_UID, IMAGE_UID)
    done = run_in(
        container,
        "chainfsm",
        "run",
        "--once",
        "--timeout",
        "120",
        "--log-format",
        "text",
        mounts={net: "/etc/cni/net.d"},
        env={"CHAINFSM_RETRY_ATTEMPTS": "2", "CHAINFSM_BACKOFF_INITIAL": "0.01"},
    )
    assert done.returncode == 1, done.stderr
    assert "10-azure.conflist" in done.stderr
    assert "Traceback" not in done.stderr
    assert [p.name for p in net.iterdir()] == ["10-azure.conflist"]


def test_image_config(image: str) -> None:
    data = inspect(image)
    config = data["OCIv1"]["config"]
    assert config["Entrypoint"] == ["chainfsm"]
    assert config["Cmd"] == ["run"]
    assert config["User"] == f"{IMAGE_UID}:{IMAGE_UID}"
    assert config["StopSignal"] == "SIGTERM"
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    labels = config["Labels"]
    assert labels["org.opencontainers.image.title"] == "chainfsm"
    assert labels["org.opencontainers.image.version"] == version
    # Only the docker format keeps HEALTHCHECK; it tests the ready file the agent keeps.
    env = dict(item.split("=", 1) for item in config["Env"])
    health = data["Docker"]["config"]["Healthcheck"]["Test"]
    assert health == ["CMD", "test", "-e", env["CHAINFSM_READY_FILE"]]


def test_image_holds_the_locked_versions_and_no_compilers_or_caches(container: str) -> None:
    listed = run_in(
        container,
        "/opt/venv/bin/python",
        "-c",
        "import importlib.metadata as m, json;"
        " print(json.dumps({d.metadata['Name'].lower(): d.version for d in m.distributions()}))",
    )
    assert listed.returncode == 0, listed.stderr
    installed: dict[str, str] = {
        canonicalize_name(k): v for k, v in json.loads(listed.stdout).items()
    }
    locked = pins()
    locked.pop("setuptools")  # the build backend: used in the build stage, not installed
    assert installed == {**locked, "chainfsm": installed["chainfsm"]}
    looked = run_in(
        container,
        "sh",
        "-c",
        "for c in gcc cc c++ clang make; do command -v $c; done;"
        " ls -d /root/.cache /opt/venv/bin/pip /var/cache/apt/archives/*.deb 2>/dev/null; true",
        user="0:0",
    )
    assert looked.returncode == 0, looked.stderr
    assert looked.stdout == ""
