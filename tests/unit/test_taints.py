"""The start-up taint, pure: which keys and node names are legal, what removing ours leaves,
the JSON patch that removes it only from the list as read, and --untaint's usage errors."""

from __future__ import annotations

from typing import Any

import pytest

from chainfsm.cli import commands
from chainfsm.core import taint_keys, taints

OURS = "chainfsm.io/chain-not-ready"


def node(listed: Any) -> dict[str, Any]:
    return {"kind": "Node", "spec": {"taints": listed} if listed is not None else {}}


@pytest.mark.parametrize(
    "key",
    [
        "startup",
        OURS,
        "node.cilium.io/agent-not-ready",
        "ignore-taint.cluster-autoscaler.kubernetes.io/chain-not-ready",
        "a" * 63,
        "A_b.c-9",
    ],
)
def test_a_taint_key_the_api_takes_is_taken(key: str) -> None:
    assert taint_keys.key_problem(key) is None


@pytest.mark.parametrize(
    ("key", "said"),
    [
        ("/startup", "empty prefix"),
        ("Chainfsm.IO/x", "not a DNS subdomain"),
        ("a" * 64, "not a taint key"),
        ("-startup", "not a taint key"),
        ("chainfsm.io/", "not a taint key"),
        ("with space", "not a taint key"),
        ("a/b/c", "not a DNS subdomain"),
    ],
)
def test_a_taint_key_the_api_refuses_is_refused_with_why(key: str, said: str) -> None:
    problem = taint_keys.key_problem(key)
    assert problem is not None
    assert said in problem


def test_a_node_name_is_a_dns_subdomain() -> None:
    assert taint_keys.node_name_problem("aks-user-12345678-vmss000000") is None
    assert taint_keys.node_name_problem("Node_1") is not None
    assert taint_keys.node_name_problem("a" * 254) is not None


def test_removal_takes_every_effect_of_our_key_and_keeps_the_others_in_order() -> None:
    listed = [
        {"key": "a", "effect": "NoSchedule"},
        {"key": OURS, "effect": "NoSchedule"},
        {"key": "b", "value": "x", "effect": "NoExecute", "timeAdded": "2026-01-01T00:00:00Z"},
        {"key": OURS, "effect": "NoExecute", "value": "v"},
    ]
    found = taints.removal(node(listed), OURS)
    assert found.needed
    assert found.kept == (listed[0], listed[2])
    assert found.removed == (listed[1], listed[3])
    assert found.patch() == [
        {"op": "test", "path": "/spec/taints", "value": listed},
        {"op": "replace", "path": "/spec/taints", "value": [listed[0], listed[2]]},
    ]
    assert taints.describe(found.removed) == f"{OURS}:NoSchedule, {OURS}=v:NoExecute"


@pytest.mark.parametrize(
    "listed",
    [None, [], [{"key": "other", "effect": "NoSchedule"}], "not a list", [1, 2], {"key": OURS}],
)
def test_nothing_of_ours_or_a_list_not_in_the_api_s_shape_is_nothing_to_do(listed: Any) -> None:
    assert not taints.removal(node(listed), OURS).needed


def test_a_node_without_a_spec_is_nothing_to_do() -> None:
    assert not taints.removal({"kind": "Node"}, OURS).needed


def _run(argv: list[str]) -> Any:
    return commands.settings_from(commands.build_parser().parse_args(["run", *argv]))


def test_an_empty_variable_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    # What the manifests ship until the operator names the taint: no node name needed then.
    monkeypatch.setenv("CHAINFSM_UNTAINT", "")
    assert _run([]).untaint is None


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--untaint", OURS], "--untaint: needs --node-name or CHAINFSM_NODE_NAME"),
        (["--untaint", "Bad Key", "--node-name", "n"], "--untaint: 'Bad Key' is not a taint key"),
        (["--untaint", OURS, "--node-name", "N_1"], "--node-name: 'N_1' is not a node name"),
        (["--untaint", OURS, "--node-name", "n", "--once"], "--untaint: means nothing with"),
    ],
)
def test_untaint_s_usage_errors_are_one_line_naming_the_flag(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        _run(argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert said in err
    assert err.count("\n") == 1
