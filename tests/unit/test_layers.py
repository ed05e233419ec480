"""The layers of chainfsm, held by its imports: each layer imports only the layers below it.

core (pure) < edge (file system, inotify, execs) < agent < process < cli; ``settings`` and
``logs`` serve every layer. The pure core also stays free of the modules that do I/O, so its
verdicts can be tested and reasoned about as plain functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "chainfsm"
ORDER = ["core", "edge", "agent", "process", "cli"]
SHARED = {"chainfsm", "chainfsm.settings", "chainfsm.logs"}
#: What the pure core must never import: the event loop, files, inotify, processes.
IO_MODULES = {
    "asyncio",
    "aiofiles",
    "asyncinotify",
    "subprocess",
    "socket",
    "signal",
    "sys",
    "tenacity",
}


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in it (a lazy import counts too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            # A relative import would slip past the layer check: chainfsm spells them out.
            found.add(f"relative import from level {node.level}: {node.module}")
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            if node.module in {"chainfsm", *(f"chainfsm.{layer}" for layer in ORDER)}:
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "chainfsm" or len(parts) < 2 or parts[1] not in ORDER:
        return None
    return parts[1]


def modules() -> list[Path]:
    return sorted(p for layer in ORDER for p in (PACKAGE / layer).glob("*.py"))


@pytest.mark.parametrize("path", modules(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_layer_imports_only_the_layers_below_it(path: Path) -> None:
    own = ORDER.index(path.parent.name)
    above = {
        module
        for module in imports(path)
        if (layer := layer_of(module)) is not None and ORDER.index(layer) > own
    }
    assert not above, f"{path.parent.name}/{path.name} imports from a layer above it: {above}"


@pytest.mark.parametrize("path", sorted((PACKAGE / "core").glob("*.py")), ids=lambda p: p.name)
def test_the_core_does_no_io(path: Path) -> None:
    io = {m for m in imports(path) if m.split(".")[0] in IO_MODULES}
    assert not io, f"core/{path.name} imports {io}: I/O belongs in edge/"


@pytest.mark.parametrize("name", ["settings.py", "logs.py"])
def test_the_shared_modules_depend_only_on_the_core(name: str) -> None:
    above = {m for m in imports(PACKAGE / name) if layer_of(m) not in (None, "core")}
    assert not above, f"{name} imports {above}"


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: p.name)
def test_no_module_imports_relatively(path: Path) -> None:
    relative = {m for m in imports(path) if m.startswith("relative import")}
    assert not relative, f"{path.relative_to(PACKAGE)}: {relative}"


def test_every_module_is_in_a_layer() -> None:
    loose = (
        {p.name for p in PACKAGE.glob("*.py")}
        - {"__init__.py", "__main__.py"}
        - {f"{m.split('.')[-1]}.py" for m in SHARED if m != "chainfsm"}
    )
    assert not loose, f"modules outside the layers: {loose}"
