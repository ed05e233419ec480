"""The runtime's verdict on our chain, from its decoded Status: a table of what it may say."""

from __future__ import annotations

import json

import pytest

from chainfsm.core import confirmation, cri_messages
from chainfsm.core.confirmation import Verdict
from tests.support import cri_wire

NET_DIR = "/etc/cni/net.d"
OUTPUT = "05-antrea.conflist"
OURS = b'{"cniVersion":"1.0.0","name":"azure","plugins":[{"type":"azure-vnet"},{"type":"antrea"}]}'
PRIMARY = (
    "10-azure.conflist",
    b'{"cniVersion":"1.0.0","name":"azure","plugins":[{"type":"azure-vnet"}]}',
)
CHAIN = ["azure-vnet", "antrea"]


def status(
    ready: bool = True,
    load: str | None = "OK",
    conf_dir: str = NET_DIR,
    source: bytes = OURS,
    types: list[str] | None = None,
    cniconfig: str | None = None,
    reason: str = "",
) -> cri_messages.RuntimeStatus:
    info = {} if load is None else {"lastCNILoadStatus": load}
    info["cniconfig"] = (
        cniconfig
        if cniconfig is not None
        else cri_wire.cniconfig(conf_dir, "azure", CHAIN if types is None else types, source)
    )
    return cri_messages.decode_status_response(cri_wire.status_response(ready, info, reason))


def judge(answer: cri_messages.RuntimeStatus) -> confirmation.Confirmation:
    return confirmation.confirm(answer, NET_DIR, OUTPUT, OURS, PRIMARY)


NOTHING_LOADED = json.dumps({"PluginConfDir": NET_DIR, "Networks": None})


@pytest.mark.parametrize(
    ("answer", "verdict", "loaded", "says"),
    [
        (
            status(),
            Verdict.CONFIRMED,
            f"{OUTPUT} as we wrote it, azure [azure-vnet, antrea]",
            "as we wrote it",
        ),
        # A trailing slash is the same dir.
        (
            status(conf_dir=NET_DIR + "/"),
            Verdict.CONFIRMED,
            f"{OUTPUT} as we wrote it, azure [azure-vnet, antrea]",
            "as we wrote it",
        ),
        (
            status(source=PRIMARY[1], types=["azure-vnet"]),
            Verdict.OTHER_CONFIG,
            "the primary 10-azure.conflist alone, azure [azure-vnet]",
            "the runtime loaded the primary 10-azure.conflist alone",
        ),
        # Same name and plugins, other bytes: an older copy of ours (or someone else's chain).
        (
            status(source=OURS.replace(b"1.0.0", b"0.4.0")),
            Verdict.OTHER_CONFIG,
            f"azure [azure-vnet, antrea], not {OUTPUT} as we wrote it",
            "not 05-antrea.conflist as we wrote it",
        ),
        (
            status(conf_dir="/host/etc/cni/net.d"),
            Verdict.OTHER_DIR,
            None,
            "reads its conf dir /host/etc/cni/net.d, not --net-dir /etc/cni/net.d",
        ),
        (
            status(
                ready=False,
                load="cni config load failed: no network config found in /etc/cni/net.d",
                cniconfig=NOTHING_LOADED,
            ),
            Verdict.LOAD_ERROR,
            None,
            "last load of /etc/cni/net.d failed: cni config load failed: no network config found",
        ),
        (
            status(ready=False, reason="NetworkPluginNotReady"),
            Verdict.NOT_READY,
            "azure [azure-vnet, antrea]",
            "NetworkReady=false (NetworkPluginNotReady)",
        ),
        (status(cniconfig=NOTHING_LOADED), Verdict.LOAD_ERROR, None, "loaded no config from"),
        # Our bytes, but the last load failed: the runtime's word is not OK (fail closed).
        (
            status(load="failed to load cni config: x"),
            Verdict.LOAD_ERROR,
            "azure [azure-vnet, antrea]",
            "failed: failed to load cni config: x",
        ),
        # A runtime that does not say it loaded well (no lastCNILoadStatus) but shows our bytes.
        (
            status(load=None),
            Verdict.CONFIRMED,
            f"{OUTPUT} as we wrote it, azure [azure-vnet, antrea]",
            "as we wrote it",
        ),
        (
            status(cniconfig="{"),
            Verdict.UNASKED,
            None,
            "its cniconfig cannot be read: cniconfig is not JSON",
        ),
        # Valid JSON that is no text (a lone surrogate): an answer, not a traceback.
        (
            status(
                cniconfig=cri_wire.cniconfig(NET_DIR, "azure", CHAIN, b"").replace(
                    '"Source": ""', '"Source": "\\ud800"'
                )
            ),
            Verdict.UNASKED,
            None,
            "its cniconfig cannot be read: cniconfig is not text",
        ),
    ],
)
def test_what_the_runtime_says_of_our_chain(
    answer: cri_messages.RuntimeStatus, verdict: Verdict, loaded: str | None, says: str
) -> None:
    found = judge(answer)
    assert (found.verdict, found.loaded) == (verdict, loaded)
    assert says in found.detail
    assert found.confirmed is (verdict is Verdict.CONFIRMED)


def crio(ready: bool) -> cri_messages.RuntimeStatus:
    return cri_messages.decode_status_response(
        cri_wire.status_response(ready, {"config": "{}"}, "" if ready else "NetworkPluginNotReady")
    )


def test_a_runtime_that_does_not_say_what_it_loaded_is_confirmed_on_network_ready_alone() -> None:
    found = judge(crio(True))
    assert (found.verdict, found.confirmed, found.loaded) == (Verdict.READY_UNSAID, True, None)
    assert "does not say which config it loaded" in found.detail
    assert "confirmed on NetworkReady alone" in found.detail
    not_ready = judge(crio(False))
    assert (not_ready.verdict, not_ready.confirmed) == (Verdict.NOT_READY, False)
    assert "does not say which config it loaded" in not_ready.detail


def test_a_failed_load_without_saying_what_it_loaded_is_not_confirmed() -> None:
    """As with a cniconfig (the load error comes before NetworkReady): a runtime that says its
    last load failed is not confirmed on NetworkReady alone."""
    info = {"lastCNILoadStatus": "failed to load cni config: x"}
    found = judge(cri_messages.decode_status_response(cri_wire.status_response(True, info)))
    assert (found.verdict, found.confirmed) == (Verdict.LOAD_ERROR, False)
    assert found.detail == (
        "the runtime's last load of its conf dir failed: failed to load cni config: x, and it"
        " does not say which config it loaded"
    )


def test_no_network_ready_condition_at_all_is_not_ready() -> None:
    answer = cri_messages.decode_status_response(cri_wire.field(1, b""))
    found = judge(answer)
    assert (found.verdict, found.confirmed) == (Verdict.NOT_READY, False)


def test_a_runtime_that_could_not_be_asked_is_not_confirmed_and_settled() -> None:
    found = confirmation.unasked("no CRI socket at /run/x.sock: nothing there")
    assert (found.verdict, found.confirmed, found.settled) == (Verdict.UNASKED, False, True)
    assert (
        found.detail
        == "the runtime could not be asked: no CRI socket at /run/x.sock: nothing there"
    )


@pytest.mark.parametrize(
    ("verdict", "settled"),
    [
        (Verdict.CONFIRMED, True),
        (Verdict.READY_UNSAID, True),
        (Verdict.OTHER_DIR, True),
        (Verdict.UNASKED, True),
        # What a reload still to come can change: asked again.
        (Verdict.NOT_READY, False),
        (Verdict.LOAD_ERROR, False),
        (Verdict.OTHER_CONFIG, False),
    ],
)
def test_only_what_a_reload_can_change_is_asked_again(verdict: Verdict, settled: bool) -> None:
    assert confirmation.Confirmation(verdict, None, "").settled is settled


def test_only_the_runtime_running_our_chain_proves_chained_and_unsaid_proves_nothing() -> None:
    assert set(confirmation.PROVES) == set(Verdict)
    assert [v for v, proves in confirmation.PROVES.items() if proves] == [Verdict.CONFIRMED]
    # Fail closed for repair: a verdict that could hide our chain proves no "unchained".
    for verdict in (Verdict.READY_UNSAID, Verdict.OTHER_DIR, Verdict.UNASKED):
        assert confirmation.PROVES[verdict] is None
