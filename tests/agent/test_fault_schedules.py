"""Random schedules of primary writes, renames, deletes and tampering with our output.

After every step the test waits (on transitions, never a clock) until the agent has answered
the dir as it now is, then checks: no invalid content ever arrived under our output name (the
harness's guard), no invalid file sits there now, and the dir holds the right chain: ours for
a valid primary, none without a primary. Each wait's condition names the exact bytes or state
expected, so it cannot pass before the agent has acted; the harness's hang guard ends a stuck
agent as a failure.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainfsm.cli.demo import write_in_place
from chainfsm.core import validation
from chainfsm.core.states import State, Trigger
from tests.support.conf_dir_faults import chained
from tests.support.constants import AZURE, OUTPUT
from tests.support.guarded_agent import Running, running, write_by_rename
from tests.support.primaries import primary_bytes

NAMES = (AZURE, "15-azure.conflist")
#: A hang guard per step (each ends on a transition long before); short so that a shrinking
#: Hypothesis run over a real hang does not take minutes.
STEP_GUARD = 10.0
INVALID = (b"", b"{", b'{"name": "azure"}', b'{"name": "azure", "plugins": [{}]}')


def version(n: int) -> bytes:
    doc = json.loads(primary_bytes())
    doc["plugins"][0]["mtu"] = 1400 + n
    return json.dumps(doc).encode()


Step = tuple[str, int]
steps = st.one_of(
    st.tuples(st.sampled_from(["write-in-place", "write-by-rename"]), st.integers(0, 2)),
    st.tuples(st.just("write-invalid"), st.integers(0, len(INVALID) - 1)),
    st.tuples(
        st.sampled_from(["delete-primary", "rename-primary", "delete-out", "truncate-out"]),
        st.just(0),
    ),
    st.tuples(st.just("edit-out"), st.just(0)),
)


class Model:
    """What the dir holds, as the test made it."""

    def __init__(self, net_dir: Path) -> None:
        self.net_dir = net_dir
        self.name: str | None = None
        self.content: bytes | None = None

    def apply(self, step: Step) -> bool:
        """Make the step; False when it changed nothing (the agent then owes no answer)."""
        kind, arg = step
        out = self.net_dir / OUTPUT
        target = self.net_dir / (self.name or NAMES[0])
        if kind.startswith("write"):
            data = INVALID[arg] if kind == "write-invalid" else version(arg)
            (write_in_place if kind != "write-by-rename" else write_by_rename)(target, data)
            self.name, self.content = target.name, data
        elif kind == "delete-primary" and self.name is not None:
            target.unlink()
            self.name = self.content = None
        elif kind == "rename-primary" and self.name is not None:
            other = NAMES[1 - NAMES.index(self.name)]
            target.rename(self.net_dir / other)
            self.name = other
        elif kind == "delete-out" and out.exists():
            out.unlink()
        elif kind == "truncate-out" and out.exists():
            write_in_place(out, b"")
        elif kind == "edit-out" and out.exists():
            write_in_place(out, primary_bytes())  # someone drops our plugin
        else:
            return False
        return True

    def valid(self) -> bool:
        return self.content is not None and self.content not in INVALID


def output_ok(net_dir: Path) -> bool:
    """No file, or one the runtime accepts, under our output name."""
    try:
        data = (net_dir / OUTPUT).read_bytes()
    except FileNotFoundError:
        return True
    return validation.valid(OUTPUT, data)


def settled(run: Running, model: Model, since: int) -> Callable[[], bool]:
    out = run.output

    def check() -> bool:
        if model.name is None:
            return run.agent.state is State.WaitingPrimary and not out.exists()
        if model.valid():
            assert model.content is not None
            return (
                run.agent.state is State.Verified
                and run.agent.status().primary == model.name
                and out.exists()
                and out.read_bytes() == chained(model.content)
            )
        # Invalid: the agent refused this very file after the step, and nothing invalid
        # is left under our name (it removes a truncated output while it waits).
        return output_ok(run.net_dir) and any(
            r.trigger == Trigger.PRIMARY_INVALID and r.primary == model.name
            for r in run.seen[since:]
        )

    return check


async def play(schedule: list[Step]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        net_dir = Path(tmp)
        model = Model(net_dir)
        # Tampering is not counted as a fight here (revert back-off has its own test).
        async with running(
            net_dir,
            backoff_initial=30.0,
            backoff_max=60.0,
            retry_attempts=10_000,
            revert_limit=10_000,
        ) as run:
            for step in schedule:
                since = len(run.seen)
                if not model.apply(step):
                    since = 0  # nothing changed: the earlier answer stands
                done = settled(run, model, since)
                async with asyncio.timeout(STEP_GUARD):
                    while not done():
                        await run.until(lambda r: True)
                await run.guard.barrier()
                assert run.guard.invalid_arrivals == [], (step, run.guard.invalid_arrivals)
                assert output_ok(net_dir) or not model.valid(), step


# slow: a hundred schedules, each on a real agent (2 to 9 s)
@pytest.mark.slow
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=False,
)
@given(st.lists(steps, min_size=1, max_size=10))
def test_random_schedules_never_leave_an_invalid_output_and_converge(schedule: list[Step]) -> None:
    asyncio.run(play(schedule))
