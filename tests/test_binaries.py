"""--bin-dir: the chain's plugin binaries must be installed and speak its cniVersion before
the agent writes. Plugins here are tiny shell scripts that answer VERSION (any machine), and
the reference plugins from containernetworking-plugins where installed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import runtime
from harness import running

from chainfsm import binaries, cli
from chainfsm.states import State, Transition, Trigger
from chainfsm.validation import Refusal, Rule

PRIMARY = "10-azure.conflist"
OUTPUT = "05-antrea.conflist"
#: What the reference plugins 1.1.1 answer for most plugins.
SPEC = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"]


def plugin_script(bin_dir: Path, name: str, body: str) -> Path:
    """An executable plugin made of a shell script, renamed into place complete."""
    staged = bin_dir / f".{name}.staged"
    staged.write_text(f"#!/bin/sh\n{body}\n")
    staged.chmod(0o755)
    staged.replace(bin_dir / name)
    return bin_dir / name


def answering(versions: list[str], count_in: Path | None = None) -> str:
    reply = json.dumps({"cniVersion": versions[-1], "supportedVersions": versions})
    counting = f'echo x >> "{count_in}"\n' if count_in else ""
    return f"{counting}cat > /dev/null\nprintf '%s' '{reply}'"


def chain(version: str | None, *types: str) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": "net", "plugins": [{"type": t} for t in types]}
    if version is not None:
        doc["cniVersion"] = version
    return doc


# -- pure -----------------------------------------------------------------------------------


def test_required_types_are_the_plugins_and_their_ipam_once_each() -> None:
    plugins: list[dict[str, Any]] = [
        {"type": "bridge", "ipam": {"type": "host-local"}},
        {"type": "portmap"},
        {"type": "bridge", "ipam": "not an object"},
        {"type": "antrea"},
    ]
    assert binaries.required_types(plugins) == ["bridge", "host-local", "portmap", "antrea"]


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


# -- the binaries themselves -------------------------------------------------------------------


async def refusal(bin_dir: Path, doc: dict[str, Any]) -> Refusal | None:
    return await binaries.check_chain(bin_dir, PRIMARY, doc, binaries.VersionCache())


async def test_every_binary_in_place_and_speaking_the_version_passes(tmp_path: Path) -> None:
    plugin_script(tmp_path, "azure-vnet", answering(SPEC))
    plugin_script(tmp_path, "antrea", answering(["0.3.0", "0.4.0", "1.0.0"]))
    assert await refusal(tmp_path, chain("0.3.0", "azure-vnet", "antrea")) is None


async def test_a_missing_binary_is_named(tmp_path: Path) -> None:
    plugin_script(tmp_path, "azure-vnet", answering(SPEC))
    found = await refusal(tmp_path, chain("0.3.0", "azure-vnet", "antrea"))
    assert found == Refusal(PRIMARY, Rule.PLUGIN_BINARY, f'plugin "antrea" is not in {tmp_path}')
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


async def test_answers_are_cached_until_the_binary_changes(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    plugin_script(bin_dir, "antrea", answering(SPEC, calls))
    cache = binaries.VersionCache()
    doc = chain("1.0.0", "antrea")
    for _ in range(3):
        assert await binaries.check_chain(bin_dir, PRIMARY, doc, cache) is None
    assert calls.read_text().count("x") == 1
    plugin_script(bin_dir, "antrea", answering(["0.3.0", "0.4.0"], calls))  # an upgrade, say
    found = await binaries.check_chain(bin_dir, PRIMARY, doc, cache)
    assert found is not None
    assert found.detail == 'plugin "antrea" supports cniVersion 0.3.0-0.4.0, not 1.0.0'
    assert calls.read_text().count("x") == 2


async def test_the_reference_plugins_answer_version() -> None:
    runtime.require_cni_plugins("bridge", "host-local", "portmap", "tuning", "bandwidth")
    doc = chain("1.0.0", "bridge", "portmap", "tuning", "bandwidth")
    doc["plugins"][0]["ipam"] = {"type": "host-local"}
    assert await refusal(runtime.CNI_BIN_DIR, doc) is None
    found = await refusal(runtime.CNI_BIN_DIR, chain("0.2.0", "tuning", "bandwidth"))
    assert found is not None
    assert found.detail.startswith('plugin "bandwidth" supports cniVersion 0.3.0-')


# -- the agent: nothing is written before the binary is in place --------------------------------


def mentioning(words: str) -> Callable[[Transition], bool]:
    return lambda record: record.trigger == Trigger.PRIMARY_INVALID and words in record.reason


async def test_the_agent_waits_in_validating_until_the_binary_appears(tmp_path: Path) -> None:
    net_dir, bin_dir = tmp_path / "net.d", tmp_path / "bin"
    net_dir.mkdir()
    bin_dir.mkdir()
    primary = {"cniVersion": "0.3.0", "name": "azure", "plugins": [{"type": "azure-vnet"}]}
    (net_dir / PRIMARY).write_text(json.dumps(primary))
    plugin_script(bin_dir, "azure-vnet", answering(SPEC))
    async with running(net_dir, output=OUTPUT, bin_dir=bin_dir) as run:
        refused = await run.until(Trigger.PRIMARY_INVALID)
        assert refused.reason == f'not ready yet: {PRIMARY}: plugin "antrea" is not in {bin_dir}'
        assert run.agent.state is State.Validating
        assert not (net_dir / OUTPUT).exists()
        # Installed, but too old for the list: still refused, still nothing written.
        plugin_script(bin_dir, "antrea", answering(["0.1.0", "0.2.0"]))
        await run.until(mentioning("supports cniVersion 0.1.0-0.2.0, not 0.3.0"))
        assert not (net_dir / OUTPUT).exists()
        # The right version: the bin-dir watch wakes the agent, which writes the chain.
        plugin_script(bin_dir, "antrea", answering(SPEC))
        await run.until(Trigger.OUTPUT_VERIFIED)
        written = json.loads((net_dir / OUTPUT).read_bytes())
        assert [p["type"] for p in written["plugins"]] == ["azure-vnet", "antrea"]


async def test_a_binary_made_executable_after_copying_is_seen(tmp_path: Path) -> None:
    net_dir, bin_dir = tmp_path / "net.d", tmp_path / "bin"
    net_dir.mkdir()
    bin_dir.mkdir()
    (net_dir / PRIMARY).write_text(json.dumps(chain("1.0.0", "antrea")))
    plugin_script(bin_dir, "antrea", answering(SPEC)).chmod(0o644)
    async with running(net_dir, output=OUTPUT, bin_dir=bin_dir, plugin={"type": "antrea"}) as run:
        await run.until(mentioning("is not executable"))
        (bin_dir / "antrea").chmod(0o755)  # only an IN_ATTRIB event
        await run.until(Trigger.OUTPUT_VERIFIED)


def test_bin_dir_comes_from_the_flag_or_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    args = cli.build_parser().parse_args(["run", "--bin-dir", "/opt/cni/bin"])
    assert cli.settings_from(args).bin_dir == Path("/opt/cni/bin")
    monkeypatch.setenv("CHAINFSM_BIN_DIR", "/host/opt/cni/bin")
    args = cli.build_parser().parse_args(["run"])
    assert cli.settings_from(args).bin_dir == Path("/host/opt/cni/bin")
    monkeypatch.delenv("CHAINFSM_BIN_DIR")
    assert cli.settings_from(cli.build_parser().parse_args(["run"])).bin_dir is None
