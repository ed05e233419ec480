"""Which files the runtime reads, in which order, and which one is the primary.

Purely computational: names in, names out. The caller lists the directory (leaving out
sub-directories, which libcni skips) and passes the names here.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Sequence

#: libcni reads only these extensions (go-cni passes exactly this list to ConfFiles).
CONFIG_EXTENSIONS = (".conf", ".conflist", ".json")

#: Our own temp files: a leading dot and a ``.tmp`` extension, so no runtime reads them.
TEMP_SUFFIX = ".chainfsm.tmp"


def cannot_list(net_dir: os.PathLike[str] | str, err: OSError) -> str:
    """The one wording for a conf dir that cannot be listed (the agent's lost watch, ``render``
    and ``explain`` say it alike)."""
    return f"cannot list {net_dir}: {err.strerror}"


def extension(name: str) -> str:
    """The extension as Go's ``filepath.Ext`` sees it: from the last dot, even a leading one.

    Python's ``os.path.splitext('.conflist')`` says there is none; libcni says ``.conflist``.
    """
    dot = name.rfind(".")
    return name[dot:] if dot >= 0 else ""


def is_config_name(name: str) -> bool:
    """Whether the runtime would try to load a file of this name."""
    return extension(name) in CONFIG_EXTENSIONS


def runtime_order(names: Iterable[str]) -> list[str]:
    """The config files in the order the runtime loads them: byte-wise, like Go's sort.Strings."""
    return sorted((n for n in names if is_config_name(n)), key=os.fsencode)


def temp_name(output: str, token: str) -> str:
    """The name of one of our temp files for ``output``; ``token`` makes it unique."""
    return f".{output}.{token}{TEMP_SUFFIX}"


def is_our_temp(name: str, output: str) -> bool:
    """Whether ``name`` is a temp file we made for ``output`` (left behind by a crash)."""
    return name.startswith(f".{output}.") and name.endswith(TEMP_SUFFIX)


def primary_candidates(names: Iterable[str], output: str) -> list[str]:
    """Every config file that could be the primary (not ours, not a dot file), in runtime order."""
    return [n for n in runtime_order(names) if n != output and not n.startswith(".")]


def find_primary(names: Iterable[str], output: str, pattern: str | None = None) -> str | None:
    """The primary config: the first config file in runtime order that is not our output.

    With ``pattern`` (an exact name or a glob), the first config file that matches it.
    Dot files are never the primary: they are someone's hidden state, not a network.
    """
    for name in primary_candidates(names, output):
        if pattern is None or name == pattern or fnmatch.fnmatchcase(name, pattern):
            return name
    return None


def ignored_names(names: Iterable[str]) -> list[str]:
    """Files the runtime does not read (other writers' ``*.tmp``, ``*-old``, backups, ...)."""
    return sorted((n for n in names if not is_config_name(n)), key=os.fsencode)


def no_primary(pattern: str | None, net_dir: object, present: Sequence[str] = ()) -> str:
    """What to say when ``find_primary`` finds nothing: the one wording, for logs and commands.
    ``present``: the config files there that could be the primary (``primary_candidates``);
    with a ``pattern`` they are named, since a glob that matches none of them reads otherwise
    like a primary that has not come yet."""
    if pattern and present:
        return (
            f"no config file in {net_dir} matches --primary {pattern!r} (the config files"
            f" there: {', '.join(present)})"
        )
    which = f" matching {pattern!r}" if pattern else ""
    return f"no primary config{which} in {net_dir}"


#: What makes a --primary a glob (fnmatch has no escape character).
_GLOB_CHARS = "*?["


def output_first(output: str, pattern: str) -> bool | None:
    """Whether ``output`` sorts before every name ``pattern`` (an exact name or a glob) can
    match, in the runtime's byte order: True always, False never (each match sorts first, so
    the runtime would load the primary and never read our chain), None when it depends on the
    name. Decided by the pattern's literal part before its first wildcard. Pure."""
    cut = min((i for i, c in enumerate(pattern) if c in _GLOB_CHARS), default=None)
    if cut is None:
        return None if output == pattern else os.fsencode(output) < os.fsencode(pattern)
    prefix, ours = os.fsencode(pattern[:cut]), os.fsencode(output)
    if ours.startswith(prefix):
        return None
    return ours < prefix


def name_before(output: str, pattern: str) -> str | None:
    """An output name like ``output`` that sorts before every match of ``pattern`` (a file
    name, a glob, or the primary's name), for advice; None when the simple one does not. Pure."""
    rest = output.split("-", 1)[1] if output[:1].isdigit() and "-" in output else output
    for candidate in (f"00-{rest}", f"0-{rest}"):
        if output_first(candidate, pattern):
            return candidate
    return None


def rename_advice(output: str, primary: str) -> str:
    """Advice for an ``output`` that sorts after the primary (a name, or a --primary glob):
    rename ours, never remove the primary. Pure."""
    better = name_before(output, primary)
    such = f", such as {better!r}" if better else ""
    glob = any(c in primary for c in _GLOB_CHARS)
    before, keep = ("every name it matches", "the primary") if glob else (primary, primary)
    return (
        f"choose an --output name that sorts before {before}{such} (keep {keep}: it is the"
        " config chainfsm chains)"
    )


def sorts_after_primary(output: str, primary: str) -> str:
    """Why an ``output`` that sorts after the primary cannot work, and what to do. Pure."""
    return (
        "the runtime loads only the first config file in byte order and would never read"
        f" {output}: {rename_advice(output, primary)}"
    )
