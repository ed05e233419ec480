#!/usr/bin/env python3
"""A paired comparison of two versions of the agent's reaction, for commit messages.

    git archive BASE chainfsm | tar -x -C /tmp/base
    python benchmarks/ab.py /tmp/base [/tmp/other] [--updates 500] [--start 50]

Two agents run side by side (the first from the dir given, the second from the second dir or
the installed package), and each update goes to one then the other, alternating which goes
first, so both see the same load: on a shared machine that is the only fair comparison.
Prints the median and p99 reaction latency and the CPU each agent used per update. With
``--start N``, also N rounds of start-up: the import floor, then ``run --once`` of each version,
one after the other, as benchmarks/run.py times them; prints each median and its ratio to the
floor.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import run  # the benchmark's own helpers, beside this file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("base", help="a dir holding the base version's chainfsm/")
    parser.add_argument("other", nargs="?", default="", help="the same for the other version")
    parser.add_argument("--updates", type=int, default=500)
    parser.add_argument("--start", type=int, default=0, metavar="N", help="start-up rounds")
    args = parser.parse_args(argv)
    names = ("base", "other")
    with tempfile.TemporaryDirectory(prefix="chainfsm-ab-") as temp:
        root = Path(temp)
        if args.start:
            start_pairs(root, {"base": args.base, "other": args.other}, args.start)
        agents: dict[str, tuple[run.AgentProcess, run.OutputWatch, Path]] = {}
        try:
            for name, tree in zip(names, (args.base, args.other), strict=True):
                net_dir = run.fresh_dir(root, name)
                first = run.primary_bytes("start")
                (net_dir / run.PRIMARY).write_bytes(first)
                watch = run.OutputWatch(net_dir)
                agent = run.AgentProcess(net_dir, pythonpath=tree or None)
                agents[name] = (agent, watch, net_dir)
                agent.wait_verified(run.chained(first))
            cpu = {name: run.cpu_seconds(agents[name][0].pid) for name in names}
            samples: dict[str, list[float]] = {name: [] for name in names}
            for i in range(args.updates):
                for name in names if i % 2 else names[::-1]:
                    agent, watch, net_dir = agents[name]
                    data = run.primary_bytes(f"{name}-{i:06d}")
                    expected = run.chained(data)
                    time.sleep(run.SETTLE)
                    write = run.write_by_rename if (i // 2) % 2 else run.write_in_place
                    start = write(net_dir, data)
                    samples[name].append(watch.wait_for(expected) - start)
                    agent.wait_verified(expected)
            for name, tree in zip(names, (args.base, args.other or "installed"), strict=True):
                used = (run.cpu_seconds(agents[name][0].pid) - cpu[name]) / args.updates
                print(
                    f"{name} ({tree}): median {run.ms(statistics.median(samples[name]))},"
                    f" p99 {run.ms(run.p99(samples[name]))}, CPU per update {run.ms(used)}"
                )
        finally:
            for agent, watch, _ in agents.values():
                agent.stop()
                watch.close()
    return 0


def start_pairs(root: Path, trees: dict[str, str], rounds: int) -> None:
    """``rounds`` rounds of: the import floor, then ``run --once`` from each tree."""
    net_dir = run.fresh_dir(root, "once")
    (net_dir / run.PRIMARY).write_bytes(run.primary_bytes("once"))
    env = run.start_env(root)
    commands = {"import floor": ([sys.executable, "-c", run.FLOOR_IMPORTS], env)}
    for name, tree in trees.items():
        label = f"{name} ({tree or 'installed'}) run --once"
        commands[label] = (run.once_command(net_dir), {**env, "PYTHONPATH": tree} if tree else env)
    times: dict[str, list[float]] = {label: [] for label in commands}
    for round_ in range(rounds + 1):  # round 0 fills the bytecode cache, untimed
        for label, (command, command_env) in commands.items():
            (net_dir / run.OUTPUT).unlink(missing_ok=True)
            began = time.perf_counter()
            subprocess.run(
                command, check=True, env=command_env, cwd=root, stderr=subprocess.DEVNULL
            )
            if round_:
                times[label].append(time.perf_counter() - began)
    floor = statistics.median(times["import floor"])
    for label, values in times.items():
        median = statistics.median(values)
        print(f"{label}: median of {rounds} {run.ms(median)} ({median / floor:.3f}x floor)")


if __name__ == "__main__":
    sys.exit(main())
