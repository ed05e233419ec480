"""--bin-dir with a plugin the agent cannot start from its own filesystem although the host's
runtime can: a script whose interpreter the image lacks (the image has no /bin/sh). Such a
plugin is said (a warning, the Verified reason, the dump, a gauge), not reported missing; an
ELF whose loader is missing here stays a failure (the check fails closed where it cannot say
why). Real files, real execs, a real agent on real inotify."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from chainfsm.cli import commands
from chainfsm.core.states import State, Trigger
from chainfsm.edge import binaries, interpreters
from chainfsm.process import state_dump
from tests.support.constants import AZURE, OUTPUT
from tests.support.guarded_agent import running
from tests.support.plugin_checks import chain
from tests.support.standin_plugins import install

#: An interpreter no machine has: the agent's image without /bin/sh, on any test machine.
ABSENT_SHELL = "/nonexistent-chainfsm-test/sh"


def script_for_absent_shell(bin_dir: Path, name: str) -> Path:
    path = bin_dir / name
    path.write_text(f"#!{ABSENT_SHELL}\necho never run here\n")
    path.chmod(0o755)
    return path


def elf_with_absent_loader(bin_dir: Path, name: str) -> Path:
    """A real dynamically linked binary (this machine's ``true``) whose ELF interpreter path
    is rewritten, at the same length, to one that does not exist: exec says ENOENT."""
    data = Path("/bin/true").read_bytes()
    loader = next(
        (p for p in (b"/lib64/ld-linux-x86-64.so.2", b"/lib/ld-linux-aarch64.so.1") if p in data),
        None,
    )
    if loader is None:
        pytest.fail("/bin/true names no known loader: this test needs a glibc x86-64 or arm64")
    absent = b"/nonexist" + loader[len(b"/nonexist") :]
    path = bin_dir / name
    path.write_bytes(data.replace(loader, absent, 1))
    path.chmod(0o755)
    return path


def azure_node(tmp_path: Path) -> tuple[Path, Path]:
    """A conf dir with an azure-vnet primary (no IPAM), and a bin dir with azure-vnet alone:
    the test puts the chained plugin there."""
    net_dir, bin_dir = tmp_path / "net.d", install(tmp_path / "bin", "azure-vnet")
    net_dir.mkdir()
    primary = {"cniVersion": "1.0.0", "name": "azure", "plugins": [{"type": "azure-vnet"}]}
    (net_dir / AZURE).write_text(json.dumps(primary))
    return net_dir, bin_dir


# -- pure ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"#!/bin/sh\necho\n", "/bin/sh"),
        (b"#! /usr/bin/env python3\n", "/usr/bin/env"),
        (b"#!/bin/bash -e", "/bin/bash"),
        (b"#!\n", None),
        (b"\x7fELF\x02\x01", None),
        (b"", None),
    ],
)
def test_the_interpreter_is_the_first_word_of_the_shebang(
    head: bytes, expected: str | None
) -> None:
    assert interpreters.interpreter(head) == expected


# -- the check ---------------------------------------------------------------------------------


async def test_a_script_for_an_interpreter_missing_here_is_unchecked_not_missing(
    tmp_path: Path,
) -> None:
    bin_dir = install(tmp_path / "bin", "azure-vnet")
    script = script_for_absent_shell(bin_dir, "antrea")
    found = await binaries.check_chain_fully(
        bin_dir, AZURE, chain("1.0.0", "azure-vnet", "antrea"), binaries.VersionCache()
    )
    assert found.problems == ()
    assert found.unchecked == (
        f'plugin "antrea" ({script}) is a script for {ABSENT_SHELL}, which the agent\'s own'
        " filesystem does not have, so its VERSION cannot be asked from here (the runtime on"
        f" the host runs it with the host's {ABSENT_SHELL})",
    )


async def test_an_elf_whose_loader_is_missing_here_fails_closed_saying_why(
    tmp_path: Path,
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    elf = elf_with_absent_loader(bin_dir, "antrea")
    found = await binaries.check_chain_fully(
        bin_dir, AZURE, chain("1.0.0", "antrea"), binaries.VersionCache()
    )
    assert found.unchecked == ()
    (problem,) = found.problems
    assert problem.detail.startswith(
        f'plugin "antrea" ({elf}) cannot be run here: exec says No such file or directory'
        " although the file is there"
    )


# -- the agent ----------------------------------------------------------------------------------


async def test_the_agent_is_verified_with_a_script_plugin_and_says_it_is_unchecked(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    net_dir, bin_dir = azure_node(tmp_path)
    script = script_for_absent_shell(bin_dir, "antrea")
    caplog.set_level(logging.WARNING)
    async with running(net_dir, output=OUTPUT, bin_dir=bin_dir) as run:
        verified = await run.until(Trigger.OUTPUT_VERIFIED)
        assert verified.dest == State.Verified.value
        note = f'plugin "antrea" ({script}) is a script for {ABSENT_SHELL}'
        assert f"; not checked here: {note}" in verified.reason
        status = run.agent.status()
        assert status.binary_problems == ()
        (unchecked,) = status.binary_unchecked
        assert unchecked.startswith(note)
        assert state_dump.agent_fields(status, status.started)["binaries"]["unchecked"] == [
            unchecked
        ]
    warned = [r for r in caplog.records if r.msg == "binary_unchecked"]
    assert len(warned) == 1


async def test_the_agent_fails_closed_on_an_elf_whose_loader_is_missing_here(
    tmp_path: Path,
) -> None:
    net_dir, bin_dir = azure_node(tmp_path)
    elf_with_absent_loader(bin_dir, "antrea")
    async with running(net_dir, output=OUTPUT, bin_dir=bin_dir) as run:
        missing = await run.until(Trigger.BINARY_MISSING)
        assert "cannot be run here: exec says No such file or directory" in missing.reason
        # The file is there: what pods wait for is a fix, not an install.
        assert f"cannot start until it is fixed in {bin_dir}" in missing.reason
        assert run.agent.status().binary_unchecked == ()


def test_render_warns_of_a_script_plugin_and_succeeds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    net_dir, bin_dir = azure_node(tmp_path)
    script = script_for_absent_shell(bin_dir, "antrea")
    code = commands.main(["render", "--net-dir", str(net_dir), "--bin-dir", str(bin_dir)])
    captured = capsys.readouterr()
    assert code == 0
    assert json.loads(captured.out)["plugins"][-1] == {"type": "antrea"}
    assert captured.err.startswith(
        f'chainfsm: warning: plugin "antrea" ({script}) is a script for {ABSENT_SHELL}'
    )
    (net_dir / OUTPUT).write_text(captured.out)  # as the agent writes it
    code = commands.main(["explain", "--net-dir", str(net_dir), "--bin-dir", str(bin_dir)])
    assert code == 0
    assert f'NOT CHECKED here: plugin "antrea" ({script})' in capsys.readouterr().out
    argv = ["explain", "--json", "--net-dir", str(net_dir), "--bin-dir", str(bin_dir)]
    assert commands.main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["missing_binaries"] == []
    (unchecked,) = doc["unchecked_binaries"]
    assert unchecked.startswith(f'plugin "antrea" ({script}) is a script for {ABSENT_SHELL}')


def test_explain_says_the_ipam_note_before_the_unchecked_plugins(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each unchecked plugin's note is whole, and the IPAM note is not read as the last one's."""
    net_dir, bin_dir = azure_node(tmp_path)
    primary = {
        "cniVersion": "1.0.0",
        "name": "azure",
        "plugins": [{"type": "azure-vnet", "ipam": {"type": "azure-cns"}}],
    }
    (net_dir / AZURE).write_text(json.dumps(primary))
    script_for_absent_shell(bin_dir, "antrea")
    commands.main(["explain", "--net-dir", str(net_dir), "--bin-dir", str(bin_dir)])
    (line,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith("binaries:")]
    ipam, unchecked = line.split("; NOT CHECKED here: ")
    assert ipam.endswith("as azure-vnet does with azure-cns)")
    assert unchecked.startswith('plugin "antrea"')
    assert unchecked.endswith(f"(the runtime on the host runs it with the host's {ABSENT_SHELL})")
