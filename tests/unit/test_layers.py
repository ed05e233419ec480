"""The layers of chainfsm, held by its imports: each layer imports only the layers below it.

core (pure) < shared (``settings``, ``logs``) < edge (file system, inotify, execs) < agent <
process < cli. ``settings`` and ``logs`` are a layer of their own between core and edge, not
modules beside every layer: they use core (the log lines escape with core's escaper, the
settings parse the plugin, the rewrites, the taint keys and the primary's glob with core's
rules) and every layer from edge up uses them, while core never does. Core's verdicts take
values in and give values out: a setting reaches them as an argument, and what they decide is
logged by the layer that called them.

The pure core also stays free of the modules that do I/O, so its verdicts can be tested and
reasoned about as plain functions; and it holds every pure judgement of the agent and the
CLI, as an immutable value made by a pure function, defined there and nowhere else.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import importlib
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "chainfsm"
#: The layers in their order; each but ``shared`` is a directory of the package.
ORDER = ["core", "shared", "edge", "agent", "process", "cli"]
#: The modules of the ``shared`` layer, at the package's top.
SHARED = {"chainfsm.settings", "chainfsm.logs"}
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

#: The pure judgements issue 21 named, by what they judge: the names that hold each, which
#: must be defined in a core module and in no module outside core.
JUDGEMENTS = {
    "the conf dir's snapshot": ("Snapshot",),
    "the baseline": ("Baseline",),
    "the drift verdict": ("Drift", "since", "conf_dir_moved", "within_window"),
    "explain's verdict": ("Explanation", "FileReport", "RuntimeSide", "explain", "beside_runtime"),
    "the runtime's verdict from the CRI": (
        "Confirmation",
        "Verdict",
        "confirm",
        "unasked",
        "SETTLED",
        "PROVES",
    ),
    "the exit code": ("at_end",),
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
    """The layer of a module of chainfsm (None: another package, or the package itself)."""
    if module in SHARED or any(module.startswith(f"{shared}.") for shared in SHARED):
        return "shared"
    parts = module.split(".")
    if parts[0] != "chainfsm" or len(parts) < 2 or parts[1] not in ORDER:
        return None
    return parts[1]


def layer_of_path(path: Path) -> str:
    return "shared" if path.parent == PACKAGE else path.parent.name


def modules() -> list[Path]:
    shared = [PACKAGE / f"{m.split('.')[-1]}.py" for m in sorted(SHARED)]
    dirs = [layer for layer in ORDER if layer != "shared"]
    return sorted(p for layer in dirs for p in (PACKAGE / layer).glob("*.py")) + shared


def _name(path: Path) -> str:
    return path.name if path.parent == PACKAGE else f"{path.parent.name}/{path.name}"


@pytest.mark.parametrize("path", modules(), ids=_name)
def test_a_layer_imports_only_the_layers_below_it(path: Path) -> None:
    own = ORDER.index(layer_of_path(path))
    above = {
        module
        for module in imports(path)
        if (layer := layer_of(module)) is not None and ORDER.index(layer) > own
    }
    assert not above, f"{_name(path)} ({ORDER[own]}) imports from a layer above it: {above}"


@pytest.mark.parametrize("path", sorted((PACKAGE / "core").glob("*.py")), ids=lambda p: p.name)
def test_the_core_does_no_io(path: Path) -> None:
    io = {m for m in imports(path) if m.split(".")[0] in IO_MODULES}
    assert not io, f"core/{path.name} imports {io}: I/O belongs in edge/"


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: p.name)
def test_no_module_imports_relatively(path: Path) -> None:
    relative = {m for m in imports(path) if m.startswith("relative import")}
    assert not relative, f"{path.relative_to(PACKAGE)}: {relative}"


def test_every_module_is_in_a_layer() -> None:
    loose = (
        {p.name for p in PACKAGE.glob("*.py")}
        - {"__init__.py", "__main__.py"}
        - {f"{m.split('.')[-1]}.py" for m in SHARED}
    )
    assert not loose, f"modules outside the layers: {loose}"


@cache
def definitions() -> dict[str, set[str]]:
    """Each module's top-level names (functions, classes, assignments), by dotted name."""
    found: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        names: set[str] = set()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts)] = names
    return found


def _where(name: str) -> tuple[list[str], list[str]]:
    """The modules that define ``name``: in core, and outside it."""
    defining = [module for module, names in definitions().items() if name in names]
    inside = [module for module in defining if layer_of(module) == "core"]
    return inside, [module for module in defining if module not in inside]


@pytest.mark.parametrize(
    ("judgement", "name"),
    [(judgement, name) for judgement, names in JUDGEMENTS.items() for name in names],
)
def test_core_holds_every_pure_judgement_and_nothing_else_defines_it(
    judgement: str, name: str
) -> None:
    inside, outside = _where(name)
    assert inside, f"{judgement}: {name} is defined in no core module"
    assert not outside, f"{judgement}: {name} is defined outside core, in {outside}"
    for module in inside:
        value = getattr(importlib.import_module(module), name)
        if isinstance(value, type):
            # A value the layers above may hold and hand around, never change.
            assert _immutable(value), f"{judgement}: {module}.{name} is not an immutable value"


def _immutable(cls: type) -> bool:
    """An enum, a tuple (a NamedTuple), or a frozen dataclass."""
    if issubclass(cls, enum.Enum | tuple):
        return True
    params = getattr(cls, "__dataclass_params__", None)
    return dataclasses.is_dataclass(cls) and params is not None and bool(params.frozen)
