#!/usr/bin/env python3
"""chainfsm's performance benchmarks: real agent processes, real files, real inotify.

    python benchmarks/run.py            # the full run (about a minute)
    python benchmarks/run.py --quick    # a smoke run: few samples, short idle window

Everything happens in one temp dir, removed at the end. The agent runs as its own process
(``python -m chainfsm run``) so that measuring never shares its event loop. The benchmark sees
the agent's output through its own inotify watch (no polling) and the agent's state through its
JSON log lines. It prints the machine, each figure next to its target, and the command.

Not part of the test suite: timings depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import platform
import queue
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncinotify
from asyncinotify import Mask

from chainfsm.cli import demo
from chainfsm.core import discovery, planning
from chainfsm.edge import reading

PRIMARY = "10-azure.conflist"
OUTPUT = "05-antrea.conflist"
PLUGIN: dict[str, Any] = {"type": "antrea"}
#: What the import floor imports: the four core libraries and asyncio, nothing of ours.
FLOOR_IMPORTS = "import asyncio, aiofiles, asyncinotify, tenacity, transitions"
#: A hang guard per wait, not a measurement: every wait ends on an event long before this.
GUARD = 30.0
COMMAND = "python benchmarks/run.py"
#: The pause between two timed updates (seconds).
SETTLE = 0.005
#: The agent's flags besides the dir: our output name, and log lines the benchmark can parse.
LOG_ARGS = ("--output", OUTPUT, "--log-format", "json")


# -- what the benchmark writes ----------------------------------------------------------------


def primary_bytes(tag: str) -> bytes:
    """An AKS overlay primary carrying ``tag``, so each update's chain is recognisable."""
    doc = copy.deepcopy(demo.AKS_PRIMARY)
    doc["plugins"][0]["benchTag"] = tag
    return (json.dumps(doc, indent=2) + "\n").encode()


def chained(primary: bytes) -> bytes:
    """The exact bytes the agent must write for ``primary`` (the package's own pure core)."""
    plan = planning.plan(PRIMARY, primary, PLUGIN, OUTPUT)
    assert isinstance(plan, planning.Plan), plan
    return plan.rendered


def write_by_rename(net_dir: Path, data: bytes) -> float:
    """Replace the primary as Azure CNS does: a temp file the runtime ignores, then rename.
    Returns the moment the new content is in place."""
    staged = net_dir / f"{PRIMARY}1234.tmp"
    with open(staged, "wb") as handle:
        handle.write(data)
    staged.replace(net_dir / PRIMARY)
    return time.perf_counter()


def write_in_place(net_dir: Path, data: bytes) -> float:
    """Rewrite the primary in place (``demo.write_in_place``). Returns the moment the new
    content is in place."""
    demo.write_in_place(net_dir / PRIMARY, data)
    return time.perf_counter()


def floor_once(floor_dir: Path, size: int) -> float:
    """The physical floor of one reaction: a file of the output's size written, fsynced, renamed
    and the dir fsynced, on the same disk. Seconds."""
    data = b"x" * size
    start = time.perf_counter()
    fd = os.open(floor_dir / "floor.tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    (floor_dir / "floor.tmp").replace(floor_dir / "floor.conflist")
    dfd = os.open(floor_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    return time.perf_counter() - start


# -- watching the agent from outside ----------------------------------------------------------


class OutputWatch:
    """The benchmark's own inotify on the conf dir: each rename of something onto our output."""

    def __init__(self, net_dir: Path) -> None:
        self.net_dir = net_dir
        self.ino = asyncinotify.Inotify(sync_timeout=GUARD)
        # CREATE too: the agent creates a temp file before each rename, and that event keeps the
        # kernel from merging two consecutive renames onto our output into one.
        self.ino.add_watch(net_dir, Mask.MOVED_TO | Mask.CREATE)
        #: Renames onto our output seen so far (each one is a reload for the runtime).
        self.arrivals = 0

    def wait_for(self, expected: bytes) -> float:
        """Block until our output is renamed in holding ``expected``; the moment of the event."""
        deadline = time.monotonic() + GUARD
        while True:
            self.ino.sync_timeout = max(0.001, deadline - time.monotonic())
            event = self.ino.sync_get()
            if event is None:
                raise TimeoutError(f"{OUTPUT} never held the expected content")
            if str(event.name) != OUTPUT:
                continue
            seen = time.perf_counter()
            self.arrivals += 1
            with contextlib.suppress(FileNotFoundError):
                if (self.net_dir / OUTPUT).read_bytes() == expected:
                    return seen

    def drain(self) -> None:
        """Count the arrivals already queued, without waiting."""
        self.ino.sync_timeout = 0.0
        while (event := self.ino.sync_get()) is not None:
            if str(event.name) == OUTPUT:
                self.arrivals += 1

    def close(self) -> None:
        self.ino.close()


class AgentProcess:
    """``python -m chainfsm run`` on a conf dir, its JSON log lines read by a thread."""

    def __init__(
        self, net_dir: Path, pythonpath: str | None = None, extra: tuple[str, ...] = ()
    ) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHAINFSM_")}
        if pythonpath:  # another checkout's chainfsm/ (benchmarks/ab.py)
            env["PYTHONPATH"] = pythonpath
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "chainfsm", "run", "--net-dir", str(net_dir), *LOG_ARGS, *extra],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            cwd=net_dir.parent,  # not the checkout: `-m` would import from the cwd first
        )
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.tail: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            self.tail = [*self.tail[-20:], line]
            seen = time.perf_counter()
            try:
                doc = json.loads(line)
            except ValueError:
                doc = {"event": "unparsed", "line": line}
            doc = doc if isinstance(doc, dict) else {"event": "unparsed"}
            doc["_seen"] = seen  # when the line reached us: a moment the agent reported
            self.lines.put(doc)
        self.lines.put({"event": "eof"})

    def wait_line(self, want: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        deadline = time.monotonic() + GUARD
        while True:
            try:
                doc = self.lines.get(timeout=max(0.001, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(
                    "no such log line; last lines:\n" + "\n".join(self.tail)
                ) from None
            if doc.get("event") == "eof":
                raise RuntimeError("the agent exited; last lines:\n" + "\n".join(self.tail))
            if want(doc):
                return doc

    def wait_verified(self, written: bytes | None = None) -> int:
        """Until the agent is Verified (after writing ``written``, if given); returns how many
        writes it logged on the way."""
        writes = 0
        digest = None if written is None else _sha256(written)
        while True:
            doc = self.wait_line(lambda d: d.get("event") in ("written", "transition"))
            if doc["event"] == "written":
                writes += 1
                if doc.get("sha256") == digest:
                    digest = None
            elif doc.get("dest") == "Verified" and digest is None:
                return writes

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=GUARD)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=GUARD)


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


@contextlib.contextmanager
def agent_on(net_dir: Path) -> Iterator[tuple[AgentProcess, OutputWatch]]:
    watch = OutputWatch(net_dir)
    agent = AgentProcess(net_dir)
    try:
        yield agent, watch
    finally:
        agent.stop()
        watch.close()


# -- /proc ------------------------------------------------------------------------------------


def proc_status(pid: int, task: str | None = None) -> dict[str, str]:
    path = Path(f"/proc/{pid}/status") if task is None else Path(f"/proc/{pid}/task/{task}/status")
    fields = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of every thread of the process."""
    after_comm = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(after_comm[11]) + int(after_comm[12])  # fields 14 and 15: utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def context_switches(pid: int) -> int:
    """Voluntary and involuntary switches summed over all threads: each is a wakeup."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):
            status = proc_status(pid, task.name)
            total += int(status["voluntary_ctxt_switches"])
            total += int(status["nonvoluntary_ctxt_switches"])
    return total


def kib(value: str) -> float:
    return int(value.split()[0]) / 1024


# -- the machine ------------------------------------------------------------------------------


def filesystem_of(path: Path) -> str:
    best, kind = "", "?"
    real = str(path.resolve())
    for line in Path("/proc/mounts").read_text().splitlines():
        parts = line.split()
        point = parts[1].replace("\\040", " ")
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, parts[2]
    return kind


def machine(tmp: Path) -> str:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} cores ({cpu}), Linux {platform.release()}, Python"
        f" {platform.python_version()}, temp dir on {filesystem_of(tmp)}, load {load}"
    )


# -- the benchmarks ---------------------------------------------------------------------------


@dataclass
class Row:
    metric: str
    figure: str
    target: str
    met: bool | None  # None: reported, no target

    @property
    def verdict(self) -> str:
        return "-" if self.met is None else ("yes" if self.met else "**no**")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def fresh_dir(root: Path, name: str) -> Path:
    path = root / name
    path.mkdir()
    return path


def latency(
    agent: AgentProcess, watch: OutputWatch, net_dir: Path, floor_dir: Path, updates: int, tag: str
) -> tuple[dict[str, list[float]], list[float]]:
    """``updates`` replacements of the primary, alternating rename and in place, each timed from
    the moment the new content is in place to the rename of the matching chain onto our output.
    A floor sample is taken before each, so both see the same load."""
    samples: dict[str, list[float]] = {"rename": [], "in place": []}
    floors: list[float] = []
    writers = (("rename", write_by_rename), ("in place", write_in_place))
    for i in range(updates):
        mode, write = writers[i % 2]
        data = primary_bytes(f"{tag}-{i:06d}")
        expected = chained(data)
        # Let the agent finish what follows Verified (its look at its own rename), so that
        # each update meets an idle agent, as a real one does.
        time.sleep(SETTLE)
        floors.append(floor_once(floor_dir, len(expected)))
        start = write(net_dir, data)
        samples[mode].append(watch.wait_for(expected) - start)
        agent.wait_verified(expected)
    return samples, floors


def bench_reaction(root: Path, updates: int, idle: float) -> tuple[list[Row], float]:
    """Reaction latency, then footprint (memory after the updates, CPU and wakeups idle)."""
    net_dir, floor_dir = fresh_dir(root, "net.d"), fresh_dir(root, "floor")
    first = primary_bytes("start")
    (net_dir / PRIMARY).write_bytes(first)
    with agent_on(net_dir) as (agent, watch):
        agent.wait_verified(chained(first))
        samples, floors = latency(agent, watch, net_dir, floor_dir, updates, "u")
        status = proc_status(agent.pid)
        rss, hwm = kib(status["VmRSS"]), kib(status["VmHWM"])
        # A second for the tail of the last update (an inotify event that arrived late);
        # what is measured after it is whether anything wakes the agent by itself.
        time.sleep(min(idle, 1.0))
        cpu0, switches0 = cpu_seconds(agent.pid), context_switches(agent.pid)
        time.sleep(idle)  # the thing measured: nothing may happen in the agent meanwhile
        cpu1, switches1 = cpu_seconds(agent.pid), context_switches(agent.pid)
    every = samples["rename"] + samples["in place"]
    floor = statistics.median(floors)
    median = statistics.median(every)
    rows = [
        Row("physical floor (write+fsync+rename+fsync dir), median", ms(floor), "-", None),
        Row(
            f"reaction latency, median of {len(every)} updates",
            f"{ms(median)} ({median / floor:.1f}x floor)",
            "within 3x floor",
            median <= 3 * floor,
        ),
        Row(
            f"reaction latency, p99 of {len(every)}", ms(p99(every)), "< 15 ms", p99(every) < 0.015
        ),
    ]
    for mode, values in samples.items():
        rows.append(
            Row(
                f"  by {mode}: median / p99",
                f"{ms(statistics.median(values))} / {ms(p99(values))}",
                "-",
                None,
            )
        )
    rows += [
        Row(
            f"resident memory after {updates} updates (VmRSS; peak VmHWM)",
            f"{rss:.1f} MiB (peak {hwm:.1f} MiB)",
            "<= 35 MiB",
            rss <= 35,
        ),
        Row(
            f"idle {idle:g} s in Verified (from 1 s after the last update): CPU time,"
            " wakeups (context switches, all threads)",
            f"{(cpu1 - cpu0) * 1000:.0f} ms, {switches1 - switches0}",
            "0 wakeups",
            switches1 == switches0,
        ),
    ]
    return rows, median


def runtime_missing() -> str | None:
    """Why the runtime benchmark cannot run here (None: it can): root and containerd."""
    if os.geteuid() != 0:
        return "needs root (a private containerd)"
    import shutil

    if shutil.which("containerd") is None:
        return "needs containerd"
    return None


def bench_confirm(root: Path, updates: int) -> list[Row]:
    """With ``--cri-socket`` on a private containerd whose conf dir is the agent's: each update
    of the primary (by rename) timed to our chain renamed in, and to the agent's Verified, which
    it reports only once containerd says it loaded that chain byte for byte."""
    missing = runtime_missing()
    if missing is not None:
        return [
            Row(
                "primary complete -> the runtime confirms our chain",
                f"skipped: {missing}",
                "-",
                None,
            )
        ]
    # The tests' containerd (its own root, state, socket and conf dir), from this checkout.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.support.containerd_daemon import Containerd

    base = fresh_dir(root, "ctd")
    net_dir = fresh_dir(base, "net.d")
    first = primary_bytes("runtime")
    (net_dir / PRIMARY).write_bytes(first)
    containerd = Containerd(base, net_dir)
    written: list[float] = []
    confirmed: list[float] = []
    try:
        watch = OutputWatch(net_dir)
        agent = AgentProcess(net_dir, extra=("--cri-socket", str(containerd.socket)))
        try:
            agent.wait_verified(chained(first))
            for i in range(updates):
                data = primary_bytes(f"r-{i:06d}")
                expected = chained(data)
                time.sleep(SETTLE)
                start = write_by_rename(net_dir, data)
                written.append(watch.wait_for(expected) - start)
                line = agent.wait_line(
                    lambda d: (
                        d.get("event") == "transition" and d.get("dest") in ("Verified", "Failed")
                    )
                )
                if line["dest"] != "Verified":
                    raise RuntimeError(f"the runtime did not confirm: {line.get('reason')}")
                confirmed.append(line["_seen"] - start)
        finally:
            agent.stop()
            watch.close()
    finally:
        containerd.stop()
    n = len(confirmed)
    return [
        Row(
            f"with --cri-socket: primary complete -> our chain written, median / p99 of {n}",
            f"{ms(statistics.median(written))} / {ms(p99(written))}",
            "-",
            None,
        ),
        Row(
            f"primary complete -> the runtime (containerd) confirms our chain, median / p99 of {n}",
            f"{ms(statistics.median(confirmed))} / {ms(p99(confirmed))}",
            "-",
            None,
        ),
    ]


def bench_sandboxes(root: Path, count: int, passes: int) -> list[Row]:
    """With ``--cri-socket``: one pass over ``count`` real pod sandboxes in a private containerd
    (list them, ask each new one's network namespace, ask which config the runtime loaded,
    classify, write the record), the first (every sandbox new) and the next ones."""
    metric = f"one pass over {count} pod sandboxes (first / later, median of {passes})"
    missing = runtime_missing()
    if missing is not None:
        return [Row(metric, f"skipped: {missing}", "-", None)]
    import asyncio

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from chainfsm.process import sandbox_watch
    from chainfsm.settings import Settings
    from tests.support.pod_sandboxes import PRIMARY_NAME, Pods

    pods = Pods(fresh_dir(root, "pods"))
    try:
        (pods.conf_dir / PRIMARY_NAME).write_bytes(pods.primary_bytes)
        deadline = time.monotonic() + GUARD
        while not pods.containerd.status().network_ready:  # no push API: a hang guard only
            if time.monotonic() > deadline:
                raise RuntimeError("containerd did not load the primary")
            time.sleep(0.01)
        for i in range(count):
            pods.run(f"bench-{i}")
        settings = Settings(net_dir=pods.conf_dir, record_file=root / "pods" / "record.json")

        def nothing_written() -> bytes | None:
            return None

        async def measure() -> tuple[float, list[float]]:
            watch = sandbox_watch.SandboxWatch(settings, pods.socket, nothing_written)
            try:
                start = time.perf_counter()
                await watch.pass_once()
                first = time.perf_counter() - start
                later = []
                for _ in range(passes):
                    start = time.perf_counter()
                    report = await watch.pass_once()
                    later.append(time.perf_counter() - start)
                # Made before the first pass of the boot's record, with no output there and
                # the primary alone: the start-up window proves them unchained.
                if report.error is not None or len(report.verdicts.unchained) != count:
                    raise RuntimeError(f"the pass did not see the sandboxes: {report}")
                return first, later
            finally:
                watch.close()

        first, later = asyncio.run(measure())
    finally:
        pods.stop()
    return [Row(metric, f"{ms(first)} / {ms(statistics.median(later))}", "-", None)]


def start_env(root: Path) -> dict[str, str]:
    """The environment start-up is timed in. Bytecode cached, as an installed package has it:
    a cache in the temp dir for every module (ours and the libraries'), filled by one untimed
    run of each command."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAINFSM_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
    return env


def once_command(net_dir: Path) -> list[str]:
    return [sys.executable, "-m", "chainfsm", "run", "--once", "--net-dir", str(net_dir), *LOG_ARGS]


def bench_start(root: Path, runs: int) -> list[Row]:
    """``run --once`` with the primary present, as a whole process, against the bare import of
    the four core libraries and asyncio, alternating so that both see the same load."""
    net_dir = fresh_dir(root, "once")
    first = primary_bytes("once")
    (net_dir / PRIMARY).write_bytes(first)
    env = start_env(root)
    once = once_command(net_dir)
    floor_cmd = [sys.executable, "-c", FLOOR_IMPORTS]
    starts: list[float] = []
    floors: list[float] = []
    subprocess.run(floor_cmd, check=True, env=env, cwd=root)
    subprocess.run(once, check=True, env=env, cwd=root, stderr=subprocess.DEVNULL)
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(floor_cmd, check=True, env=env, cwd=root)
        floors.append(time.perf_counter() - start)
        (net_dir / OUTPUT).unlink(missing_ok=True)
        start = time.perf_counter()
        subprocess.run(once, check=True, env=env, cwd=root, stderr=subprocess.DEVNULL)
        starts.append(time.perf_counter() - start)
        assert (net_dir / OUTPUT).read_bytes() == chained(first)
    start_s, floor_s = statistics.median(starts), statistics.median(floors)
    extra = imports_beyond_floor(once, floor_cmd, env)
    return [
        Row(f"import floor (`python -c '{FLOOR_IMPORTS}'`), median", ms(floor_s), "-", None),
        Row(
            f"start to Verified, `run --once` as a process (bytecode cached), median of {runs}",
            f"{ms(start_s)} ({start_s / floor_s:.2f}x floor)",
            "within 1.25x floor",
            start_s <= 1.25 * floor_s,
        ),
        Row("  imports beyond the floor (-X importtime, self, least of 3)", extra, "-", None),
    ]


def _import_times(cmd: list[str], env: dict[str, str]) -> dict[str, int]:
    result = subprocess.run(
        [cmd[0], "-X", "importtime", *cmd[1:]], env=env, capture_output=True, text=True, cwd="/"
    )
    times = {}
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s+(.*)$", line)
        if match:
            times[match.group(2).strip()] = int(match.group(1))
    return times


def imports_beyond_floor(cmd: list[str], floor_cmd: list[str], env: dict[str, str]) -> str:
    """The modules ``cmd`` imports that the floor does not, each at its least of three runs
    (one run's figures swing with the machine's load)."""
    floor = _import_times(floor_cmd, env)
    runs = [_import_times(cmd, env) for _ in range(3)]
    extra = {m: min(run.get(m, us) for run in runs) for m, us in runs[0].items() if m not in floor}
    top = sorted(extra.items(), key=lambda kv: -kv[1])[:5]
    listed = ", ".join(f"{m} {us / 1000:.1f}" for m, us in top)
    return f"{sum(extra.values()) / 1000:.1f} ms in {len(extra)} modules ({listed})"


def bench_churn(root: Path, rewrites: int) -> list[Row]:
    """``rewrites`` renames of the primary spread over one second; how many times our output
    was replaced, and how long after the last rewrite the output held the last chain."""
    net_dir = fresh_dir(root, "churn")
    first = primary_bytes("churn-start")
    (net_dir / PRIMARY).write_bytes(first)
    with agent_on(net_dir) as (agent, watch):
        agent.wait_verified(chained(first))
        watch.drain()
        watch.arrivals = 0
        began = time.perf_counter()
        data = first
        for i in range(rewrites):
            pause = began + i / rewrites - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            data = primary_bytes(f"churn-{i:06d}")
            last = write_by_rename(net_dir, data)
        span = last - began
        final = chained(data)
        converged = watch.wait_for(final) - last
        logged = agent.wait_verified(final)
        watch.drain()
    return [
        Row(
            f"churn: {rewrites} primary rewrites in {span:.2f} s: output writes",
            f"{watch.arrivals} ({logged} logged)",
            f"< {rewrites} (coalesced)",
            watch.arrivals < rewrites,
        ),
        Row("churn: last rewrite to converged output", ms(converged), "-", None),
    ]


def bench_scale(root: Path, files: int, updates: int, baseline: float) -> list[Row]:
    """Reaction latency with ``files`` unrelated files in the conf dir, against the cost of the
    listing itself (what the agent must pay per look: list, order, find the primary)."""
    net_dir, floor_dir = fresh_dir(root, "crowded"), fresh_dir(root, "crowded-floor")
    kinds = ("unrelated-{:05d}.txt", ".cilium_bak{:05d}", "10-azure.conflist-old{:05d}")
    for i in range(files):
        (net_dir / kinds[i % len(kinds)].format(i)).touch()
    first = primary_bytes("crowded-start")
    (net_dir / PRIMARY).write_bytes(first)
    listings = []
    for _ in range(50):
        start = time.perf_counter()
        names = reading.list_names(net_dir)
        discovery.runtime_order(names)
        discovery.find_primary(names, OUTPUT, None)
        listings.append(time.perf_counter() - start)
    listing = statistics.median(listings)
    with agent_on(net_dir) as (agent, watch):
        agent.wait_verified(chained(first))
        samples, _ = latency(agent, watch, net_dir, floor_dir, updates, "c")
    every = samples["rename"] + samples["in place"]
    median = statistics.median(every)
    growth = median - baseline
    # Before its write the agent looks at the dir once (the look after the write, to verify,
    # comes after the output is in place), so the growth may be one listing, plus some slack.
    return [
        Row(
            f"scale: one listing of {files} files (list, order, find primary)",
            ms(listing),
            "-",
            None,
        ),
        Row(
            f"scale: reaction latency with {files} files, median of {len(every)}",
            f"{ms(median)} (+{ms(growth)} over the empty dir)",
            "growth <= 1.5 listings",
            growth <= 1.5 * listing,
        ),
    ]


def table(rows: list[Row]) -> str:
    lines = ["| metric | figure | target | met |", "|---|---|---|---|"]
    lines += [f"| {r.metric} | {r.figure} | {r.target} | {r.verdict} |" for r in rows]
    return "\n".join(lines)


BENCHMARKS = ("reaction", "confirm", "sandboxes", "start", "churn", "scale")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a smoke run with few samples")
    parser.add_argument(
        "--only", choices=BENCHMARKS, action="append", help="run only this one (repeatable)"
    )
    args = parser.parse_args(argv)
    quick = args.quick
    only = args.only or BENCHMARKS
    updates, idle, runs, rewrites = (20, 1.0, 3, 200) if quick else (1000, 10.0, 20, 1000)
    confirms = 10 if quick else 200
    files, scale_updates = (1000, 20) if quick else (10_000, 200)
    with tempfile.TemporaryDirectory(prefix="chainfsm-bench-") as temp:
        root = Path(temp)
        before = machine(root)
        rows: list[Row] = []
        baseline = None
        if "reaction" in only or "scale" in only:
            reaction, baseline = bench_reaction(root, updates, idle if "reaction" in only else 0)
            rows += reaction if "reaction" in only else []
        if "confirm" in only:
            rows += bench_confirm(root, confirms)
        if "sandboxes" in only:
            rows += bench_sandboxes(root, 10 if quick else 50, 5 if quick else 50)
        if "start" in only:
            rows += bench_start(root, runs)
        if "churn" in only:
            rows += bench_churn(root, rewrites)
        if "scale" in only and baseline is not None:
            rows += bench_scale(root, files, scale_updates, baseline)
        after = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"machine: {before}; load at the end {after}")
    print(table(rows))
    print(f"command: {' '.join([COMMAND, *(argv if argv is not None else sys.argv[1:])])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
