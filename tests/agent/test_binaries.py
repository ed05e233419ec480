"""--bin-dir: the chain's plugin binaries must be installed and speak its cniVersion for the
agent to be Verified; the chain is written either way (fail closed). Plugins here are tiny shell
scripts that answer VERSION (any machine); the reference plugins' own answers are checked in
tests/runtime/test_runtime_agreement.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncinotify
import pytest
from asyncinotify import Mask

from chainfsm.cli import commands
from chainfsm.core.states import State, Transition, Trigger
from chainfsm.core.validation import Refusal, Rule
from chainfsm.edge import binaries
from tests.support.constants import AKS_FIXTURE, AZURE, HANG_GUARD, OUTPUT, PRIMARIES_DIR
from tests.support.guarded_agent import SLOW, running
from tests.support.plugin_checks import chain, refusal
from tests.support.standin_plugins import SPEC, answering, install, plugin_script
from tests.support.stuck_plugins import alive, exited, runs_of, stuck

# -- pure -----------------------------------------------------------------------------------


def test_required_types_are_the_plugin_types_once_each_never_ipam() -> None:
    """libcni runs each plugin's type; an IPAM type is the plugin's business (azure-cns is no
    binary at all), so it is information, never a requirement."""
    plugins: list[dict[str, Any]] = [
        {"type": "bridge", "ipam": {"type": "host-local"}},
        {"type": "portmap"},
        {"type": "bridge", "ipam": "not an object"},
        {"type": "azure-vnet", "ipam": {"type": "azure-cns"}},
        {"type": "antrea"},
    ]
    assert binaries.required_types(plugins) == ["bridge", "portmap", "azure-vnet", "antrea"]
    assert binaries.ipam_types(plugins) == ["host-local", "azure-cns"]


def test_a_list_without_cni_version_asks_for_0_1_0() -> None:
    assert binaries.list_version({"name": "x"}) == "0.1.0"
    assert binaries.list_version({"cniVersion": "1.0.0"}) == "1.0.0"


@pytest.mark.parametrize(
    ("stdout", "code", "expected"),
    [
        (b'{"cniVersion":"1.0.0","supportedVersions":["0.3.0","1.0.0"]}', 0, ("0.3.0", "1.0.0")),
        (b'{"cniVersion":"0.2.0"}', 0, ("0.1.0", "0.2.0")),
        (b'{"code":4,"msg":"unknown CNI_COMMAND: VERSION"}', 1, ("0.1.0",)),
        (b'{"cniVersion":"1.0.0"}', 0, 'answered VERSION without "supportedVersions"'),
        (b'{"supportedVersions":["1.0.0"]}', 0, 'answered VERSION without a "cniVersion"'),
        (b"", 0, "answered VERSION with something other than a JSON object"),
        (b'{"code":100,"msg":"boom"}', 1, "failed the VERSION command (exit code 1): boom"),
        (b"segfault", 139, "failed the VERSION command (exit code 139)"),
    ],
)
def test_version_replies_read_as_libcni_reads_them(
    stdout: bytes, code: int, expected: tuple[str, ...] | str
) -> None:
    assert binaries.parse_version_reply(stdout, code) == expected


def test_versions_are_described_lowest_to_highest_and_matched_exactly() -> None:
    assert binaries.describe_versions(["1.0.0", "0.3.0", "0.4.0", "0.3.1"]) == "0.3.0-1.0.0"
    assert binaries.describe_versions(["0.1.0"]) == "0.1.0"
    assert binaries.supports(SPEC, "0.3.1")
    assert not binaries.supports(SPEC, "1.1.0")


def test_versions_a_plugin_spells_oddly_are_described_not_raised_on() -> None:
    # "²" passed str.isdigit and then raised from int(): a reply crashed the binary check.
    assert binaries.describe_versions(["1.\u00b2.0", "0.3.0"]) == "0.3.0-1.\u00b2.0"


# -- the binaries themselves -------------------------------------------------------------------


async def test_every_problem_is_named_once_in_the_chain_s_order(tmp_path: Path) -> None:
    plugin_script(tmp_path, "azure-vnet", answering(["0.1.0", "0.2.0"]))
    doc = chain("0.3.0", "azure-vnet", "portmap", "antrea")
    found = await binaries.check_chain(tmp_path, AZURE, doc, binaries.VersionCache())
    assert [p.detail for p in found] == [
        'plugin "azure-vnet" supports cniVersion 0.1.0-0.2.0, not 0.3.0',
        f'plugin "portmap" is not in {tmp_path}',
        f'plugin "antrea" is not in {tmp_path}',
    ]


async def test_every_binary_in_place_and_speaking_the_version_passes(tmp_path: Path) -> None:
    plugin_script(tmp_path, "azure-vnet", answering(SPEC))
    plugin_script(tmp_path, "antrea", answering(["0.3.0", "0.4.0", "1.0.0"]))
    assert await refusal(tmp_path, chain("0.3.0", "azure-vnet", "antrea")) is None


async def test_a_missing_binary_is_named(tmp_path: Path) -> None:
    plugin_script(tmp_path, "azure-vnet", answering(SPEC))
    found = await refusal(tmp_path, chain("0.3.0", "azure-vnet", "antrea"))
    assert found == Refusal(AZURE, Rule.PLUGIN_BINARY, f'plugin "antrea" is not in {tmp_path}')
    assert str(found) == f'10-azure.conflist: plugin "antrea" is not in {tmp_path}'


async def test_a_binary_that_cannot_run_is_named(tmp_path: Path) -> None:
    plugin_script(tmp_path, "antrea", answering(SPEC)).chmod(0o644)
    (tmp_path / "portmap").mkdir()
    found = await refusal(tmp_path, chain("1.0.0", "antrea"))
    assert found is not None
    assert found.detail == f'plugin "antrea": {tmp_path}/antrea is not executable'
    found = await refusal(tmp_path, chain("1.0.0", "portmap"))
    assert found is not None
    assert found.detail == f'plugin "portmap": {tmp_path}/portmap is not a file'


async def test_a_binary_too_old_for_the_list_version_is_named(tmp_path: Path) -> None:
    plugin_script(tmp_path, "bandwidth", answering(["0.3.0", "0.3.1", "0.4.0", "1.0.0"]))
    found = await refusal(tmp_path, chain("1.1.0", "bandwidth"))
    assert found is not None
    assert found.rule is Rule.PLUGIN_BINARY
    assert found.detail == 'plugin "bandwidth" supports cniVersion 0.3.0-1.0.0, not 1.1.0'


async def test_a_plugin_older_than_version_speaks_0_1_0(tmp_path: Path) -> None:
    old = 'cat > /dev/null\necho \'{"code": 4, "msg": "unknown CNI_COMMAND: VERSION"}\'\nexit 1'
    plugin_script(tmp_path, "old", old)
    assert await refusal(tmp_path, chain(None, "old")) is None
    found = await refusal(tmp_path, chain("0.3.1", "old"))
    assert found is not None
    assert found.detail == 'plugin "old" supports cniVersion 0.1.0, not 0.3.1'


async def test_a_hanging_binary_cannot_hang_the_agent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(binaries, "VERSION_TIMEOUT", 0.2)
    plugin_script(tmp_path, "stuck", "exec sleep 600")
    found = await refusal(tmp_path, chain("1.0.0", "stuck"))
    assert found is not None
    assert found.detail == f'plugin "stuck" ({tmp_path}/stuck) did not answer VERSION within 0.2 s'


async def test_a_timeout_kills_the_plugin_s_whole_group_and_waits_on_no_pipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A script stuck in a child that holds its stdout: killing the script alone left the
    check waiting on the pipe for as long as the child lived (30 s for a `sleep 30`)."""
    # Long enough for a loaded machine to start the script and its child before it.
    monkeypatch.setattr(binaries, "VERSION_TIMEOUT", 2.0)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    async with runs_of(tmp_path / "runs") as runs:
        plugin_script(bin_dir, "stuck", stuck(runs.dir))
        started = asyncio.ensure_future(runs.next())
        async with asyncio.timeout(HANG_GUARD):  # the child sleeps 600 s
            found = await refusal(bin_dir, chain("1.0.0", "stuck"))
        assert found is not None
        assert found.detail == f'plugin "stuck" ({bin_dir}/stuck) did not answer VERSION within 2 s'
        script, child = await started
        await exited(script)
        await exited(script)
        await exited(child)


async def test_a_query_given_up_kills_the_plugin_s_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The agent leaving cuts a VERSION query under way, the plugin's children too."""
    monkeypatch.setattr(binaries, "VERSION_TIMEOUT", 10 * HANG_GUARD)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    async with runs_of(tmp_path / "runs") as runs:
        plugin_script(bin_dir, "stuck", stuck(runs.dir))
        cache = binaries.VersionCache()
        check = asyncio.ensure_future(
            binaries.check_chain(bin_dir, AZURE, chain("1.0.0", "stuck"), cache)
        )
        script, child = await runs.next()
        check.cancel()
        await asyncio.gather(check, return_exceptions=True)
        assert alive(script)
        assert alive(child)  # a check given up leaves its query running
        await cache.close()
        await exited(script)
        await exited(script)
        await exited(child)


async def test_answers_are_cached_until_the_binary_changes(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    plugin_script(bin_dir, "antrea", answering(SPEC, calls))
    cache = binaries.VersionCache()
    doc = chain("1.0.0", "antrea")
    for _ in range(3):
        assert await binaries.check_chain(bin_dir, AZURE, doc, cache) == ()
    assert calls.read_text().count("x") == 1
    plugin_script(bin_dir, "antrea", answering(["0.3.0", "0.4.0"], calls))  # an upgrade, say
    (found,) = await binaries.check_chain(bin_dir, AZURE, doc, cache)
    assert found.detail == 'plugin "antrea" supports cniVersion 0.3.0-0.4.0, not 1.0.0'
    assert calls.read_text().count("x") == 2


# -- the agent: the chain is written at once, Verified only once the binary is there ----------


def mentioning(words: str) -> Callable[[Transition], bool]:
    return lambda record: record.trigger == Trigger.BINARY_MISSING and words in record.reason


async def test_a_missing_binary_never_withholds_the_chain(tmp_path: Path) -> None:
    """Fail closed: withheld, the runtime would run the primary alone and pods would start
    without our plugin for good; written, they fail and are retried until it is there."""
    net_dir, bin_dir = tmp_path / "net.d", install(tmp_path / "bin", "azure-vnet")
    net_dir.mkdir()
    primary = {"cniVersion": "0.3.0", "name": "azure", "plugins": [{"type": "azure-vnet"}]}
    (net_dir / AZURE).write_text(json.dumps(primary))
    async with running(net_dir, output=OUTPUT, bin_dir=bin_dir) as run:
        missing = await run.until(Trigger.BINARY_MISSING)
        assert missing.source == State.Writing.value
        assert missing.reason == (
            f'{OUTPUT} is in place, but plugin "antrea" is not in {bin_dir}: pods on this node'
            f" cannot start until it is installed in {bin_dir} (chainfsm re-checks on every"
            " change there)"
        )
        written = json.loads((net_dir / OUTPUT).read_bytes())
        assert [p["type"] for p in written["plugins"]] == ["azure-vnet", "antrea"]
        assert run.agent.state is State.Failed
        assert [p.detail for p in run.agent.status().binary_problems] == [
            f'plugin "antrea" is not in {bin_dir}'
        ]
        # Installed, but too old for the list: still not Verified, the chain untouched.
        before = (net_dir / OUTPUT).read_bytes()
        plugin_script(bin_dir, "antrea", answering(["0.1.0", "0.2.0"]))
        await run.until(mentioning("supports cniVersion 0.1.0-0.2.0, not 0.3.0"))
        # The right version: the bin-dir watch wakes the agent, Verified with nothing rewritten.
        writes = run.agent.status().writes
        plugin_script(bin_dir, "antrea", answering(SPEC))
        await run.until(Trigger.OUTPUT_VERIFIED)
        assert (net_dir / OUTPUT).read_bytes() == before
        assert run.agent.status().writes == writes
        assert run.agent.status().binary_problems == ()


async def test_a_binary_removed_while_verified_leaves_verified(tmp_path: Path) -> None:
    net_dir, bin_dir = tmp_path / "net.d", install(tmp_path / "bin", "azure-vnet", "antrea")
    net_dir.mkdir()
    primary = {"cniVersion": "0.3.0", "name": "azure", "plugins": [{"type": "azure-vnet"}]}
    (net_dir / AZURE).write_text(json.dumps(primary))
    async with running(net_dir, output=OUTPUT, bin_dir=bin_dir) as run:
        await run.until(Trigger.OUTPUT_VERIFIED)
        (bin_dir / "antrea").unlink()
        missing = await run.until(Trigger.BINARY_MISSING)
        assert missing.source == State.Verified.value
        assert (net_dir / OUTPUT).exists()


async def test_a_binary_made_executable_after_copying_is_seen(tmp_path: Path) -> None:
    net_dir, bin_dir = tmp_path / "net.d", tmp_path / "bin"
    net_dir.mkdir()
    bin_dir.mkdir()
    (net_dir / AZURE).write_text(json.dumps(chain("1.0.0", "antrea")))
    plugin_script(bin_dir, "antrea", answering(SPEC)).chmod(0o644)
    # Backoffs too long to matter: only the bin dir's IN_ATTRIB event can move the agent on.
    async with running(
        net_dir, output=OUTPUT, bin_dir=bin_dir, plugin={"type": "antrea"}, **SLOW
    ) as run:
        await run.until(mentioning("is not executable"))
        assert run.agent.state is State.Failed
        assert [p.detail for p in run.agent.status().binary_problems] == [
            f'plugin "antrea": {bin_dir}/antrea is not executable'
        ]
        chained, writes = (net_dir / OUTPUT).read_bytes(), run.agent.status().writes
        (bin_dir / "antrea").chmod(0o755)  # only an IN_ATTRIB event
        verified = await run.until(Trigger.OUTPUT_VERIFIED)
        assert verified.dest == State.Verified.value
        assert run.agent.status().binary_problems == ()
        # Seen, not rewritten: the chain written while the binary was unusable stands.
        assert (net_dir / OUTPUT).read_bytes() == chained
        assert run.agent.status().writes == writes


async def test_a_cns_primary_chains_with_no_ipam_binary(tmp_path: Path) -> None:
    """CNS-managed AKS nodes name "ipam":{"type":"azure-cns"}: no such binary exists, and the
    chain must still reach Verified."""
    net_dir = tmp_path / "net.d"
    net_dir.mkdir()
    bin_dir = install(tmp_path / "bin", "azure-vnet", "portmap", "antrea")
    (net_dir / AZURE).write_bytes((PRIMARIES_DIR / AKS_FIXTURE).read_bytes())
    async with running(net_dir, output=OUTPUT, bin_dir=bin_dir) as run:
        await run.until(Trigger.OUTPUT_VERIFIED)
        assert not (bin_dir / "azure-cns").exists()


def test_bin_dir_comes_from_the_flag_or_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    args = commands.build_parser().parse_args(["run", "--bin-dir", "/opt/cni/bin"])
    assert commands.settings_from(args).bin_dir == Path("/opt/cni/bin")
    monkeypatch.setenv("CHAINFSM_BIN_DIR", "/host/opt/cni/bin")
    args = commands.build_parser().parse_args(["run"])
    assert commands.settings_from(args).bin_dir == Path("/host/opt/cni/bin")
    monkeypatch.delenv("CHAINFSM_BIN_DIR")
    assert commands.settings_from(commands.build_parser().parse_args(["run"])).bin_dir is None


# -- a plugin stuck on VERSION delays no answer to the conf dir --------------------------------


@contextlib.asynccontextmanager
async def arrivals(net_dir: Path, name: str) -> AsyncIterator[asyncio.Queue[None]]:
    """One item each time ``name`` is renamed into ``net_dir`` (the agent's only way to
    write it)."""
    queue: asyncio.Queue[None] = asyncio.Queue()
    inotify = asyncinotify.Inotify()
    inotify.add_watch(net_dir, Mask.MOVED_TO | Mask.ONLYDIR)

    async def pump() -> None:
        async for event in inotify:
            if event.name is not None and str(event.name) == name:
                queue.put_nowait(None)

    task = asyncio.create_task(pump())
    try:
        yield queue
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        inotify.close()


async def restored(queue: asyncio.Queue[None]) -> None:
    async with asyncio.timeout(HANG_GUARD):
        await queue.get()


def azure_node(tmp_path: Path, *binaries_there: str) -> tuple[Path, Path]:
    net_dir = tmp_path / "net.d"
    net_dir.mkdir()
    (net_dir / AZURE).write_text(json.dumps(chain("0.3.0", "azure-vnet")))
    return net_dir, install(tmp_path / "bin", *binaries_there)


@pytest.fixture
def version_never_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the hang guard: a reaction that waited for the stuck plugin would fail the test."""
    monkeypatch.setattr(binaries, "VERSION_TIMEOUT", 10 * HANG_GUARD)


@pytest.mark.usefixtures("version_never_times_out")
async def test_a_stuck_plugin_delays_no_answer_to_the_conf_dir_while_writing(
    tmp_path: Path,
) -> None:
    net_dir, bin_dir = azure_node(tmp_path, "azure-vnet")
    async with runs_of(tmp_path / "runs") as runs:
        plugin_script(bin_dir, "antrea", stuck(runs.dir))
        async with (
            arrivals(net_dir, OUTPUT) as arrived,
            running(net_dir, output=OUTPUT, bin_dir=bin_dir, **SLOW) as run,
        ):
            script, child = await runs.next()  # the chain is written; antrea hangs on VERSION
            await restored(arrived)
            assert run.agent.state is State.Writing
            (net_dir / OUTPUT).unlink()
            changed = await run.until(Trigger.CHANGE_DETECTED)
            assert changed.source == State.Writing.value
            assert changed.reason == (
                f"{AZURE} is now first in the runtime's order; {OUTPUT} was changed by someone"
                " else: it holds nothing (removed) (seen while the chain's plugin binaries were"
                " being checked)"
            )
            await restored(arrived)
            # Back while the plugin still hangs, and never Verified meanwhile (fail closed).
            assert alive(script)
            assert alive(child)
            assert (net_dir / OUTPUT).exists()
            assert State.Verified.value not in [r.dest for r in run.seen]
            # A fix in the bin dir is acted on at once, not after the hung query.
            plugin_script(bin_dir, "antrea", answering(SPEC))
            await run.until(Trigger.OUTPUT_VERIFIED)
            assert alive(child)
        # The agent leaving cuts the query still under way, children too.
        await exited(script)
        await exited(script)
        await exited(child)


@pytest.mark.usefixtures("version_never_times_out")
@pytest.mark.parametrize(
    ("there", "settled", "left"),
    [
        # Verified with every binary there; an upgrade of antrea then hangs.
        (("azure-vnet", "antrea"), Trigger.OUTPUT_VERIFIED, State.Verified),
        # Failed with antrea missing; its install then hangs.
        (("azure-vnet",), mentioning('plugin "antrea" is not in'), State.Failed),
    ],
    ids=["while-verified", "while-failed"],
)
async def test_a_stuck_plugin_delays_no_answer_to_the_conf_dir(
    tmp_path: Path,
    there: tuple[str, ...],
    settled: Callable[[Transition], bool] | str,
    left: State,
) -> None:
    net_dir, bin_dir = azure_node(tmp_path, *there)
    async with runs_of(tmp_path / "runs") as runs:
        async with (
            arrivals(net_dir, OUTPUT) as arrived,
            running(net_dir, output=OUTPUT, bin_dir=bin_dir, **SLOW) as run,
        ):
            await run.until(settled)
            await restored(arrived)
            plugin_script(bin_dir, "antrea", stuck(runs.dir))
            script, child = await runs.next()
            (net_dir / OUTPUT).unlink()
            changed = await run.until(Trigger.CHANGE_DETECTED)
            assert changed.source == left.value
            await restored(arrived)
            assert alive(script)
            assert alive(child)
            assert run.agent.state is not State.Verified
        await exited(script)
        await exited(child)


#: As the container's pid 1 (here: a subreaper, which orphans reach the same way), ask a stuck
#: plugin VERSION, wait until its killed child has exited, and say whether it is still there.
AS_PID_1 = """
import asyncio, ctypes, json, os, pathlib, sys
from chainfsm.edge import binaries, plugin_groups
assert ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
binaries.VERSION_TIMEOUT = 2.0
plugin, runs = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
async def main():
    answer, _ = await binaries.query_version(plugin, "1.0.0")
    (run,) = runs.glob("run.*")
    child = int(run.read_text().split()[1])
    try:
        pidfd = os.pidfd_open(child)
    except ProcessLookupError:
        return answer, child, False
    done = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_reader(pidfd, lambda: done.done() or done.set_result(None))
    await asyncio.wait_for(done, 30)
    plugin_groups.reap()
    return answer, child, pathlib.Path(f"/proc/{child}").exists()
print(json.dumps(asyncio.run(main())))
"""


def test_the_killed_plugin_s_orphans_are_reaped_when_the_agent_is_pid_1(tmp_path: Path) -> None:
    """In the image the agent is pid 1: each child of a killed plugin becomes its orphan,
    and one left unreaped stays a zombie, a pid of the pod's limit, for good."""
    bin_dir, runs = tmp_path / "bin", tmp_path / "runs"
    bin_dir.mkdir()
    runs.mkdir()
    plugin = plugin_script(bin_dir, "stuck", stuck(runs))
    done = subprocess.run(
        [sys.executable, "-c", AS_PID_1, str(plugin), str(runs)],
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answer, child, still_there = json.loads(done.stdout)
    assert answer == "did not answer VERSION within 2 s"
    assert not still_there, f"process {child} left a zombie"
