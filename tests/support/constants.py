"""The names and paths more than one test module uses, defined once."""

from __future__ import annotations

from pathlib import Path

#: The checkout's root.
ROOT = Path(__file__).resolve().parent.parent.parent
#: The tests' own data (primaries, goldens, the incident's conf dir, Antrea's facts).
TESTDATA = ROOT / "tests" / "testdata"
#: Realistic primaries, named ``<id>.<name in a conf dir>``.
PRIMARIES_DIR = TESTDATA / "primaries"
#: The chains of those primaries, pinned byte for byte.
GOLDEN_DIR = TESTDATA / "golden"
#: The Kubernetes manifests (kustomize bases, components, overlays).
DEPLOY = ROOT / "deploy"

#: chainfsm's default output name (Settings().output; tests/unit/test_runtime_gate.py checks).
OUTPUT = "05-antrea.conflist"
#: AKS's historic name for Azure CNI's conflist: the primary of most tests.
AZURE = "10-azure.conflist"
#: The AKS overlay primary (CNS-managed azure-vnet): the default fixture of the agent tests.
AKS_FIXTURE = "aks-overlay.10-azure.conflist"
#: A bridge list the reference plugins can run inside a netns (and containerd can load).
RUNNABLE_FIXTURE = "runnable.10-bridge.conflist"

#: A hang guard, not a timing assertion: every wait in the tests ends on an event long before.
HANG_GUARD = 30.0
