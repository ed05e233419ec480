"""What the agent reports must tell a stuck node from one still starting: since when the chain
has been failing (in /readyz, the dump and the metrics), and a --primary that matches nothing
named as such, with the files that are there. A real agent process on real files and inotify,
asked over loopback and with ``chainfsm dump``."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from chainfsm.cli.demo import write_in_place
from chainfsm.core.times import iso
from chainfsm.process import http_endpoints
from tests.support.agent_process import AgentProcess, agent_process
from tests.support.constants import AZURE, HANG_GUARD, OUTPUT
from tests.support.guarded_agent import running
from tests.support.loopback_http import http_get
from tests.support.primaries import primary_bytes

PROBES = "/healthz /readyz /metrics"


async def _dump(agent: AgentProcess) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "chainfsm", "dump"),
        env=agent.env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), HANG_GUARD)
    assert proc.returncode == 0, err
    doc: dict[str, Any] = json.loads(out)
    return doc


async def _gauge(port: int, name: str, **labels: str) -> float:
    _, _, body = await http_get(port, "/metrics")
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    raise AssertionError(f"no {name} in /metrics")


async def test_a_chain_failing_past_its_retry_budget_says_since_when_everywhere(
    tmp_path: Path,
) -> None:
    """The issue's case: a primary of ``{}`` spends the budget, Failed, and retry_due takes the
    agent back to Validating. /readyz, the dump and the metrics then say since when it has
    been failing and how many budgets it spent; once Verified, none of it remains."""
    net_dir = tmp_path / "net.d"
    net_dir.mkdir()
    (net_dir / AZURE).write_bytes(b"{}")
    async with agent_process(
        net_dir,
        *("--listen", "127.0.0.1:0", "--history", "100000"),
        *("--retry-attempts", "2", "--retry-seconds", "60", "--backoff-max", "0.2"),
    ) as agent:
        await agent.line("transition", dest="Failed", trigger="budget_spent")
        await agent.line("transition", dest="Validating", trigger="retry_due")
        _, port = agent.address(PROBES)

        status, _, body = await http_get(port, "/readyz")
        assert status == 503
        said = body.decode()
        found = re.search(
            r"; failing since (\S+), .+ ago \(not Verified since\): (\d+) entr(?:y|ies) into"
            r" Failed, (\d+) retry budgets? spent\n$",
            said,
        )
        assert found is not None, said
        since, failures, budgets = found[1], int(found[2]), int(found[3])
        assert failures >= 1
        assert budgets >= 1

        doc = await _dump(agent)
        failing = doc["failing"]
        assert failing["since"] == since
        assert failing["budgets_spent"] >= budgets
        assert failing["failures"] >= failures
        # Since the first entry into Failed, not the latest one.
        first = next(t for t in doc["history"]["transitions"] if t["dest"] == "Failed")
        assert (first["time"], first["trigger"]) == (since, "budget_spent")

        # chainfsm status: the one line says it too.
        proc = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "chainfsm", "status"),
            env=agent.env,
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), HANG_GUARD)
        assert proc.returncode == 1
        assert re.search(
            rf"; failing since {re.escape(since)} \(for \S+\), \d+ retry budgets?", out.decode()
        )

        stamp = await _gauge(port, "chainfsm_failing_since_timestamp_seconds")
        assert iso(stamp) == since
        spent = await _gauge(port, "chainfsm_failures_total", reason="budget_spent")
        assert spent >= budgets

        # Fixed: Verified, and nothing says failing any more.
        at = len(agent.lines)
        write_in_place(net_dir / AZURE, primary_bytes())
        await agent.line("transition", at, dest="Verified")
        status, _, body = await http_get(port, "/readyz")
        assert status == 200
        assert b"failing" not in body
        assert (await _dump(agent))["failing"] is None
        assert await _gauge(port, "chainfsm_failing_since_timestamp_seconds") == 0.0


async def test_a_primary_glob_that_matches_nothing_is_said_by_readyz_naming_the_files(
    tmp_path: Path,
) -> None:
    """The issue's case: a typo in --primary while a valid primary is there. The log said
    primary_unmatched and /readyz said "WaitingPrimary: starting"."""
    net_dir = tmp_path / "net.d"
    net_dir.mkdir()
    (net_dir / AZURE).write_bytes(primary_bytes())
    glob = "15-azure*.conflist"
    async with agent_process(net_dir, "--listen", "127.0.0.1:0", "--primary", glob) as agent:
        unmatched = await agent.line("primary_unmatched")
        _, port = agent.address(PROBES)
        status, _, body = await http_get(port, "/readyz")
        assert status == 503
        assert body.decode() == f"WaitingPrimary: {unmatched['reason']}\n"
        # No output was ever written here: none is said to be left; the one file once only.
        assert body.decode() == (
            f"WaitingPrimary: no config file in {net_dir} matches --primary '{glob}', but"
            f" {AZURE} is a valid config: check the glob; the agent does not report Verified\n"
        )


async def test_an_unmatched_glob_names_the_other_files_there_and_the_output_left(
    tmp_path: Path,
) -> None:
    """Beside the valid config, an invalid one is named too, and our output, there from an
    earlier run, is said to be left in place."""
    (tmp_path / AZURE).write_bytes(primary_bytes())
    (tmp_path / "20-broken.conflist").write_bytes(b"{")
    (tmp_path / OUTPUT).write_bytes(primary_bytes())
    async with running(tmp_path, primary="15-*.conflist") as run:
        await run.settle()
        said = run.agent.status().last_error
    assert said == (
        f"no config file in {tmp_path} matches --primary '15-*.conflist', but {AZURE} is a"
        f" valid config (config files there: {AZURE}, 20-broken.conflist): check the glob;"
        f" {OUTPUT} is left as it is (not withdrawn) and the agent does not report Verified"
    )


async def test_a_glob_that_matches_no_file_there_names_the_files_even_invalid_ones(
    tmp_path: Path,
) -> None:
    """No valid config there (nothing to protect, so no primary_unmatched error): /readyz
    still names the files the glob did not match, not "starting"."""
    (tmp_path / AZURE).write_bytes(b"")
    async with running(tmp_path, primary="15-*.conflist") as run:
        await run.settle()
        response = http_endpoints.readyz(run.agent.status())
    assert (response.status, response.body.decode()) == (
        503,
        f"WaitingPrimary: no config file in {tmp_path} matches --primary '15-*.conflist'"
        f" (the config files there: {AZURE})\n",
    )
    assert not (tmp_path / OUTPUT).exists()
