"""The agent as a real process under fault: SIGKILL at random points while the primary churns
(hundreds of times), SIGTERM during writes, and SIGUSR1 storms.

After every kill the output is absent or the chain of one complete primary version (never a
part, never anything else), and the next start removes every temp file of ours. The kill
points come from a seeded RNG (printed; set CHAINFSM_FAULT_SEED to replay); the delays are
fault-injection timing, never assertions.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from chainfsm.cli.demo import write_in_place
from tests.support.conf_dir_faults import chained, our_temps
from tests.support.constants import AZURE, HANG_GUARD, OUTPUT
from tests.support.guarded_agent import write_by_rename
from tests.support.primaries import primary_bytes

VERSIONS = 16
LANES = 2  # CI has two cores
KILLS_PER_LANE = 100


def versions() -> list[bytes]:
    doc = json.loads(primary_bytes())
    out = []
    for n in range(VERSIONS):
        doc["plugins"][0]["mtu"] = 1400 + n
        out.append(json.dumps(doc, indent=n % 3).encode())
    return out


@pytest.fixture(scope="module")
def seed() -> int:
    value = int(os.environ.get("CHAINFSM_FAULT_SEED") or random.SystemRandom().randrange(2**32))
    print(f"fault-injection seed: {value} (replay with CHAINFSM_FAULT_SEED={value})")
    return value


async def spawn(net_dir: Path, *extra: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chainfsm",
        "run",
        "--net-dir",
        str(net_dir),
        *extra,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "CHAINFSM_LOG_FORMAT": "json"},
    )


async def until_line(proc: asyncio.subprocess.Process, event: str, **fields: str) -> None:
    """Read the agent's log lines up to the first ``event`` with these fields."""
    assert proc.stderr is not None
    async with asyncio.timeout(HANG_GUARD):
        while True:
            raw = await proc.stderr.readline()
            assert raw, f"the agent exited (code {await proc.wait()}) before {event}"
            try:
                line = json.loads(raw)
            except ValueError:
                raise AssertionError(
                    f"not one JSON line: {raw[:200]!r} ... {raw[-300:]!r} ({len(raw)} bytes)"
                ) from None
            if line.get("event") == event and all(line.get(k) == v for k, v in fields.items()):
                return


@contextmanager
def churning(net_dir: Path, rng: random.Random, contents: list[bytes]) -> Iterator[list[bytes]]:
    """A thread rewriting the primary with random versions, in place or by rename, until the
    block ends; yields the list of versions written so far."""
    written: list[bytes] = []
    stop = threading.Event()
    picks = random.Random(rng.random())

    def churn() -> None:
        while not stop.is_set():
            data = picks.choice(contents)
            write = write_in_place if picks.random() < 0.5 else write_by_rename
            write(net_dir / AZURE, data)
            written.append(data)

    thread = threading.Thread(target=churn, daemon=True)
    thread.start()
    try:
        yield written
    finally:
        stop.set()
        thread.join(HANG_GUARD)


async def killed_lane(net_dir: Path, rng: random.Random, contents: list[bytes]) -> dict[str, int]:
    allowed = {chained(v) for v in contents}
    stats = {"kills": 0, "absent": 0, "temps_left": 0, "during_startup": 0}
    write_by_rename(net_dir / AZURE, contents[0])
    for _ in range(KILLS_PER_LANE):
        before = set(our_temps(net_dir))
        proc = await spawn(net_dir, "--backoff-max", "0.05")
        try:
            if rng.random() < 0.25:  # a kill during start-up (cleanup included)
                stats["during_startup"] += 1
                await asyncio.sleep(rng.uniform(0, 0.15))
            else:
                await until_line(proc, "started")
                # Start-up removed every temp file the previous kill left.
                assert not before & set(our_temps(net_dir)), before
                with churning(net_dir, rng, contents):
                    await asyncio.sleep(rng.uniform(0, 0.04))
                    proc.send_signal(signal.SIGKILL)
                    await proc.wait()
        finally:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()
        stats["kills"] += 1
        # Old valid content or new valid content or nothing; never a part, never another.
        if (net_dir / OUTPUT).exists():
            assert (net_dir / OUTPUT).read_bytes() in allowed
        else:
            stats["absent"] += 1
        stats["temps_left"] += len(our_temps(net_dir))
    # The next start cleans up and converges on the last primary written.
    final = contents[-1]
    write_by_rename(net_dir / AZURE, final)
    proc = await spawn(net_dir, "--once", "--timeout", "20")
    async with asyncio.timeout(HANG_GUARD):
        assert await proc.wait() == 0
    assert our_temps(net_dir) == []
    assert (net_dir / OUTPUT).read_bytes() == chained(final)
    return stats


# slow: a hundred kills of a real agent process (about 20 s)
@pytest.mark.slow
async def test_sigkill_at_random_points_never_leaves_a_part_or_a_stale_temp(
    tmp_path: Path, seed: int
) -> None:
    contents = versions()
    lanes = []
    for lane in range(LANES):
        net_dir = tmp_path / f"lane{lane}"
        net_dir.mkdir()
        lanes.append(killed_lane(net_dir, random.Random(seed + lane), contents))
    results = await asyncio.gather(*lanes)
    print("per lane:", results)
    assert sum(r["kills"] for r in results) == LANES * KILLS_PER_LANE
    # The faults hit live agents: most kills found a chain written by some agent.
    assert sum(r["kills"] - r["absent"] for r in results) > 0


# slow: churn against real agent processes (about 5 s)
@pytest.mark.slow
async def test_sigterm_during_churn_finishes_the_write_and_exits_0(
    tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed ^ 0x5157)
    contents = versions()
    allowed = {chained(v) for v in contents}
    write_by_rename(tmp_path / AZURE, contents[0])
    for _ in range(30):
        proc = await spawn(tmp_path, "--backoff-max", "0.05")
        await until_line(proc, "started")
        with churning(tmp_path, rng, contents):
            await asyncio.sleep(rng.uniform(0, 0.04))
            proc.send_signal(signal.SIGTERM)
            async with asyncio.timeout(HANG_GUARD):
                assert proc.stderr is not None
                await proc.stderr.read()
                assert await proc.wait() == 0
        # A stop is never a cut: the temp file was renamed into place or removed.
        assert our_temps(tmp_path) == []
        if (tmp_path / OUTPUT).exists():
            assert (tmp_path / OUTPUT).read_bytes() in allowed


async def test_sigusr1_storm_during_churn_loses_no_transition(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed ^ 0x0515)
    contents = versions()
    write_by_rename(tmp_path / AZURE, contents[0])
    proc = await spawn(tmp_path)
    try:
        await until_line(proc, "transition", trigger="output_verified")
        with churning(tmp_path, rng, contents):
            for _ in range(300):
                proc.send_signal(signal.SIGUSR1)
                await asyncio.sleep(rng.uniform(0, 0.001))
        assert proc.returncode is None, "SIGUSR1 ended the agent"
        # No lost transition: the last version written is chained, as always.
        write_by_rename(tmp_path / AZURE, contents[-1])
        async with asyncio.timeout(HANG_GUARD):
            while (tmp_path / OUTPUT).read_bytes() != chained(contents[-1]):
                await until_line(proc, "transition", trigger="output_verified")
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(HANG_GUARD):
            assert proc.stderr is not None
            await proc.stderr.read()
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert our_temps(tmp_path) == []
