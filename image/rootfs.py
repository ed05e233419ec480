"""Make the final image's root filesystem: the interpreter, the parts of the standard library
chainfsm can import, the shared libraries those need, the venv, and the few files of /etc and
/run the agent needs. Nothing else: no shell, no package manager, no pip or setuptools, no docs.

Runs in the Dockerfile's build stage, with the venv's own python (so its imports are what
chainfsm will import), on any Debian-based base: the official python:*-slim images (Python
under /usr/local, a shared libpython) or the debootstrap base (Debian's /usr/bin/python3):

    /opt/venv/bin/python image/rootfs.py /opt/venv /rootfs

Which stdlib modules: modulefinder reads the bytecode of chainfsm, its dependencies and every
module they import, including imports inside functions (the lazy ``--listen`` and ``diagram``
paths), so it finds more than one run would, never less. Added by name: what the interpreter
imports on its own at start-up, and every codec (looked up by name at run time).
Which libraries: what ``ldd`` says the interpreter and each kept extension module link, the
standard library's and the venv's (a dependency's compiled module or bundled library).
Every kept module gets bytecode whose validity does not depend on file times (unchecked
hash), so a read-only image starts from cached bytecode whatever a copy does to mtimes.
"""

from __future__ import annotations

import importlib.util
import modulefinder
import os
import pkgutil
import py_compile
import re
import shutil
import subprocess
import sys
from pathlib import Path

#: The image's user (the Dockerfile's USER) and the dir it may write without a volume.
UID = 10001
RUN_DIR = "run/chainfsm"
#: Imported by the interpreter itself, or by name at run time, so no import statement shows them.
BY_NAME = ("site", "sitecustomize", "_sitebuiltins", "encodings", "runpy", "traceback")
#: Tools for developers that modules import only in their ``if __name__ == "__main__"`` blocks
#: or their own debugging helpers, never on a path of chainfsm's: the test suites, debuggers,
#: doc and packaging tools, interactive consoles. The image test runs every command in the
#: image, so a module left out by mistake fails it.
NOT_USED = (
    "test",
    "unittest",
    "doctest",
    "pdb",
    "bdb",
    "pydoc",
    "pydoc_data",
    "lib2to3",
    "distutils",
    "ensurepip",
    "venv",
    "idlelib",
    "tkinter",
    "turtle",
    "turtledemo",
    "code",
    "codeop",
    "cmd",
    "readline",
    "rlcompleter",
    "tty",
    "webbrowser",
    "_testcapi",
    "_testinternalcapi",
)


def stdlib_dirs() -> tuple[Path, Path]:
    """The standard library's dir (the one holding os.py) and its lib-dynload. Not from
    sysconfig, whose paths in a venv name the venv."""
    stdlib = Path(os.__file__).resolve().parent
    dynload = [Path(p) for p in sys.path if Path(p).name == "lib-dynload"]
    if len(dynload) != 1:
        raise SystemExit(f"rootfs: no single lib-dynload in sys.path {sys.path}")
    return stdlib, dynload[0].resolve()


def chainfsm_modules() -> list[str]:
    import chainfsm

    found = ["chainfsm"]
    for info in pkgutil.walk_packages(chainfsm.__path__, "chainfsm."):
        found.append(info.name)
    return found


def codecs() -> list[str]:
    import encodings

    return [f"encodings.{info.name}" for info in pkgutil.iter_modules(encodings.__path__)]


def imported_files(entry: Path) -> set[Path]:
    """Every file of a module that the entry script or chainfsm may import, with the
    packages that hold them."""
    finder = modulefinder.ModuleFinder(excludes=list(NOT_USED))
    for name in (*BY_NAME, *codecs(), *chainfsm_modules()):
        try:
            finder.import_hook(name)
        except ImportError:
            if name != "sitecustomize":  # optional; Debian has one, python:*-slim has none
                raise
    finder.run_script(str(entry))
    files: set[Path] = set()
    for module in finder.modules.values():
        where = getattr(module, "__file__", None)  # None for a built-in
        if where:
            files.add(Path(where).resolve())
    return files


def sysconfig_data(stdlib: tuple[Path, Path]) -> set[Path]:
    """sysconfig imports its build data by a name it computes."""
    return {p.resolve() for d in stdlib for p in d.glob("_sysconfigdata_*.py")}


def linked(path: Path) -> set[Path]:
    """The shared libraries (and the dynamic loader) ``path`` needs, by ``ldd``."""
    shown = subprocess.run(["ldd", str(path)], capture_output=True, text=True, check=False)
    if shown.returncode != 0 and "not a dynamic executable" in shown.stdout + shown.stderr:
        return set()
    if shown.returncode != 0:
        raise SystemExit(f"rootfs: ldd {path} failed: {shown.stderr.strip()}")
    libs = set()
    for line in shown.stdout.splitlines():
        if "not found" in line:
            raise SystemExit(f"rootfs: {path} needs a library that is missing: {line.strip()}")
        match = re.search(r"(?:=>\s*)?(/\S+)\s+\(0x", line)
        if match:
            libs.add(Path(match.group(1)))
    return libs


class Root:
    """A new root filesystem that paths of this one are copied into, symlinks and all."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.kept: set[Path] = set()

    def _mkdirs(self, path: Path) -> None:
        """Make ``path`` (absolute, in this filesystem) a directory in the new root, each
        component as it is here: a symlinked one (Debian's /lib -> usr/lib) as a symlink."""
        current = Path("/")
        for part in path.parts[1:]:
            current = current / part
            self._copy_link_or_dir(current)
            if current.is_symlink():
                current = current.resolve()

    def _copy_link_or_dir(self, path: Path) -> None:
        there = self.path / path.relative_to("/")
        if there.exists() or there.is_symlink():
            return
        if path.is_symlink():
            link = path.readlink()
            there.symlink_to(link)
            self.keep(path.parent / link)
        else:
            there.mkdir()
            shutil.copystat(path, there)

    def keep(self, path: Path) -> None:
        """Copy ``path`` (a file, or a symlink and what it points at) into the new root."""
        path = Path(os.path.normpath(path))
        if path in self.kept:
            return
        self.kept.add(path)
        self._mkdirs(path.parent)
        parent = path.parent.resolve()
        here = parent / path.name
        there = self.path / parent.relative_to("/") / path.name
        if here.is_symlink() or here.is_dir():
            self._copy_link_or_dir(here)
        elif not there.exists():
            shutil.copy2(here, there)


def compile_kept(root: Root, source: Path) -> None:
    """Bytecode for ``source`` in the new root, named in tracebacks by its path in the image."""
    inside = root.path / source.resolve().relative_to("/")
    py_compile.compile(
        str(inside),
        cfile=importlib.util.cache_from_source(str(inside)),
        dfile=str(source),
        doraise=True,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )


def write_etc(root: Path) -> None:
    """Users and groups for uid 0 and the image's user; /tmp; the run dir the user owns."""
    etc = root / "etc"
    etc.mkdir(exist_ok=True)
    (etc / "passwd").write_text(
        "root:x:0:0:root:/root:/sbin/nologin\n"
        f"chainfsm:x:{UID}:{UID}:chainfsm:/nonexistent:/sbin/nologin\n"
    )
    (etc / "group").write_text(f"root:x:0:\nchainfsm:x:{UID}:\n")
    tmp = root / "tmp"
    tmp.mkdir(exist_ok=True)
    tmp.chmod(0o1777)
    run = root / RUN_DIR
    run.mkdir(parents=True, exist_ok=True)
    os.chown(run, UID, UID)


def main(venv: Path, dest: Path) -> None:
    stdlib = stdlib_dirs()
    root = Root(dest)
    dest.mkdir(parents=True, exist_ok=True)
    # The venv whole: chainfsm and its locked dependencies (pip never went in: see Dockerfile).
    for path in sorted(venv.rglob("*")):
        if "__pycache__" not in path.parts:
            root.keep(path)
    # The interpreter the venv points at, through its symlinks (python3 -> python3.11).
    root.keep(venv / "bin" / "python3")
    # The interpreter and the venv's compiled modules: the libraries they link are not in it.
    natives = {Path(sys.executable).resolve(), *(p.resolve() for p in venv.rglob("*.so"))}
    # The standard library modules that may be imported, and the dir Python's start-up looks
    # for to find its prefixes (lib-dynload).
    root.keep(stdlib[1])
    modules = imported_files(venv / "bin" / "chainfsm") | sysconfig_data(stdlib)
    for path in sorted(modules):
        if not any(path.is_relative_to(d) for d in stdlib):
            continue  # the venv's (kept whole above) or a built-in
        root.keep(path)
        if path.suffix == ".py":
            compile_kept(root, path)
        elif path.suffix == ".so":
            natives.add(path)
    for native in sorted(natives):
        for lib in sorted(linked(native)):
            root.keep(lib)
    for path in sorted(venv.rglob("*.py")):
        compile_kept(root, path)
    write_etc(dest)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: rootfs.py VENV DEST")
    main(Path(sys.argv[1]).absolute(), Path(sys.argv[2]).absolute())
