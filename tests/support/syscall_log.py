"""What an strace log says about the files a process put into a conf dir: pure functions.

The log is strace's, taken with ``-f -y -x -s BIG -o FILE`` (``STRACE_ARGS``): every line starts
with the thread id, file descriptors carry their path (``6</dir/file>``), strings are quoted
with C escapes. ``audit`` replays it against a model of the process's file descriptors and of
the names in the conf dir, and returns every file renamed into the dir (with the bytes written
to it), every unlink there, and every breach of the rules that make a write survive a power cut:

- the file renamed into the dir was created by the process, under a name the runtime ignores,
  written in full and fsync'd after its last write, before the rename;
- the dir is fsync'd after every rename into it and every unlink of the output, before the next
  such change and before the log ends;
- nothing is written in place under the output's name.

Descriptors are tracked from the calls themselves, not from strace's ``<path>`` decoration
(which shows a file's name at the time of the call, so after a rename its new one): ``openat``
returns a descriptor for a path, ``write``/``fsync``/``close`` name it, ``dup`` copies it, and a
thread made by ``clone`` with ``CLONE_FILES`` shares its parent's table (Python's executor
threads), a process without it gets a copy.
"""

from __future__ import annotations

import enum
import os
import posixpath
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

#: The extensions libcni's ConfFiles loads (Go's filepath.Ext: from the last dot); a temp file
#: under one of them could be loaded half-written. Stated here, apart from chainfsm's own list,
#: so the check does not take the code under test at its word.
RUNTIME_EXTENSIONS = (".conf", ".conflist", ".json")

#: The calls the audit models. ``?`` lets strace accept a name its architecture lacks (aarch64
#: has no open, rename, unlink, fork).
TRACED = (
    "?open", "openat", "?creat", "close", "dup", "dup2", "dup3", "fcntl",
    "write", "pwrite64", "writev", "pwritev", "pwritev2", "ftruncate", "truncate", "fallocate",
    "fsync", "fdatasync",
    "?rename", "renameat", "renameat2", "?unlink", "unlinkat",
    "clone", "clone3", "?fork", "?vfork", "execve",
)  # fmt: skip
#: strace's arguments, before ``-o FILE COMMAND...``: follow threads and children, paths for
#: descriptors, escaped strings long enough to hold a whole chained config, no signal lines;
#: the calls not traced are not stopped (seccomp), which keeps the agent near its own pace.
STRACE_ARGS = (
    "-f",
    "--seccomp-bpf",
    "-y",
    "-x",
    "-s",
    "1048576",
    "-qq",
    "-e",
    "signal=none",
    "-e",
    "trace=" + ",".join(TRACED),
)


def strace_wrapper(log: str) -> tuple[str, ...]:
    """The command prefix that runs a program under strace, logging into the file ``log``."""
    return ("strace", *STRACE_ARGS, "-o", log, "--")


_WRITE_FLAGS = {"O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND"}


class TraceError(Exception):
    """The log cannot be read as strace's (or says something the audit does not model)."""


class Rule(enum.Enum):
    TEMP_NOT_OURS = "the file renamed into the dir was not created by the process"
    TEMP_NAME_READ_BY_RUNTIME = "the temp file's name is one the runtime loads"
    TEMP_NOT_WRITTEN_IN_FULL = "the temp file was not written in full"
    TEMP_NOT_SYNCED = "the temp file was not fsync'd after its last write, before the rename"
    DIR_NOT_SYNCED_AFTER_RENAME = "the dir was not fsync'd after a rename into it"
    DIR_NOT_SYNCED_AFTER_UNLINK = "the dir was not fsync'd after an unlink of the output"
    WRITTEN_IN_PLACE = "written in place under the output's name"


@dataclass(frozen=True, slots=True)
class Call:
    """One system call: its thread, name, raw arguments and result, and the log lines where it
    started and ended (the same line unless strace split it as unfinished and resumed)."""

    pid: int
    name: str
    args: tuple[str, ...]
    ret: int | None
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Breach:
    rule: Rule
    line: int
    detail: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.rule.name}: {self.detail}"


@dataclass(frozen=True, slots=True)
class Placement:
    """A rename into the dir: the temp file's name, the name it took, and the bytes it held."""

    temp: str
    target: str
    data: bytes
    line: int


@dataclass(frozen=True, slots=True)
class Removal:
    name: str
    line: int


@dataclass(frozen=True, slots=True)
class Audit:
    placements: tuple[Placement, ...]
    removals: tuple[Removal, ...]
    breaches: tuple[Breach, ...]


# -- reading the log -----------------------------------------------------------------------

_PREFIX = re.compile(r"^(?:\[pid\s+(\d+)\]|(\d+))?\s*")
_UNFINISHED = " <unfinished ...>"
_RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>\s?")
_RESULT = re.compile(r"^\s*=\s*(-?\d+|0x[0-9a-f]+|\?)")
_ESCAPES = {"n": 10, "t": 9, "r": 13, "v": 11, "f": 12, "a": 7, "b": 8, '"': 34, "\\": 92}


def unescape(text: str) -> bytes:
    """The bytes of one of strace's C-escaped strings (without its quotes)."""
    out = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "\\":
            out += ch.encode()
            i += 1
            continue
        nxt = text[i + 1 : i + 2]
        if nxt == "x":
            out.append(int(text[i + 2 : i + 4], 16))
            i += 4
        elif nxt.isdigit():
            digits = re.match(r"[0-7]{1,3}", text[i + 1 :])
            assert digits is not None
            out.append(int(digits.group(), 8))
            i += 1 + len(digits.group())
        elif nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            raise TraceError(f"unknown escape \\{nxt} in {text[:40]!r}")
    return bytes(out)


def split_args(text: str) -> tuple[tuple[str, ...], str]:
    """The top-level arguments of ``text`` (what follows ``name(``), and what follows their
    closing parenthesis. Strings, ``{...}``/``[...]`` and ``<path>`` decorations are kept whole."""
    args: list[str] = []
    depth = 0
    current: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == '"':
            j = i + 1
            while j < len(text) and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            current.append(text[i : j + 1])
            i = j + 1
            continue
        if ch == "<":  # a descriptor's path: escaped by strace, so the first '>' ends it
            j = text.index(">", i)
            current.append(text[i : j + 1])
            i = j + 1
            continue
        if ch in "{[(":
            depth += 1
        elif ch in "}])":
            if depth == 0:
                if current or args:
                    args.append("".join(current).strip())
                return tuple(args), text[i + 1 :]
            depth -= 1
        elif ch == "," and depth == 0:
            args.append("".join(current).strip())
            current = []
            i += 1
            continue
        current.append(ch)
        i += 1
    raise TraceError(f"no closing parenthesis in {text[:80]!r}")


def parse(log: str) -> list[Call]:
    """The calls of an strace log, in the order they ended; unfinished calls are joined to
    their resumption. Lines that are not calls (exits, signals) are skipped."""
    calls: list[Call] = []
    pending: dict[int, tuple[str, int]] = {}
    for number, raw in enumerate(log.splitlines(), start=1):
        prefix = _PREFIX.match(raw)
        assert prefix is not None
        pid = int(prefix.group(1) or prefix.group(2) or 0)
        line = raw[prefix.end() :]
        if not line or line.startswith(("+++", "---")):
            continue
        start = number
        resumed = _RESUMED.match(line)
        if resumed:
            if pid not in pending:
                raise TraceError(f"line {number}: {resumed.group(1)} resumed, never started")
            head, start = pending.pop(pid)
            line = head + line[resumed.end() :]
        if line.endswith(_UNFINISHED):
            pending[pid] = (line[: -len(_UNFINISHED)], number)
            continue
        name, paren, rest = line.partition("(")
        if not paren or not re.fullmatch(r"\w+", name):
            continue  # not a call (strace's own remarks)
        args, tail = split_args(rest)
        result = _RESULT.match(tail)
        if result is None:
            raise TraceError(f"line {number}: no result in {raw[:120]!r}")
        value = result.group(1)
        ret = None if value == "?" else int(value, 0)
        calls.append(Call(pid, name, args, ret, start, number))
    return calls


def extension(name: str) -> str:
    """Go's filepath.Ext: from the last dot on (a leading dot too), or nothing."""
    dot = name.rfind(".")
    return name[dot:] if dot >= 0 else ""


def fd_of(arg: str) -> int | None:
    """The descriptor an argument names (``6</path>`` or ``6``); None for AT_FDCWD."""
    number = re.match(r"-?\d+", arg)
    return int(number.group()) if number else None


def decorated_path(arg: str) -> str | None:
    """The path strace printed beside a descriptor (``AT_FDCWD</cwd>``, ``6</file>``)."""
    found = re.search(r"<(.*)>$", arg)
    return os.fsdecode(unescape(found.group(1))) if found else None


def string_arg(arg: str) -> tuple[bytes, bool]:
    """A quoted string argument's bytes, and whether strace cut it short (``"..."...``)."""
    if not arg.startswith('"'):
        raise TraceError(f"not a string: {arg[:40]!r}")
    cut = arg.endswith('"...')
    body = arg[1 : arg.rindex('"')]
    return unescape(body), cut


# -- replaying it --------------------------------------------------------------------------


@dataclass(eq=False)
class _File:
    name: str
    created: bool = False
    data: bytearray = field(default_factory=bytearray)
    #: The line where the last write to it ended (None: none yet).
    written: int | None = None
    #: Why it may not hold what was meant (a failed or short last write, a call not modelled).
    incomplete: str | None = None
    #: Where fsync calls on it started and ended, successful ones only.
    syncs: list[tuple[int, int]] = field(default_factory=list)


@dataclass(eq=False)
class _Handle:
    """An open file description (dup'd descriptors share one, and its offset)."""

    file: _File
    append: bool
    offset: int = 0


@dataclass(eq=False)
class _Change:
    rule: Rule
    end: int
    detail: str


class _Replay:
    def __init__(self, calls: list[Call], conf_dir: str, output: str) -> None:
        self.calls = calls
        self.dir = posixpath.normpath(conf_dir)
        self.output = posixpath.join(self.dir, output)
        self.names: dict[str, _File] = {}
        self.tables: dict[int, dict[int, _Handle]] = {}
        self.cwd: str | None = None
        self.placements: list[Placement] = []
        self.removals: list[Removal] = []
        self.breaches: list[Breach] = []
        self.unsynced: list[_Change] = []
        #: Threads and children by the clone that made them: (parent, shares its table).
        self.parents: dict[int, tuple[int, bool]] = {}
        for call in calls:
            if call.name in {"clone", "clone3", "fork", "vfork"} and call.ret and call.ret > 0:
                self.parents[call.ret] = (call.pid, "CLONE_FILES" in " ".join(call.args))

    def breach(self, rule: Rule, line: int, detail: str) -> None:
        self.breaches.append(Breach(rule, line, detail))

    def table(self, pid: int) -> dict[int, _Handle]:
        if pid not in self.tables:
            parent = self.parents.get(pid)
            if parent is None:
                if self.tables:
                    raise TraceError(f"thread {pid} appears without the clone that made it")
                self.tables[pid] = {}
            else:
                shared = self.table(parent[0])
                # A child may run before strace shows its parent's clone return: made here.
                self.tables[pid] = shared if parent[1] else dict(shared)
        return self.tables[pid]

    def handle(self, call: Call, arg: str) -> _Handle | None:
        fd = fd_of(arg)
        return None if fd is None else self.table(call.pid).get(fd)

    def path(self, call: Call, dirfd: str | None, arg: str) -> str:
        raw, cut = string_arg(arg)
        if cut:
            raise TraceError(f"line {call.end}: a path cut short; raise strace's -s")
        name = os.fsdecode(raw)
        if posixpath.isabs(name):
            return posixpath.normpath(name)
        base = decorated_path(dirfd) if dirfd is not None else None
        if base is None and dirfd is not None:
            handle = self.handle(call, dirfd)
            base = handle.file.name if handle else None
        if base is None and (dirfd is None or dirfd.startswith("AT_FDCWD")):
            base = self.cwd
        if base is None:
            raise TraceError(f"line {call.end}: relative path {name!r} with no known base")
        return posixpath.normpath(posixpath.join(base, name))

    def in_dir(self, path: str) -> bool:
        return posixpath.dirname(path) == self.dir

    # -- the calls --

    def run(self) -> Audit:
        for call in self.calls:
            for arg in call.args:
                if arg.startswith("AT_FDCWD<"):
                    self.cwd = decorated_path(arg)
            method = getattr(self, f"_{call.name}", None)
            if method is not None:
                method(call)
        self.settle(None)
        return Audit(tuple(self.placements), tuple(self.removals), tuple(self.breaches))

    def _opening(self, call: Call, dirfd: str | None, path_arg: str, flags: str) -> None:
        if call.ret is None or call.ret < 0:
            return
        path = self.path(call, dirfd, path_arg)
        words = set(flags.split("|"))
        if path == self.output and words & _WRITE_FLAGS:
            self.breach(Rule.WRITTEN_IN_PLACE, call.end, f"opened {path} with {flags}")
        known = self.names.get(path)
        if known is None or {"O_CREAT", "O_EXCL"} <= words:
            known = _File(path, created="O_CREAT" in words)
            self.names[path] = known
        if "O_TRUNC" in words:
            known.data.clear()
        self.table(call.pid)[call.ret] = _Handle(known, append="O_APPEND" in words)

    def _openat(self, call: Call) -> None:
        self._opening(call, call.args[0], call.args[1], call.args[2])

    def _open(self, call: Call) -> None:
        self._opening(call, None, call.args[0], call.args[1])

    def _creat(self, call: Call) -> None:
        self._opening(call, None, call.args[0], "O_CREAT|O_WRONLY|O_TRUNC")

    def _close(self, call: Call) -> None:
        fd = fd_of(call.args[0])
        if fd is not None:
            self.table(call.pid).pop(fd, None)

    def _dup_to(self, call: Call) -> None:
        if call.ret is None or call.ret < 0:
            return
        table = self.table(call.pid)
        source = fd_of(call.args[0])
        handle = table.get(source) if source is not None else None
        if handle is None:
            table.pop(call.ret, None)  # the new number now names something not traced
        else:
            table[call.ret] = handle

    _dup = _dup2 = _dup3 = _dup_to

    def _fcntl(self, call: Call) -> None:
        if call.args[1].startswith("F_DUPFD"):
            self._dup_to(call)

    def _execve(self, call: Call) -> None:
        if call.ret == 0:
            # Descriptors opened O_CLOEXEC go; a conf dir write across an exec is not modelled.
            self.tables[call.pid] = {}

    def _write_at(self, call: Call, offset: int | None) -> None:
        handle = self.handle(call, call.args[0])
        if handle is None:
            return
        f = handle.file
        if f.name == self.output:
            self.breach(Rule.WRITTEN_IN_PLACE, call.end, f"{call.name} to {f.name}")
        data, cut = string_arg(call.args[1])
        if cut:
            raise TraceError(f"line {call.end}: written data cut short; raise strace's -s")
        f.written = call.end
        if call.ret is None or call.ret < 0:
            f.incomplete = f"{call.name} failed at line {call.end}"
            return
        f.incomplete = (
            f"{call.name} at line {call.end} wrote {call.ret} of {len(data)} bytes, and nothing"
            " after it"
            if call.ret < len(data)
            else None
        )
        at = len(f.data) if handle.append else (handle.offset if offset is None else offset)
        chunk = data[: call.ret]
        if at > len(f.data):
            f.data.extend(bytes(at - len(f.data)))
        f.data[at : at + len(chunk)] = chunk
        if offset is None:
            handle.offset = at + len(chunk)

    def _write(self, call: Call) -> None:
        self._write_at(call, None)

    def _pwrite64(self, call: Call) -> None:
        self._write_at(call, int(call.args[3], 0))

    def _unmodelled_write(self, call: Call) -> None:
        handle = self.handle(call, call.args[0])
        if handle is None:
            return
        if handle.file.name == self.output:
            self.breach(Rule.WRITTEN_IN_PLACE, call.end, f"{call.name} to {handle.file.name}")
        handle.file.written = call.end
        handle.file.incomplete = f"{call.name} at line {call.end} (not reassembled by this audit)"

    _writev = _pwritev = _pwritev2 = _fallocate = _unmodelled_write

    def _ftruncate(self, call: Call) -> None:
        handle = self.handle(call, call.args[0])
        if handle is None:
            return
        if handle.file.name == self.output:
            self.breach(Rule.WRITTEN_IN_PLACE, call.end, f"ftruncate of {handle.file.name}")
        if call.ret == 0:
            size = int(call.args[1], 0)
            del handle.file.data[size:]
            handle.file.data.extend(bytes(size - len(handle.file.data)))
            handle.file.written = call.end

    def _truncate(self, call: Call) -> None:
        path = self.path(call, None, call.args[0])
        if path == self.output and call.ret == 0:
            self.breach(Rule.WRITTEN_IN_PLACE, call.end, f"truncate of {path}")

    def _sync(self, call: Call) -> None:
        handle = self.handle(call, call.args[0])
        if handle is None or call.ret != 0:
            return
        handle.file.syncs.append((call.start, call.end))
        if handle.file.name == self.dir:
            # Only a sync that started after a change ended makes that change durable.
            self.unsynced = [c for c in self.unsynced if c.end >= call.start]

    _fsync = _fdatasync = _sync

    def settle(self, now: Call | None) -> None:
        """Before the next change to the dir (or at the end), every earlier one must be synced."""
        for change in self.unsynced:
            later = f"before the next change (line {now.start})" if now else "by the end"
            self.breach(change.rule, change.end, f"{change.detail}: no dir fsync {later}")
        self.unsynced = []

    def _rename_paths(self, call: Call, src: str, dst: str) -> None:
        if call.ret != 0:
            return
        moved = self.names.pop(src, None)
        if not (self.in_dir(dst) or src == self.output):
            if moved is not None:
                moved.name = dst
                self.names[dst] = moved
            return
        self.settle(call)
        detail = f"rename of {posixpath.basename(src)} to {posixpath.basename(dst)}"
        self.unsynced.append(_Change(Rule.DIR_NOT_SYNCED_AFTER_RENAME, call.end, detail))
        if not self.in_dir(dst):
            return
        if moved is None or not moved.created:
            self.breach(Rule.TEMP_NOT_OURS, call.end, f"{detail}: {src} was not created here")
            moved = moved or _File(src)
        if extension(posixpath.basename(src)) in RUNTIME_EXTENSIONS:
            self.breach(Rule.TEMP_NAME_READ_BY_RUNTIME, call.end, detail)
        if moved.incomplete is not None:
            self.breach(Rule.TEMP_NOT_WRITTEN_IN_FULL, call.end, f"{detail}: {moved.incomplete}")
        last = moved.written or 0
        if not any(s > last and e < call.start for s, e in moved.syncs):
            self.breach(Rule.TEMP_NOT_SYNCED, call.end, detail)
        moved.name = dst
        self.names[dst] = moved
        self.placements.append(
            Placement(posixpath.basename(src), posixpath.basename(dst), bytes(moved.data), call.end)
        )

    def _rename(self, call: Call) -> None:
        self._rename_paths(
            call, self.path(call, None, call.args[0]), self.path(call, None, call.args[1])
        )

    def _renameat(self, call: Call) -> None:
        a = call.args
        if len(a) > 4 and "RENAME_EXCHANGE" in a[4]:
            raise TraceError(f"line {call.end}: RENAME_EXCHANGE is not modelled")
        self._rename_paths(call, self.path(call, a[0], a[1]), self.path(call, a[2], a[3]))

    _renameat2 = _renameat

    def _unlink_path(self, call: Call, path: str) -> None:
        if call.ret != 0:
            return
        self.names.pop(path, None)
        if not self.in_dir(path):
            return
        self.removals.append(Removal(posixpath.basename(path), call.end))
        if path == self.output:
            self.settle(call)
            detail = f"unlink of {posixpath.basename(path)}"
            self.unsynced.append(_Change(Rule.DIR_NOT_SYNCED_AFTER_UNLINK, call.end, detail))

    def _unlink(self, call: Call) -> None:
        self._unlink_path(call, self.path(call, None, call.args[0]))

    def _unlinkat(self, call: Call) -> None:
        self._unlink_path(call, self.path(call, call.args[0], call.args[1]))


def audit(log: str | Iterable[Call], conf_dir: str, output: str) -> Audit:
    """Replay ``log`` (strace's text, or calls already parsed) for ``output`` in ``conf_dir``."""
    calls = parse(log) if isinstance(log, str) else list(log)
    return _Replay(calls, conf_dir, output).run()


def breaches_text(found: Audit) -> Iterator[str]:
    """One line per breach, for an assertion message."""
    return (str(b) for b in found.breaches)


def main(argv: list[str]) -> int:
    """``python -m tests.support.syscall_log LOG CONF_DIR [OUTPUT]``: audit a log taken with
    ``STRACE_ARGS`` (``--args`` prints them); one line per placement, removal and breach;
    exit 1 on a breach."""
    if argv == ["--args"]:
        print(" ".join(STRACE_ARGS))
        return 0
    log, conf_dir, output = (*argv, "05-antrea.conflist")[:3]
    with open(log, encoding="utf-8", errors="surrogateescape") as handle:
        found = audit(handle.read(), conf_dir, output)
    for p in found.placements:
        print(f"line {p.line}: put {p.target} in place from {p.temp} ({len(p.data)} bytes)")
    for r in found.removals:
        print(f"line {r.line}: removed {r.name}")
    for text in breaches_text(found):
        print(text)
    return 1 if found.breaches else 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
