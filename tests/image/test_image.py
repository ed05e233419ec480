"""The container image, built for real with buildah (scripts/build-image) and run against a
conf dir mounted from the host. Runs only as root with CHAINFSM_IMAGE_TEST=1 (.ci/run sets it):
a cold build makes a Debian base with debootstrap first (about a minute).

The final stage holds only what image/rootfs.py chose, so a module or library trimmed away by
mistake must fail here: every chainfsm module is imported inside the image, and every command
runs in it (the agent as uid 10001 and as root, with --listen, dump and the health check)."""

from __future__ import annotations

import asyncio
import json
import os
import pkgutil
import shutil
import signal
import socket
import subprocess
import tomllib
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name

import chainfsm
from tests.support.constants import (
    AZURE,
    HANG_GUARD,
    OUTPUT,
    PRIMARIES_DIR,
    ROOT,
    RUNNABLE_FIXTURE,
)
from tests.support.containerd_daemon import Containerd, require_containerd
from tests.support.gate import CNI_BIN_DIR, need
from tests.support.requirements_lock import pins

# slow: every test here waits on the image build (a minute cold) and a container run.
pytestmark = pytest.mark.slow

# A tag of this run's own: helpers building from other checkouts on one machine share
# buildah's storage, and must not test each other's images.
IMAGE = f"localhost/chainfsm:test-{os.getpid()}"
IMAGE_UID = 10001  # the Dockerfile's USER
#: The budget for the image, uncompressed, as `buildah images` reports it (decimal MB).
MAX_IMAGE_BYTES = 60_000_000


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
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
    yield IMAGE
    subprocess.run(["buildah", "rmi", IMAGE], capture_output=True, check=False)


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
    shutil.copyfile(PRIMARIES_DIR / primary, net / name)
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
    net = conf_dir(tmp_path, "aks-overlay.10-azure.conflist", AZURE, IMAGE_UID)
    done = run_in(
        container,
        "chainfsm",
        "run",
        "--once",
        "--timeout",
        "60",
        "--log-format",
        "json",
        # /run/chainfsm as the image has it (no mount over it): the ready file and the dump's
        # pid file go there, and a failure to write either is only a warning line.
        mounts={net: "/etc/cni/net.d"},
        env={"CHAINFSM_READY_FILE": "/run/chainfsm/ready"},
    )
    assert done.returncode == 0, done.stderr
    assert not_info(done.stderr) == []
    primary = json.loads((net / AZURE).read_text())
    chained_path = net / OUTPUT
    chained = json.loads(chained_path.read_text())
    assert chained["name"] == primary["name"]
    assert chained["cniVersion"] == primary["cniVersion"]
    assert chained["plugins"] == [*primary["plugins"], {"type": "antrea"}]
    assert chained_path.stat().st_uid == IMAGE_UID
    assert sorted(p.name for p in net.iterdir()) == [OUTPUT, AZURE]
    assert '"dest": "Verified"' in done.stderr


def not_info(stderr: str) -> list[dict[str, Any]]:
    """The JSON log lines above info level (warnings and errors). buildah adds lines of its
    own ("subprocess exited with status 1") after a failed command: they are not the agent's."""
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    return [line for line in lines if line["level"] != "info"]


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
    assert not (net / OUTPUT).exists()


def test_run_once_fails_on_a_broken_primary_and_writes_nothing(
    container: str, tmp_path: Path
) -> None:
    net = tmp_path / "net.d"
    net.mkdir()
    (net / AZURE).write_bytes(b"")  # the half-written primary of the AKS race
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
    assert AZURE in done.stderr
    assert "Traceback" not in done.stderr
    assert [p.name for p in net.iterdir()] == [AZURE]


#: Where the deploy mounts the node's CNI bin dir (and sets CHAINFSM_BIN_DIR to).
NODE_BIN_DIR = "/opt/cni/bin"


def node_bin_dir() -> dict[Path, str]:
    """Debian's reference plugins, mounted read-only where the deploy mounts the node's: the
    agent then runs real plugin binaries (VERSION) from inside the image's root."""
    need(
        all(os.access(CNI_BIN_DIR / p, os.X_OK) for p in ("bridge", "portmap", "tuning")),
        f"needs the reference CNI plugins in {CNI_BIN_DIR} (apt-get install"
        " containernetworking-plugins)",
    )
    return {CNI_BIN_DIR: f"{NODE_BIN_DIR}:ro"}


def test_run_once_with_the_bin_dir_runs_every_plugin_of_the_chain_inside_the_image(
    container: str, tmp_path: Path
) -> None:
    """As deployed (CHAINFSM_BIN_DIR): Verified only once every plugin binary of the chain
    answered VERSION, each one started from the image's root."""
    net = conf_dir(tmp_path, "runnable.10-bridge.conflist", "10-bridge.conflist", IMAGE_UID)
    plugin = {"type": "tuning"}
    done = run_in(
        container,
        *("chainfsm", "run", "--once", "--timeout", "60", "--log-format", "json"),
        *("--plugin", json.dumps(plugin)),
        mounts={net: "/etc/cni/net.d", **node_bin_dir()},
        env={"CHAINFSM_BIN_DIR": NODE_BIN_DIR},
    )
    assert done.returncode == 0, done.stderr
    assert not_info(done.stderr) == []
    assert '"dest": "Verified"' in done.stderr
    chained = json.loads((net / OUTPUT).read_text())
    assert [p["type"] for p in chained["plugins"]] == ["bridge", "portmap", "tuning"]

    told = run_in(
        container,
        *("chainfsm", "explain", "--bin-dir", NODE_BIN_DIR, "--plugin", json.dumps(plugin)),
        mounts={net: "/etc/cni/net.d", **node_bin_dir()},
    )
    assert told.returncode == 0, told.stdout + told.stderr
    assert "NOT READY" not in told.stdout


def test_run_once_with_a_plugin_missing_from_the_bin_dir_fails_and_names_it(
    container: str, tmp_path: Path
) -> None:
    """Fail closed: the chain is written all the same (pods must not start without antrea),
    and the exit code and the error line say which binary is missing; explain says it too."""
    net = conf_dir(tmp_path, "runnable.10-bridge.conflist", "10-bridge.conflist", IMAGE_UID)
    mounts = {net: "/etc/cni/net.d", **node_bin_dir()}
    done = run_in(
        container,
        *("chainfsm", "run", "--once", "--timeout", "60", "--log-format", "json"),
        mounts=mounts,
        env={"CHAINFSM_BIN_DIR": NODE_BIN_DIR},
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    (failed,) = [line for line in not_info(done.stderr) if line.get("dest") == "Failed"]
    assert failed["trigger"] == "binary_missing"
    assert f'plugin "antrea" is not in {NODE_BIN_DIR}' in failed["reason"]
    chained = json.loads((net / OUTPUT).read_text())
    assert [p["type"] for p in chained["plugins"]] == ["bridge", "portmap", "antrea"]

    told = run_in(container, "chainfsm", "explain", "--bin-dir", NODE_BIN_DIR, mounts=mounts)
    assert told.returncode == 1, told.stderr
    assert f'binaries:     NOT READY: plugin "antrea" is not in {NODE_BIN_DIR}' in told.stdout


def test_a_script_plugin_is_said_unchecked_inside_the_image_not_missing(
    container: str, tmp_path: Path
) -> None:
    """The image has no /bin/sh: a `#!/bin/sh` plugin on the node cannot be asked VERSION
    from inside it, although the runtime on the host runs it. The agent says so, names the
    interpreter, and is Verified (docs/design.md#where-the-binary-check-runs)."""
    net = conf_dir(tmp_path, "runnable.10-bridge.conflist", "10-bridge.conflist", IMAGE_UID)
    node_bin = tmp_path / "bin"
    node_bin.mkdir()
    node_bin_dir()  # needs the reference plugins, as the tests above
    for name in ("bridge", "portmap"):
        shutil.copy2(CNI_BIN_DIR / name, node_bin / name)
    script = node_bin / "antrea"
    script.write_text('#!/bin/sh\ncat > /dev/null\necho \'{"cniVersion":"1.0.0"}\'\n')
    script.chmod(0o755)
    done = run_in(
        container,
        *("chainfsm", "run", "--once", "--timeout", "60", "--log-format", "json"),
        mounts={net: "/etc/cni/net.d", node_bin: f"{NODE_BIN_DIR}:ro"},
        env={"CHAINFSM_BIN_DIR": NODE_BIN_DIR},
    )
    assert done.returncode == 0, done.stderr
    (warned,) = not_info(done.stderr)
    assert warned["event"] == "binary_unchecked"
    assert warned["reason"].startswith(
        f'plugin "antrea" ({NODE_BIN_DIR}/antrea) is a script for /bin/sh, which the'
        " agent's own filesystem does not have"
    )
    assert '"dest": "Verified"' in done.stderr


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
    # Only the docker format keeps HEALTHCHECK. Exec form: there is no shell to run a string.
    # What it does is tested by running it (test_the_agent_serves_dumps_and_turns_healthy).
    assert health_check(image)[0] == "python3"


def size_bytes(shown: str) -> float:
    """A size as `buildah images` prints it ("34.7 MB": decimal units)."""
    number, unit = shown.split()
    return float(number) * {"B": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9}[unit]


def test_image_is_within_its_size_budget(image: str) -> None:
    listed = subprocess.run(
        ["buildah", "images", "--json", image], capture_output=True, text=True, check=True
    )
    shown = json.loads(listed.stdout)[0]["size"]
    assert size_bytes(shown) <= MAX_IMAGE_BYTES, f"{image} is {shown}, over the 60 MB budget"


@pytest.fixture
def rootfs(container: str) -> Iterator[Path]:
    """The container's root filesystem, mounted on the host to look at (never run from)."""
    mounted = subprocess.run(
        ["buildah", "mount", container], capture_output=True, text=True, check=True
    )
    yield Path(mounted.stdout.strip())
    subprocess.run(["buildah", "umount", container], capture_output=True, check=False)


#: Names that must not be anywhere in the final image: shells and coreutils, package
#: managers, pip and setuptools, compilers, docs, and stdlib parts only developers use.
FORBIDDEN = {
    *("sh", "bash", "dash", "busybox", "test", "ls", "cat", "env"),
    *("apt", "apt-get", "dpkg", "pip", "pip3", "setuptools", "ensurepip", "_distutils_hack"),
    *("gcc", "cc", "c++", "clang", "make", "ldd", "ldconfig"),
    *("doc", "man", "info", "locale"),
    *("idlelib", "tkinter", "lib2to3", "pydoc_data", "unittest", "distutils"),
}


def test_image_holds_no_shell_package_manager_pip_or_docs(rootfs: Path) -> None:
    found = []
    for parent, dirs, files in os.walk(rootfs):  # symlinks are not followed
        for name in [*dirs, *files]:
            stem = name.split("-", 1)[0] if name.endswith(".dist-info") else name
            if stem in FORBIDDEN:
                found.append(str(Path(parent, name).relative_to(rootfs)))
    assert found == []
    assert not (rootfs / "var").exists()  # no package database, caches or logs


def test_the_run_dir_belongs_to_the_image_user(rootfs: Path) -> None:
    """The ready file and the dump go to /run/chainfsm, unmounted under docker run: the image
    user must be able to write there, or they fail with only a warning line."""
    run_dir = (rootfs / "run" / "chainfsm").stat()
    assert (run_dir.st_uid, run_dir.st_gid, run_dir.st_mode & 0o700) == (
        IMAGE_UID,
        IMAGE_UID,
        0o700,
    )


def test_image_holds_the_locked_versions(container: str) -> None:
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


def test_every_chainfsm_module_imports_inside_the_image(container: str) -> None:
    names = sorted(
        info.name
        for info in pkgutil.walk_packages(chainfsm.__path__, "chainfsm.")
        if info.name != "chainfsm.__main__"  # runs the command line
    )
    code = (
        "import importlib, sys\n"
        "for name in sys.argv[1:]:\n"
        "    importlib.import_module(name)\n"
        "print(len(sys.argv) - 1)"
    )
    done = run_in(container, "python3", "-W", "error", "-c", code, *names)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(len(names))
    assert "chainfsm.process.metrics" in names  # which imports prometheus_client


def test_run_once_in_the_image_is_confirmed_by_a_real_containerd(
    container: str, tmp_path: Path
) -> None:
    """--cri-socket from inside the image (grpclib and the CRI client as installed): the host's
    dir mounted at the same path, as the manifests do, and the socket beside it. As uid 0, as
    deployed: the runtime's socket is root's."""
    require_containerd()
    base = tmp_path / "ctd"
    base.mkdir()
    net = conf_dir(base, RUNNABLE_FIXTURE, AZURE, 0)
    runtime = Containerd(base, net)
    try:
        args = ["--net-dir", str(net), "--plugin", '{"type":"tuning"}']
        done = run_in(
            container,
            "chainfsm",
            "run",
            "--once",
            "--log-format",
            "text",
            *args,
            "--cri-socket",
            str(runtime.socket),
            mounts={base: str(base)},
            user="0",
        )
        assert done.returncode == 0, done.stderr
        assert f"the runtime loaded {OUTPUT} as we wrote it" in done.stderr
        missing = run_in(
            container,
            "chainfsm",
            "explain",
            *args,
            "--cri-socket",
            "/run/no-such.sock",
            mounts={base: str(base)},
            user="0",
        )
        assert missing.returncode == 1, missing.stderr
        assert "could not be asked: no CRI socket at /run/no-such.sock" in missing.stdout
    finally:
        runtime.stop()


def test_one_shot_commands_run_inside_the_image(container: str, tmp_path: Path) -> None:
    """validate, render, explain, diagram and demo: each one as a user runs it."""
    net = conf_dir(tmp_path, "aks-overlay.10-azure.conflist", AZURE, IMAGE_UID)
    (net / "bad.conflist").write_bytes(b"")
    mounts = {net: "/etc/cni/net.d"}

    version = run_in(container, "chainfsm", "--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("chainfsm ")

    good = run_in(
        container, "chainfsm", "validate", "/etc/cni/net.d/10-azure.conflist", mounts=mounts
    )
    assert good.returncode == 0, good.stderr
    bad = run_in(container, "chainfsm", "validate", "/etc/cni/net.d/bad.conflist", mounts=mounts)
    assert bad.returncode == 1
    assert "bad.conflist" in bad.stdout + bad.stderr
    assert "Traceback" not in bad.stderr
    (net / "bad.conflist").unlink()

    rendered = run_in(container, "chainfsm", "render", mounts=mounts)
    assert rendered.returncode == 0, rendered.stderr
    assert json.loads(rendered.stdout)["plugins"][-1] == {"type": "antrea"}

    # Nothing written yet: the runtime would load the primary alone, so explain says no.
    told = run_in(container, "chainfsm", "explain", "--json", mounts=mounts)
    assert told.returncode == 1, told.stderr
    assert json.loads(told.stdout)["output"] == OUTPUT
    text = run_in(container, "chainfsm", "explain", mounts=mounts)
    assert text.returncode == 1, text.stderr
    assert "verdict:" in text.stdout

    drawn = run_in(container, "chainfsm", "diagram")
    assert drawn.returncode == 0, drawn.stderr
    assert "stateDiagram" in drawn.stdout
    # dot needs the graphviz package, which the image does not hold: one line says so.
    dot = run_in(container, "chainfsm", "diagram", "--format", "dot")
    assert dot.returncode == 1
    assert "graphviz" in dot.stderr
    assert "Traceback" not in dot.stderr

    played = run_in(container, "chainfsm", "demo")
    assert played.returncode == 0, played.stderr
    assert "every step was a defined transition" in played.stdout + played.stderr


def health_check(image: str) -> list[str]:
    """The image's HEALTHCHECK command, without the CMD marker."""
    test: list[str] = inspect(image)["Docker"]["config"]["Healthcheck"]["Test"]
    assert test[0] == "CMD"
    return test[1:]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def until_verified(stderr: asyncio.StreamReader) -> None:
    async with asyncio.timeout(HANG_GUARD):
        while True:
            raw = await stderr.readline()
            assert raw, "the agent exited before Verified"
            line = json.loads(raw)
            if line.get("event") == "transition" and line.get("dest") == "Verified":
                return


@pytest.mark.parametrize("uid", [IMAGE_UID, 0], ids=["image-user", "root"])
async def test_the_agent_serves_dumps_and_turns_healthy(
    image: str, container: str, tmp_path: Path, uid: int
) -> None:
    """The long-running agent as uid 10001, and as root as the manifests run it: --listen
    answers, `chainfsm dump` reaches it from another process (as the same user), the
    HEALTHCHECK fails before Verified and passes in it, and SIGTERM stops it with exit 0."""
    net = conf_dir(tmp_path, "aks-overlay.10-azure.conflist", AZURE, uid)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    os.chown(run_dir, uid, uid)
    mounts = {net: "/etc/cni/net.d", run_dir: "/run/chainfsm"}
    user = f"{uid}:{uid}"
    check = health_check(image)
    before = await asyncio.to_thread(run_in, container, *check, mounts=mounts, user=user)
    assert before.returncode == 1, before.stderr

    port = free_port()
    args = ["buildah", "run", "--isolation", "chroot", "--user", user]
    for host, inside in mounts.items():
        args += ["-v", f"{host}:{inside}"]
    agent = await asyncio.create_subprocess_exec(
        *args,
        container,
        "--",
        "chainfsm",
        "run",
        "--listen",
        f"127.0.0.1:{port}",
        "--log-format",
        "json",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert agent.stderr is not None
        await until_verified(agent.stderr)
        after = await asyncio.to_thread(run_in, container, *check, mounts=mounts, user=user)
        assert after.returncode == 0, after.stderr

        def get(path: str) -> tuple[int, str]:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as reply:
                return reply.status, reply.read().decode()

        assert (await asyncio.to_thread(get, "/healthz"))[0] == 200
        status, body = await asyncio.to_thread(get, "/readyz")
        assert (status, body.split(":")[0]) == (200, "Verified")
        _, metrics = await asyncio.to_thread(get, "/metrics")
        assert 'chainfsm_state{state="Verified"} 1.0' in metrics

        dumped = await asyncio.to_thread(
            run_in, container, "chainfsm", "dump", mounts=mounts, user=user
        )
        assert dumped.returncode == 0, dumped.stderr
        assert json.loads(dumped.stdout)["state"] == "Verified"

        # The pid namespace is the host's (chroot isolation): stop the agent as a runtime would.
        pid = int((run_dir / "dump.json.pid").read_text().split()[0])  # "PID STARTTIME"
        os.kill(pid, signal.SIGTERM)
        async with asyncio.timeout(HANG_GUARD):
            assert await agent.wait() == 0
    finally:
        if agent.returncode is None:
            agent.kill()
            await agent.wait()
    assert json.loads((net / OUTPUT).read_text())["plugins"][-1] == {"type": "antrea"}
