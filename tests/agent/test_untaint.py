"""``--untaint``: a real agent on a real conf dir, and the node in a stand-in API server over
HTTPS on loopback (tests/support/kube_standin.py; CI has no live cluster). The node carries
our start-up taint and another's; ours goes once the chain is Verified and not before, the
other's stays, a change by another client between our read and our patch survives, and no
API problem (RBAC, a wrong node name, 5xx, a slow or unreachable API) stops the chain."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import logging
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from chainfsm.agent.agent import Agent
from chainfsm.core.states import State
from chainfsm.edge import nodes
from chainfsm.process import lifecycle, state_dump, untainting
from chainfsm.settings import Settings
from tests.support import cri_wire, kube_standin
from tests.support.agent_process import agent_process
from tests.support.constants import AKS_FIXTURE, AZURE, HANG_GUARD, OUTPUT, PRIMARIES_DIR
from tests.support.fake_cri import fake_runtime
from tests.support.guarded_agent import record, until
from tests.support.kube_standin import Fault, StandIn, taint
from tests.support.loopback_http import http_get
from tests.support.manifests import KUBERNETES_VERSION
from tests.support.process_imports import imported
from tests.support.seams import InstantBackoff

NODE = "aks-user-12345678-vmss000000"
OURS = "chainfsm.io/chain-not-ready"
#: Another component's taint on the same node (a GPU pool's, say): never ours to touch.
OTHERS = taint("sku", "NoSchedule", "gpu")
#: Seconds for one request in these tests: a held answer times out at once.
SHORT = 0.5


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[StandIn]:
    tls_dir = tmp_path / "tls"
    tls_dir.mkdir()
    server = StandIn(kube_standin.make_tls(tls_dir))
    server.add_node(NODE, [taint(OURS), OTHERS, taint(OURS, "NoExecute")])
    with server.serving():
        yield server


@pytest.fixture
def settings(net_dir: Path, tmp_path: Path, standin: StandIn) -> Settings:
    """--untaint for the stand-in's node, through a kubeconfig for the stand-in."""
    return settings_for(net_dir, standin.kubeconfig(tmp_path))


def settings_for(net_dir: Path, kubeconfig: Path, **overrides: Any) -> Settings:
    given: dict[str, Any] = {"untaint": OURS, "node_name": NODE, **overrides}
    return Settings(net_dir=net_dir, kubeconfig=kubeconfig, **given)


class Node:
    """An agent with --untaint, its untainter, its transitions."""

    def __init__(self, agent: Agent, untainter: untainting.Untainter) -> None:
        self.agent = agent
        self.untainter = untainter
        self.transitions = record(agent)

    async def until(self, holds: Callable[[untainting.Untainter], bool]) -> None:
        """Wait for the untainter's view to satisfy ``holds`` (it says each change)."""
        async with asyncio.timeout(HANG_GUARD):
            while not holds(self.untainter):
                self.untainter.changed.clear()
                await self.untainter.changed.wait()

    async def verified(self, net_dir: Path) -> None:
        (net_dir / AZURE).write_bytes((PRIMARIES_DIR / AKS_FIXTURE).read_bytes())
        await until(self.transitions, dest=State.Verified.value)

    async def lifted(self, net_dir: Path) -> None:
        """Verified, then the untainter done (the API said none of ours is left)."""
        await self.verified(net_dir)
        await self.until(lambda u: u.done)


@contextlib.asynccontextmanager
async def node(settings: Settings) -> AsyncIterator[Node]:
    # The API's backoff is seconds; here a hundredth, and none for the agent's retries.
    backoff = InstantBackoff()
    untainter = untainting.Untainter(settings, environ={}, timeout=SHORT, backoff=backoff)
    agent = Agent(settings, backoff=backoff, untaint_view=untainter.view)
    running = Node(agent, untainter)
    async with lifecycle.lifts_taint(agent, untainter):
        task = asyncio.create_task(agent.run())
        await asyncio.wait_for(agent.ready.wait(), HANG_GUARD)
        try:
            yield running
        finally:
            agent.request_stop()
            await asyncio.wait_for(task, HANG_GUARD)


def patches(standin: StandIn) -> list[kube_standin.Request]:
    return [r for r in standin.requests if r.method == "PATCH"]


def untaint_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [r.fields for r in caplog.records if r.msg == untainting.EVENT]  # type: ignore[attr-defined]


def untaint_levels(caplog: pytest.LogCaptureFixture, said: str) -> list[tuple[int, str]]:
    """The level and reason of each ``untaint`` line whose reason holds ``said``."""
    return [
        (r.levelno, r.fields["reason"])  # type: ignore[attr-defined]
        for r in caplog.records
        if r.msg == untainting.EVENT and said in r.fields["reason"]  # type: ignore[attr-defined]
    ]


#: RFC 6902's shape for the operations we send (the API's JSON patch body).
OPERATION_KEYS = {"op", "path", "value"}


def check_patch_shape(request: kube_standin.Request, before: dict[str, Any]) -> None:
    """Our PATCH is what the API documents: the node's path, a JSON patch content type, a
    list of test-then-replace operations on /spec/taints whose values are Taints by the
    OpenAPI schema, and a result that is a valid Node by the schema."""
    assert request.path == f"/api/v1/nodes/{NODE}"
    assert request.headers["Content-Type"] == "application/json-patch+json"
    assert request.headers["Authorization"] == f"Bearer {kube_standin.TOKEN}"
    ops = json.loads(request.body)
    assert [(op["op"], op["path"]) for op in ops] == [
        ("test", "/spec/taints"),
        ("replace", "/spec/taints"),
    ]
    assert all(set(op) == OPERATION_KEYS for op in ops)
    for op in ops:
        for each in op["value"]:
            kubernetes_validate.validate(
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {"name": NODE},
                    "spec": {"taints": [each]},
                },
                KUBERNETES_VERSION,
                strict=True,
            )
    after = kube_standin.apply_patch(before, ops)
    kubernetes_validate.validate(after, KUBERNETES_VERSION, strict=True)


async def test_ours_go_once_verified_and_not_before_the_others_stay(
    net_dir: Path, standin: StandIn, caplog: pytest.LogCaptureFixture, settings: Settings
) -> None:
    caplog.set_level(logging.INFO, "chainfsm")
    before = kube_standin.node(NODE, standin.taints(NODE))
    async with node(settings) as running:
        # The first read says the taint is there; nothing is patched while not Verified.
        await running.until(lambda u: u.calls >= 1 and u.last_error is None and not u.done)
        assert running.agent.state is State.WaitingPrimary
        assert running.untainter.view().present
        assert patches(standin) == []
        assert standin.taints(NODE) == [taint(OURS), OTHERS, taint(OURS, "NoExecute")]
        await running.lifted(net_dir)
    assert standin.taints(NODE) == [OTHERS]
    (patch,) = patches(standin)
    check_patch_shape(patch, before)
    view = running.untainter.view()
    assert (view.present, view.done, view.removed) == (
        False,
        True,
        f"{OURS}:NoSchedule, {OURS}:NoExecute",
    )
    removed = [line for line in untaint_lines(caplog) if "removed" in line]
    assert len(removed) == 1
    assert NODE in removed[0]["reason"]


async def test_another_client_s_change_between_our_read_and_patch_survives(
    net_dir: Path, standin: StandIn, caplog: pytest.LogCaptureFixture, settings: Settings
) -> None:
    caplog.set_level(logging.INFO, "chainfsm")
    late = taint("node.kubernetes.io/unschedulable")

    def cordon() -> None:
        standin.change(NODE, lambda n: n["spec"]["taints"].append(late))

    # Our first PATCH meets a taint list that changed since our read: its test fails (422),
    # we read again and patch again.
    standin.faults.append(Fault("PATCH", before=cordon))
    async with node(settings) as running:
        await running.lifted(net_dir)
    assert standin.taints(NODE) == [OTHERS, late]
    statuses = [r for r in standin.requests if r.method == "PATCH"]
    assert len(statuses) == 2
    # The refusal is read as what it is: the node changed (the API's cause, the failed test),
    # an info line, not an error.
    ((level, reason),) = untaint_levels(caplog, "changed since it was read")
    assert level == logging.INFO
    assert "(422)" in reason
    assert "testing value /spec/taints failed: test failed" in reason


async def test_a_patch_the_api_finds_invalid_is_an_error_and_retried(
    net_dir: Path, standin: StandIn, caplog: pytest.LogCaptureFixture, settings: Settings
) -> None:
    """A 422 whose cause is not a failed test (an admission policy, a schema rule) will not
    go away by reading again: said as an error, and still retried."""
    caplog.set_level(logging.INFO, "chainfsm")
    standin.faults.append(Fault("PATCH", code=422))
    async with node(settings) as running:
        await running.lifted(net_dir)
    assert standin.taints(NODE) == [OTHERS]
    ((level, _),) = untaint_levels(caplog, "refused the patch (422)")
    assert level == logging.ERROR
    assert untaint_levels(caplog, "changed since it was read") == []


@pytest.mark.parametrize("code", [409, 500, 503])
async def test_a_conflict_or_a_server_error_is_retried(
    net_dir: Path, standin: StandIn, code: int, settings: Settings
) -> None:
    standin.faults.append(Fault("PATCH", code=code))
    async with node(settings) as running:
        await running.lifted(net_dir)
    assert standin.taints(NODE) == [OTHERS]
    assert len(patches(standin)) == 2


async def test_a_slow_answer_times_out_and_is_retried_while_the_chain_goes_on(
    net_dir: Path, standin: StandIn, settings: Settings
) -> None:
    held = Fault("GET", hold=threading.Event())
    standin.faults.append(held)
    async with node(settings) as running:
        # The first read hangs past the client's timeout: the agent goes on to Verified all
        # the same, and the untainter reads again.
        await running.lifted(net_dir)
        assert held.arrived.is_set()
    assert standin.taints(NODE) == [OTHERS]
    assert running.untainter.view().present is False


async def test_rbac_denial_is_one_line_naming_the_rule_and_the_chain_is_verified(
    net_dir: Path, standin: StandIn, caplog: pytest.LogCaptureFixture, settings: Settings
) -> None:
    caplog.set_level(logging.INFO, "chainfsm")
    standin.denied.add("patch")
    async with node(settings) as running:
        await running.verified(net_dir)
        await running.until(lambda u: len(patches(standin)) >= 3)
        assert running.agent.state is State.Verified
        view = running.untainter.view()
        assert view.present
        assert not view.done
    errors = [line["reason"] for line in untaint_lines(caplog) if "refused" in line["reason"]]
    assert len(errors) == 1  # retried, said once
    assert "403" in errors[0]
    assert "'patch'" in errors[0]
    assert "'nodes'" in errors[0]
    assert standin.taints(NODE) == [taint(OURS), OTHERS, taint(OURS, "NoExecute")]


async def test_a_wrong_node_name_is_named(net_dir: Path, tmp_path: Path, standin: StandIn) -> None:
    settings = settings_for(net_dir, standin.kubeconfig(tmp_path), node_name="aks-typo-0")
    async with node(settings) as running:
        await running.verified(net_dir)
        await running.until(lambda u: u.last_error is not None)
        assert running.agent.state is State.Verified
    error = running.untainter.view().last_error
    assert error is not None
    assert "'aks-typo-0'" in error
    assert "404" in error


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_an_unreachable_api_never_holds_back_the_chain(
    net_dir: Path, tmp_path: Path, standin: StandIn
) -> None:
    config = json.loads(standin.kubeconfig(tmp_path).read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{closed_port()}"
    unreachable = tmp_path / "unreachable"
    unreachable.write_text(json.dumps(config))
    settings = settings_for(net_dir, unreachable)
    async with node(settings) as running:
        await running.verified(net_dir)
        await running.until(lambda u: u.calls >= 3)
        assert running.agent.state is State.Verified
        view = running.untainter.view()
    assert view.present  # fail closed: not known to be gone
    assert view.last_error is not None
    assert "unreachable" in view.last_error


async def test_nothing_to_remove_is_a_no_op_said_once(
    net_dir: Path, standin: StandIn, caplog: pytest.LogCaptureFixture, settings: Settings
) -> None:
    caplog.set_level(logging.INFO, "chainfsm")
    standin.add_node(NODE, [OTHERS])
    async with node(settings) as running:
        await running.until(lambda u: u.calls >= 1 and not u.present)
        await running.lifted(net_dir)
    assert patches(standin) == []
    assert standin.taints(NODE) == [OTHERS]
    said = [line for line in untaint_lines(caplog) if "nothing to remove" in line["reason"]]
    assert len(said) == 1


async def test_the_dump_and_the_gauge_show_it(
    net_dir: Path, standin: StandIn, settings: Settings
) -> None:
    from chainfsm.process import metrics

    standin.denied.add("patch")
    async with node(settings) as running:
        await running.verified(net_dir)
        await running.until(lambda u: u.last_error is not None)
        status = running.agent.status()
        dumped = state_dump.agent_fields(status, status.started)["untaint"]
        rendered = metrics.Metrics(running.agent.status).render().decode()
    assert dumped["key"] == OURS
    assert dumped["node"] == NODE
    assert dumped["present"] is True
    assert "'patch'" in dumped["last_error"]
    assert "chainfsm_node_taint_present 1.0" in rendered


def test_without_untaint_there_is_no_gauge_and_the_dump_says_null(net_dir: Path) -> None:
    from chainfsm.process import metrics

    agent = Agent(Settings(net_dir=net_dir))
    assert state_dump.agent_fields(agent.status(), 0.0)["untaint"] is None
    assert "chainfsm_node_taint_present" not in metrics.Metrics(agent.status).render().decode()


async def test_the_service_account_is_the_default_in_a_pod(
    tmp_path: Path, standin: StandIn
) -> None:
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text(kube_standin.TOKEN)
    (account / "ca.crt").write_bytes(standin.tls.ca.read_bytes())
    (account / "namespace").write_text("kube-system")
    host, port = standin.url.removeprefix("https://").rsplit(":", 1)
    environ = {"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port}
    api = nodes.Nodes(nodes.load_config(None, environ, account), NODE)
    try:
        found = await api.get()
    finally:
        await api.close()
    assert found["metadata"]["name"] == NODE


async def test_kubeconfig_files_merge_as_kubectl_merges_them(
    tmp_path: Path, standin: StandIn
) -> None:
    good = standin.kubeconfig(tmp_path)
    # The first file names the current context; the second holds it (kubectl's merge).
    first = tmp_path / "first"
    first.write_text(
        json.dumps({"apiVersion": "v1", "kind": "Config", "current-context": "standin"})
    )
    environ = {"KUBECONFIG": f"{first}:{tmp_path / 'missing'}:{good}"}
    api = nodes.Nodes(nodes.load_config(None, environ), NODE)
    try:
        found = await api.get()
    finally:
        await api.close()
    assert found["metadata"]["name"] == NODE


async def test_a_kubeconfig_that_appears_after_verified_is_used(
    net_dir: Path, tmp_path: Path, standin: StandIn
) -> None:
    """No credentials at start is one line and a retry with backoff, not a wait for the next
    Verified: an agent that stays Verified still lifts the taint once they are there."""
    later = tmp_path / "later" / "kubeconfig"
    async with node(settings_for(net_dir, later)) as running:
        await running.verified(net_dir)
        # Tried again while Verified, with no new Verified to wake it (each try says so).
        for _ in range(3):
            running.untainter.changed.clear()
            await asyncio.wait_for(running.untainter.changed.wait(), HANG_GUARD)
        assert "kubeconfig" in (running.untainter.last_error or "")
        later.parent.mkdir()
        standin.kubeconfig(later.parent)
        await running.until(lambda u: u.done)
        assert running.agent.state is State.Verified
    assert standin.taints(NODE) == [OTHERS]


def test_no_service_account_and_no_kubeconfig_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(nodes.NoConfig, match="automountServiceAccountToken"):
        nodes.load_config(None, {"KUBERNETES_SERVICE_HOST": "127.0.0.1"}, tmp_path / "none")
    with pytest.raises(nodes.NoConfig, match="kubeconfig"):
        nodes.load_config(tmp_path / "no-such-kubeconfig", {})


async def test_the_agent_process_lifts_the_taint_and_its_metrics_say_so(
    net_dir: Path, tmp_path: Path, standin: StandIn
) -> None:
    """``chainfsm run`` as a process, wired as the container runs it: its own lines, its own
    metrics, the API through the kubeconfig."""
    config = standin.kubeconfig(tmp_path)
    args = ("--untaint", OURS, "--node-name", NODE, "--kubeconfig", str(config))
    async with agent_process(net_dir, *args, "--listen", "127.0.0.1:0") as agent:
        kept = await agent.line("untaint", taints=f"{OURS}:NoSchedule, {OURS}:NoExecute")
        assert "kept until the chain is Verified" in kept["reason"]
        _, port = agent.address("/healthz /metrics /readyz")
        _, _, before = await http_get(port, "/metrics")
        assert b"chainfsm_node_taint_present 1.0" in before
        assert patches(standin) == []
        (net_dir / AZURE).write_bytes((PRIMARIES_DIR / AKS_FIXTURE).read_bytes())
        removed = await agent.line("untaint", removed=f"{OURS}:NoSchedule, {OURS}:NoExecute")
        _, _, after = await http_get(port, "/metrics")
        assert await agent.stop() == 0
    assert NODE in removed["reason"]
    assert b"chainfsm_node_taint_present 0.0" in after
    assert standin.taints(NODE) == [OTHERS]
    assert agent.stray == []


async def test_a_chain_that_broke_while_the_patch_was_refused_keeps_the_taint(
    net_dir: Path, standin: StandIn, settings: Settings
) -> None:
    """Fail closed: the taint goes only while the agent is Verified, not because it was once."""
    standin.denied.add("patch")
    async with node(settings) as running:
        await running.verified(net_dir)
        await running.until(lambda u: u.last_error is not None)
        (net_dir / AZURE).unlink()  # the primary goes: the agent leaves Verified
        async with asyncio.timeout(HANG_GUARD):
            while (await running.transitions.get()).dest == State.Verified.value:
                pass
        standin.denied.clear()  # the RBAC is fixed, but the chain is not there now
        read_from = running.untainter.calls
        await running.until(lambda u: u.calls > read_from and u.last_error is None)
        assert running.agent.state is not State.Verified
        assert standin.taints(NODE) == [taint(OURS), OTHERS, taint(OURS, "NoExecute")]
        assert not running.untainter.view().done
        await running.lifted(net_dir)
    assert standin.taints(NODE) == [OTHERS]


async def test_with_the_cri_socket_the_taint_waits_for_the_runtime_s_confirmation(
    net_dir: Path, tmp_path: Path, standin: StandIn
) -> None:
    """With --cri-socket, Verified needs the runtime's word (issue 18): the taint stays while
    the runtime still reports the primary alone, and goes once it reports our chain."""
    where = str(net_dir)
    confirmed = False

    def answer() -> bytes:
        if not confirmed:  # containerd not reloaded yet: the primary alone
            source = (net_dir / AZURE).read_bytes()
            return cri_wire.status_response(
                True,
                {
                    "lastCNILoadStatus": "OK",
                    "cniconfig": cri_wire.cniconfig(where, "azure", ["azure-vnet"], source),
                },
            )
        source = (net_dir / OUTPUT).read_bytes()
        chain = json.loads(source)
        types = [plugin["type"] for plugin in chain["plugins"]]
        info = {
            "lastCNILoadStatus": "OK",
            "cniconfig": cri_wire.cniconfig(where, chain["name"], types, source),
        }
        return cri_wire.status_response(True, info)

    async with fake_runtime(tmp_path / "cri.sock", answer) as runtime:
        settings = settings_for(
            net_dir,
            standin.kubeconfig(tmp_path),
            cri_socket=runtime.socket,
            cri_confirm_seconds=1e9,
        )
        async with node(settings) as running:
            (net_dir / AZURE).write_bytes((PRIMARIES_DIR / AKS_FIXTURE).read_bytes())
            async with asyncio.timeout(HANG_GUARD):
                await runtime.asked.wait()
            await running.until(lambda u: u.calls >= 1 and u.last_error is None)
            assert (net_dir / OUTPUT).exists()  # written, not confirmed
            assert running.agent.state is not State.Verified
            assert patches(standin) == []
            confirmed = True
            await until(running.transitions, dest=State.Verified.value)
            await running.until(lambda u: u.done)
    assert standin.taints(NODE) == [OTHERS]


#: What only --untaint needs: without it, an agent's start-up loads none of it.
UNTAINT_MODULES = {
    "lightkube",
    "httpx2",
    "yaml",
    "chainfsm.edge.nodes",
    "chainfsm.core.taints",
    "chainfsm.process.untainting",
}


def test_run_once_without_untaint_imports_nothing_of_the_kubernetes_client(
    net_dir: Path, tmp_path: Path
) -> None:
    (net_dir / AZURE).write_bytes((PRIMARIES_DIR / AKS_FIXTURE).read_bytes())
    loaded = imported("run", "--once", "--net-dir", str(net_dir), cwd=tmp_path)
    assert "chainfsm.agent.agent" in loaded  # it did run
    assert loaded & UNTAINT_MODULES == set()
    # Each name is a module there is (--untaint refuses --once, so a run cannot show them):
    # a renamed one would make the check above hold for nothing.
    assert [name for name in UNTAINT_MODULES if importlib.util.find_spec(name) is None] == []


async def test_credentials_the_api_does_not_accept_are_named_as_such(
    net_dir: Path, tmp_path: Path, standin: StandIn
) -> None:
    settings = settings_for(net_dir, standin.kubeconfig(tmp_path, token="expired"))
    async with node(settings) as running:
        await running.until(lambda u: u.last_error is not None)
        await running.verified(net_dir)
    error = running.untainter.view().last_error
    assert error is not None
    assert "(401)" in error
    assert "credentials" in error
    assert "ClusterRole" not in error  # not an RBAC rule: the token itself
