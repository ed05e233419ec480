"""requirements.lock, which the container image installs, pins every runtime dependency of
pyproject.toml (and the build backend) at a version pyproject allows."""

from __future__ import annotations

import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.constants import ROOT
from tests.support.requirements_lock import pins


def _pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _requirements(kind: str) -> list[Requirement]:
    data = _pyproject()
    if kind == "runtime":
        project = data["project"]
        assert isinstance(project, dict)
        return [Requirement(r) for r in project["dependencies"]]
    build = data["build-system"]
    assert isinstance(build, dict)
    return [Requirement(r) for r in build["requires"]]


@pytest.mark.parametrize("kind", ["runtime", "build"])
def test_every_dependency_is_pinned_at_an_allowed_version(kind: str) -> None:
    pinned = pins()
    requirements = _requirements(kind)
    assert requirements
    for req in requirements:
        name = canonicalize_name(req.name)
        assert name in pinned, f"{req.name} ({kind}) is not pinned in requirements.lock"
        assert req.specifier.contains(pinned[name], prereleases=True), (
            f"requirements.lock pins {req.name}=={pinned[name]}, outside pyproject's {req}"
        )
