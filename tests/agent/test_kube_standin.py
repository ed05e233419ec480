"""The API stand-in checked with a real client: kubectl, through a kubeconfig with the test
CA and the token, GETs and PATCHes a node there as it would on a cluster, and meets the
stand-in's refusals the way it meets the API's (a failed test, RBAC, an unknown node, no
token). If kubectl and the stand-in disagreed, the untaint tests would prove nothing."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.support import kube_standin
from tests.support.constants import HANG_GUARD
from tests.support.kube_standin import StandIn, taint
from tests.support.manifests import kubectl

NODE = "aks-user-12345678-vmss000001"
OURS = taint("chainfsm.io/chain-not-ready")
OTHERS = taint("sku", "NoSchedule", "gpu")


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[StandIn]:
    server = StandIn(kube_standin.make_tls(tmp_path))
    server.add_node(NODE, [OURS, OTHERS])
    with server.serving():
        yield server


def run(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [kubectl(), "--kubeconfig", str(config), *args],
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        check=False,
    )


def json_patch(config: Path, ops: Sequence[object]) -> subprocess.CompletedProcess[str]:
    """``kubectl patch node NODE --type=json``: kubectl's own JSON patch request."""
    return run(config, "patch", "node", NODE, "--type=json", "-p", json.dumps(ops))


def test_kubectl_gets_a_node(standin: StandIn, tmp_path: Path) -> None:
    done = run(standin.kubeconfig(tmp_path), "get", "node", NODE, "-o", "json")
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert (got["kind"], got["metadata"]["name"]) == ("Node", NODE)
    assert got["spec"]["taints"] == [OURS, OTHERS]


def test_kubectl_patches_a_node_with_a_json_patch(standin: StandIn, tmp_path: Path) -> None:
    ops = [
        {"op": "test", "path": "/spec/taints", "value": [OURS, OTHERS]},
        {"op": "replace", "path": "/spec/taints", "value": [OTHERS]},
    ]
    done = json_patch(standin.kubeconfig(tmp_path), ops)
    assert done.returncode == 0, done.stderr
    assert standin.taints(NODE) == [OTHERS]
    (patch,) = [r for r in standin.requests if r.method == "PATCH"]
    assert patch.headers["Content-Type"] == "application/json-patch+json"


def test_kubectl_meets_a_failed_test_as_the_api_s_invalid(standin: StandIn, tmp_path: Path) -> None:
    ops = [
        {"op": "test", "path": "/spec/taints", "value": [OTHERS]},
        {"op": "replace", "path": "/spec/taints", "value": []},
    ]
    done = json_patch(standin.kubeconfig(tmp_path), ops)
    assert done.returncode != 0
    assert "test failed" in done.stderr
    assert standin.taints(NODE) == [OURS, OTHERS]


def test_kubectl_meets_rbac_denial_an_unknown_node_and_a_wrong_token(
    standin: StandIn, tmp_path: Path
) -> None:
    config = standin.kubeconfig(tmp_path)
    standin.denied.add("patch")
    denied = json_patch(config, [])
    assert "Forbidden" in denied.stderr or "forbidden" in denied.stderr
    assert 'cannot patch resource "nodes"' in denied.stderr
    missing = run(config, "get", "node", "no-such-node")
    assert 'nodes "no-such-node" not found' in missing.stderr
    unauthorized = run(standin.kubeconfig(tmp_path, token="wrong"), "get", "node", NODE)
    assert unauthorized.returncode != 0
    assert "Unauthorized" in unauthorized.stderr or "credentials" in unauthorized.stderr


def test_kubectl_meets_a_stale_resource_version_as_the_api_s_conflict(
    standin: StandIn, tmp_path: Path
) -> None:
    ops = [
        {"op": "replace", "path": "/metadata/resourceVersion", "value": "1"},
        {"op": "replace", "path": "/spec/taints", "value": []},
    ]
    done = json_patch(standin.kubeconfig(tmp_path), ops)
    assert done.returncode != 0
    assert "the object has been modified" in done.stderr
    assert standin.taints(NODE) == [OURS, OTHERS]
