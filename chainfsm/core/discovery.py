"""Which files the runtime reads, in which order, and which one is the primary.

Purely computational: names in, names out. The caller lists the directory (leaving out
sub-directories, which libcni skips) and passes the names here.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable

#: libcni reads only these extensions (go-cni passes exactly this list to ConfFiles).
CONFIG_EXTENSIONS = (".conf", ".conflist", ".json")

#: Our own temp files: a leading dot and a ``.tmp`` extension, so no runtime reads them.
TEMP_SUFFIX = ".chainfsm.tmp"


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


def no_primary(pattern: str | None, net_dir: object) -> str:
    """What to say when ``find_primary`` finds nothing: the one wording, for logs and commands."""
    which = f" matching {pattern!r}" if pattern else ""
    return f"no primary config{which} in {net_dir}"
