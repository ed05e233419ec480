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


# -- edge receives no agent callable -----------------------------------------------------------

#: The only parameters in edge annotated with a Callable, each with why it is no function of
#: the agent: a pure filter or a decoder, or edge's own method handed to an edge part. Every
#: owner is called from edge alone (checked below), so none can be given an agent callable.
EDGE_CALLABLES = {
    "polling.stamps(relevant)": "a pure name filter (watching.relevant_name, or all names)",
    "polling.DirPoll.__init__(relevant)": "the same pure name filter, kept for each poll",
    "watching.DirWatch.__init__(relevant)": "the same pure name filter, for inotify's names",
    "links.LinkWatch.__init__(on_change)": "Watches.check_identity: edge's own, on a link's dir",
    "watching.MountWatch.__init__(on_mount)": "Watches.check_identity: edge's own, on a mount",
    "cri.CriClient._decode(decode)": "a pure decoder of core.cri_messages, for one answer",
}

#: Executors: edge runs the caller's own function at once, off the event loop, and hands back
#: its result; it keeps nothing, so it can never call the caller later (checked below).
EDGE_EXECUTORS = {
    "off_loop.run(func)": "the caller's blocking file work, on asyncio's default pool",
    "off_loop.run_on(func)": "the same, on an executor the caller chose",
}

#: What an executor may hand its callable to: the calls that run it in a thread and await it.
RUNNERS = {"wrap", "to_thread", "run_in_executor"}

EDGE = sorted((PACKAGE / "edge").glob("*.py"))


def _annotation_names(annotation: ast.expr) -> set[str]:
    """Every name an annotation mentions (a quoted one parsed too)."""
    found: set[str] = set()
    for node in ast.walk(annotation):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found |= _annotation_names(ast.parse(node.value, mode="eval").body)
    return found


def callable_parameters(path: Path) -> set[str]:
    """``module.Owner.function(param)`` for every parameter annotated with a Callable (or
    an Awaitable-returning one, or a Sequence of them: any mention of Callable counts)."""
    found: set[str] = set()

    def visit(node: ast.AST, owner: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, f"{owner}{child.name}.")
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                args = child.args
                every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
                every += [a for a in (args.vararg, args.kwarg) if a is not None]
                for arg in every:
                    if arg.annotation is not None and "Callable" in _annotation_names(
                        arg.annotation
                    ):
                        found.add(f"{path.stem}.{owner}{child.name}({arg.arg})")
                visit(child, f"{owner}{child.name}.")
            else:
                visit(child, owner)

    visit(ast.parse(path.read_text()), "")
    return found


def test_edge_takes_no_callable_but_pure_filters_and_its_own() -> None:
    """Edge writes what it hears into values (edge/changes) and never calls up into the
    agent: a Callable parameter is one the agent could fill with its own function."""
    found = set().union(*(callable_parameters(p) for p in EDGE))
    explained = EDGE_CALLABLES.keys() | EDGE_EXECUTORS.keys()
    unexplained = found - explained
    assert not unexplained, f"edge takes a callable the agent may supply: {sorted(unexplained)}"
    stale = explained - found
    assert not stale, f"no longer in edge, drop from the lists above: {sorted(stale)}"


def _function(key: str) -> tuple[ast.FunctionDef | ast.AsyncFunctionDef, str]:
    """The function a key names ("off_loop.run(func)"), and its parameter."""
    path, rest = key.split(".", 1)
    qualname, param = rest.rstrip(")").split("(")
    scope: ast.AST = ast.parse((PACKAGE / "edge" / f"{path}.py").read_text())
    for name in qualname.split("."):
        scope = next(
            node
            for node in ast.iter_child_nodes(scope)
            if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.name == name
        )
    assert isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef)
    return scope, param


@pytest.mark.parametrize("key", sorted(EDGE_EXECUTORS))
def test_an_executor_in_edge_keeps_no_callable_it_is_given(key: str) -> None:
    """Its callable is only called, or handed to one of the RUNNERS (run now): never
    assigned, stored in a container, returned or captured in a closure, any of which would
    let edge call it later."""
    function, param = _function(key)
    parents = {
        child: parent for parent in ast.walk(function) for child in ast.iter_child_nodes(parent)
    }
    for node in ast.walk(function):
        if isinstance(node, ast.Name) and node.id == param:
            parent = parents[node]
            assert isinstance(parent, ast.Call), f"{key}: {ast.unparse(parent)}"
            callee = parent.func
            runner = isinstance(callee, ast.Name | ast.Attribute) and (
                (callee.id if isinstance(callee, ast.Name) else callee.attr) in RUNNERS
            )
            ran = node is callee or (runner and node in parent.args)
            assert ran, f"{key} keeps {param}: {ast.unparse(parent)}"
    nested = [
        node
        for node in ast.walk(function)
        if node is not function
        and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
    ]
    assert not nested, f"{key}: a nested function could capture {param}"


def _called_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name):
                names.add(func.id)
            elif isinstance(func, ast.Attribute):
                names.add(func.attr)
    return names


def _owner(key: str) -> str:
    """What a caller names to reach the parameter: the class for ``__init__``, else the
    function ("watching.DirWatch.__init__(relevant)" -> "DirWatch")."""
    *_, owner, function = key.split("(")[0].split(".")
    return owner if function == "__init__" else function


def test_the_callables_edge_takes_are_given_by_edge_alone() -> None:
    """The owners in EDGE_CALLABLES are called only inside edge: what they are given is an
    edge function, never one of the agent (or of the process or CLI around it)."""
    owners = {_owner(key) for key in EDGE_CALLABLES}
    outside = sorted(p for p in PACKAGE.rglob("*.py") if p.parent.name != "edge")
    callers = {
        f"{path.relative_to(PACKAGE)} calls {name}"
        for path in outside
        for name in _called_names(path) & owners
    }
    assert not callers, sorted(callers)


@pytest.mark.parametrize("path", EDGE, ids=lambda p: p.name)
def test_edge_imports_no_agent_process_or_cli_module(path: Path) -> None:
    above = {m for m in imports(path) if layer_of(m) in ("agent", "process", "cli")}
    assert not above, f"edge/{path.name} imports {above}"
