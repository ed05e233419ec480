"""Skip-or-fail for tests that need parts of the machine (root, buildah, kubectl).

Normally a missing part skips the test with the reason; with CHAINFSM_REQUIRE_RUNTIME=1 (CI)
it fails it, so a machine without the part can never pass silently.
"""

from __future__ import annotations

import os

import pytest


def required() -> bool:
    return os.environ.get("CHAINFSM_REQUIRE_RUNTIME") == "1"


def need(ok: object, reason: str) -> None:
    """Skip (or, when required, fail) the calling test unless ``ok`` is truthy."""
    if ok:
        return
    if required():
        pytest.fail(f"CHAINFSM_REQUIRE_RUNTIME=1 but {reason}", pytrace=False)
    pytest.skip(reason)
