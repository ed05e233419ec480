"""The state diagram, drawn by the transitions library from the same table the agent runs.

Imported only by ``chainfsm diagram`` and ``chainfsm dump --diagram``: the agent never pays
for it. Mermaid needs nothing beyond transitions; dot needs the ``graphviz`` package (the
``diagrams`` extra) and svg/png also its ``dot`` program.
"""

from __future__ import annotations

import importlib.util
from typing import Any, Literal

from chainfsm.core import states
from chainfsm.core.states import State

TITLE = "chainfsm"


class DiagramError(Exception):
    """A diagram that cannot be made here, with one line that says what to install."""


class _Model:
    """A bare model: the graph machine binds ``state`` and ``get_graph`` to it."""

    state: State
    get_graph: Any


def _graph(engine: Literal["mermaid", "graphviz"], current: State | None) -> Any:
    """The library's graph object, ``current`` highlighted (none when None)."""
    from transitions.extensions.diagrams import GraphMachine

    model = _Model()
    machine = GraphMachine(
        model=model,
        **states.machine_arguments(),
        graph_engine=engine,
        show_conditions=True,
        title=TITLE,
    )
    if current is not None:
        machine.set_state(current, model)
    model.get_graph(force_new=True)
    if current is None:
        # The library always highlights the model's state; the committed picture shows none.
        machine.model_graphs[id(model)].reset_styling()
    return model.get_graph()


def mermaid(current: State | None = None) -> str:
    """The diagram as mermaid text; with ``current``, that state is highlighted.

    Deterministic: ``diagrams/chainfsm.mmd`` is this text for ``current=None``.
    """
    lines = str(_graph("mermaid", current).source).splitlines()
    out: list[str] = []
    for line in lines:
        stripped = line.strip()
        if stripped == TITLE and out == ["---"]:
            # Mermaid's front matter is YAML: a bare word is no title.
            line = f"title: {TITLE}"
        elif stripped.startswith("Class "):
            # Mermaid's keyword is lower case; the library writes "Class".
            line = line.replace("Class ", "class ", 1)
        out.append(line.rstrip())
    return "\n".join(out) + "\n"


def dot_source(current: State | None = None) -> str:
    """The diagram as graphviz dot text (needs the ``graphviz`` Python package)."""
    return str(_graphviz(current).source)


def _graphviz(current: State | None) -> Any:
    # Without it the library falls back to mermaid with only a log line.
    if importlib.util.find_spec("graphviz") is None:
        raise DiagramError(
            "dot, svg and png need the graphviz package: pip install 'chainfsm[diagrams]'"
        )
    return _graph("graphviz", current)


def render(fmt: str, current: State | None = None) -> bytes:
    """The diagram in ``fmt`` (one of ``commands.DIAGRAM_FORMATS``) as bytes, or
    DiagramError."""
    if fmt == "mermaid":
        return mermaid(current).encode()
    if fmt == "dot":
        return dot_source(current).encode()
    graph = _graphviz(current)
    try:
        return bytes(graph.pipe(format=fmt))
    except Exception as err:  # graphviz raises ExecutableNotFound, CalledProcessError
        raise DiagramError(
            f"cannot render {fmt}: {err}; install the graphviz system package (dot)"
        ) from err
