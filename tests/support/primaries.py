"""The primaries under testdata/: their names in a conf dir, their bytes, and their goldens.

A fixture file is named ``<id>.<name in the conf dir>``: ``aks-overlay.10-azure.conflist`` is the
primary ``10-azure.conflist`` of the AKS overlay shape. Its chained output with the default plugin
is ``golden/<id>.conflist``; with another plugin, ``golden/<plugin>/<id>.conflist``.
Set ``CHAINFSM_UPDATE_GOLDENS=1`` to (re)write the goldens instead of comparing against them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chainfsm.core import chaining, planning, validation
from chainfsm.core.validation import NetworkList
from tests.support.constants import AKS_FIXTURE, GOLDEN_DIR, OUTPUT, PRIMARIES_DIR

#: Every primary fixture, in name order.
ALL = sorted(PRIMARIES_DIR.iterdir())
UPDATE_ENV = "CHAINFSM_UPDATE_GOLDENS"

#: Another plugin than the default, with nested settings, as istio's CNI chains itself.
ISTIO_PLUGIN: Mapping[str, Any] = {
    "type": "istio-cni",
    "log_level": "info",
    "kubernetes": {
        "kubeconfig": "/etc/cni/net.d/ZZZ-istio-cni-kubeconfig",
        "cni_bin_dir": "/opt/cni/bin",
    },
}
#: The fixtures that also get a golden with ``ISTIO_PLUGIN``.
ISTIO_FIXTURES = ("aks-overlay", "single-plugin")


def fixture_id(fixture: Path) -> str:
    """``aks-overlay`` for ``aks-overlay.10-azure.conflist``."""
    return fixture.name.split(".", 1)[0]


def conf_name(fixture: Path) -> str:
    """``10-azure.conflist`` for ``aks-overlay.10-azure.conflist``: its name in a conf dir."""
    return fixture.name.split(".", 1)[1]


def fixture(ident: str) -> Path:
    (path,) = (p for p in ALL if fixture_id(p) == ident)
    return path


def primary_bytes(fixture: str = AKS_FIXTURE) -> bytes:
    """The bytes of the fixture named ``fixture`` (as in testdata/primaries)."""
    return (PRIMARIES_DIR / fixture).read_bytes()


def golden(fixture: str = AKS_FIXTURE) -> bytes:
    """The chained bytes the core's golden tests pin for this primary and {"type": "antrea"}."""
    return golden_path(PRIMARIES_DIR / fixture).read_bytes()


def primary(fixture_path: Path) -> NetworkList:
    """The fixture validated under its conf-dir name; fails the test if it is not valid."""
    verdict = validation.validate(conf_name(fixture_path), fixture_path.read_bytes())
    assert isinstance(verdict, NetworkList), str(verdict)
    return verdict


def plan(fixture_path: Path, plugin: Mapping[str, Any] = chaining.DEFAULT_PLUGIN) -> planning.Plan:
    """The agent's plan for the fixture with ``plugin`` (and the default rewrites)."""
    found = planning.plan(conf_name(fixture_path), fixture_path.read_bytes(), plugin, OUTPUT)
    assert isinstance(found, planning.Plan), str(found)
    return found


def render(fixture_path: Path, plugin: Mapping[str, Any] = chaining.DEFAULT_PLUGIN) -> bytes:
    """What the agent writes for the fixture with ``plugin`` (and the default rewrites)."""
    return plan(fixture_path, plugin).rendered


def golden_path(fixture_path: Path, plugin: Mapping[str, Any] = chaining.DEFAULT_PLUGIN) -> Path:
    if plugin == chaining.DEFAULT_PLUGIN:
        return GOLDEN_DIR / f"{fixture_id(fixture_path)}.conflist"
    return GOLDEN_DIR / str(plugin["type"]) / f"{fixture_id(fixture_path)}.conflist"


def check_golden(path: Path, actual: bytes) -> None:
    """Assert ``actual`` is the golden at ``path``, or write it when updating goldens."""
    if os.environ.get(UPDATE_ENV) == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(actual)
    assert path.is_file(), f"no golden {path}; run with {UPDATE_ENV}=1 to write it"
    assert actual == path.read_bytes(), f"{path} differs; if intended, rerun with {UPDATE_ENV}=1"


def conflist(**doc: Any) -> bytes:
    """A document as compact JSON bytes, for table rows."""
    return json.dumps(doc).encode()
