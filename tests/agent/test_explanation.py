"""``chainfsm explain`` on the incident's directory and on every broken layout we know."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
from pathlib import Path

import pytest

from chainfsm.cli import commands, explanation
from chainfsm.core import chaining, planning
from tests.support.constants import OUTPUT, TESTDATA
from tests.support.primaries import primary_bytes
from tests.support.standin_plugins import answering, install, plugin_script

PLUGIN = dict(chaining.DEFAULT_PLUGIN)


def _chain(primary: bytes = primary_bytes(), name: str = "10-azure.conflist") -> bytes:
    plan = planning.plan(name, primary, PLUGIN, OUTPUT, chaining.DEFAULT_REWRITES)
    assert isinstance(plan, planning.Plan), str(plan)
    return plan.rendered


def _explain(net_dir: Path, *extra: str) -> tuple[int, dict[str, object]]:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = commands.main(["explain", "--net-dir", str(net_dir), "--json", *extra])
    return code, json.loads(out.getvalue())


def test_the_incident_directory_is_diagnosed_in_the_runtime_s_terms(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = commands.main(["explain", "--net-dir", str(TESTDATA / "incident")])
    text = capsys.readouterr().out
    assert code == 1
    assert text.rstrip().splitlines()[-1] == (
        "verdict: the runtime will report: cni plugin not initialized, because"
        " 05-antrea.conflist is empty (0 bytes)"
    )
    assert "primary:      10-azure.conflist (valid)" in text
    assert "leftovers:    10-azure.conflist-old, 10-azure.conflist4127690311.tmp" in text


def test_the_incident_as_json_names_each_file_s_part() -> None:
    code, doc = _explain(TESTDATA / "incident")
    assert code == 1
    files = {f["name"]: f for f in doc["files"]}  # type: ignore[attr-defined]
    assert files[OUTPUT]["position"] == 1
    assert files[OUTPUT]["valid"] is False
    assert files[OUTPUT]["rule"] == "empty"
    assert files[OUTPUT]["roles"] == ["ours"]
    assert files["10-azure.conflist"]["roles"] == ["primary"]
    assert files["10-azure.conflist"]["runtime"] == "not reached"
    assert files["10-azure.conflist-old"]["runtime"] == "ignored"
    assert doc["output_status"] == "invalid"
    assert doc["first_loads"] is False
    assert doc["effective"] is False


#: name -> (files in the dir, our output's status, words the verdict must hold)
LAYOUTS: dict[str, tuple[dict[str, bytes], str, str]] = {
    "empty dir": ({}, "absent", "because the conf dir holds no config file"),
    "primary not there yet": (
        {OUTPUT: _chain()},
        "unchecked",
        "there is no primary config",
    ),
    "primary still empty": (
        {"10-azure.conflist": b""},
        "absent",
        "because 10-azure.conflist is empty (0 bytes)",
    ),
    "primary half-written, before ours": (
        {"10-azure.conflist": primary_bytes()[: len(primary_bytes()) // 2], "50-x.conflist": b"{}"},
        "absent",
        "because 10-azure.conflist is truncated JSON",
    ),
    "output absent": (
        {"10-azure.conflist": primary_bytes()},
        "absent",
        "not our chain: 05-antrea.conflist is not in the conf dir",
    ),
    "output truncated": (
        {OUTPUT: _chain()[:40], "10-azure.conflist": primary_bytes()},
        "invalid",
        "because 05-antrea.conflist is truncated JSON",
    ),
    "output stale": (
        {
            OUTPUT: _chain(),
            "10-azure.conflist": primary_bytes().replace(b"169.254.20.10", b"10.0.0.1"),
        },
        "stale",
        "not our chain: 05-antrea.conflist runs [azure-vnet, portmap, antrea]",
    ),
    "output shadowed by a valid file": (
        {
            "00-other.conflist": primary_bytes(),
            OUTPUT: _chain(),
            "10-azure.conflist": primary_bytes(),
        },
        "shadowed",
        "loads 00-other.conflist, not our chain: it sorts before 05-antrea.conflist",
    ),
    "output blocked by an invalid file": (
        {"01-broken.conflist": b"null", OUTPUT: _chain(), "10-azure.conflist": primary_bytes()},
        "blocked",
        "because 01-broken.conflist holds null, not a JSON object",
    ),
    "a hidden config sorts first": (
        {".old.conflist": b"", OUTPUT: _chain(), "10-azure.conflist": primary_bytes()},
        "blocked",
        "because .old.conflist is empty",
    ),
    "a list under a .conf name": (
        {"04-list.conf": primary_bytes(), OUTPUT: _chain(), "10-azure.conflist": primary_bytes()},
        "blocked",
        "because 04-list.conf holds a plugin list",
    ),
    "primary invalid, ours first": (
        {OUTPUT: _chain(), "10-azure.conflist": b"   \n"},
        "unchecked",
        "but the primary 10-azure.conflist holds only whitespace",
    ),
}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_broken_layout_is_diagnosed(tmp_path: Path, layout: str) -> None:
    files, status, words = LAYOUTS[layout]
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    code, doc = _explain(tmp_path)
    assert (code, doc["output_status"], doc["effective"]) == (1, status, False)
    assert words in str(doc["verdict"])
    # One verdict says once which file the runtime loads.
    assert str(doc["verdict"]).count("runtime loads") <= 1


def test_an_effective_chain_exits_0(tmp_path: Path) -> None:
    (tmp_path / "10-azure.conflist").write_bytes(primary_bytes())
    (tmp_path / OUTPUT).write_bytes(_chain())
    code, doc = _explain(tmp_path)
    assert (code, doc["output_status"], doc["effective"]) == (0, "current", True)
    assert doc["verdict"] == (
        "the runtime loads 05-antrea.conflist: the chain is effective (05-antrea.conflist is"
        " first and runs [azure-vnet, portmap, antrea])"
    )


def test_missing_and_non_executable_plugin_binaries_are_named(tmp_path: Path) -> None:
    """The agent's own check: every plugin type, in the chain's order, with why it cannot run."""
    net_dir = tmp_path / "net.d"
    net_dir.mkdir()
    (net_dir / "10-azure.conflist").write_bytes(primary_bytes())
    (net_dir / OUTPUT).write_bytes(_chain())
    bin_dir = install(tmp_path / "bin", "azure-vnet")
    (bin_dir / "portmap").write_text("not executable")
    code, doc = _explain(net_dir, "--bin-dir", str(bin_dir))
    assert code == 1
    assert doc["missing_binaries"] == [
        f'plugin "portmap": {bin_dir}/portmap is not executable',
        f'plugin "antrea" is not in {bin_dir}',
    ]
    assert str(doc["verdict"]).startswith(
        f'the runtime loads 05-antrea.conflist, but plugin "portmap": {bin_dir}/portmap is not'
        f' executable; plugin "antrea" is not in {bin_dir}: pods on this node cannot start'
        " until they are fixed"
    )


def test_all_binaries_present_keeps_the_chain_effective(tmp_path: Path) -> None:
    """azure-cns (the CNS primary's IPAM) has no binary anywhere: noted, never required."""
    net_dir = tmp_path / "net.d"
    net_dir.mkdir()
    (net_dir / "10-azure.conflist").write_bytes(primary_bytes())
    (net_dir / OUTPUT).write_bytes(_chain())
    bin_dir = install(tmp_path / "bin", "azure-vnet", "portmap", "antrea")
    code, doc = _explain(net_dir, "--bin-dir", str(bin_dir))
    assert (code, doc["missing_binaries"], doc["effective"]) == (0, [], True)
    assert doc["ipam_not_in_bin_dir"] == ["azure-cns"]
    report = explanation.look(net_dir, OUTPUT, PLUGIN, bin_dir=bin_dir)
    assert "which is fine when the plugin handles its IPAM itself" in explanation.text(report)


def test_a_binary_too_old_for_the_list_is_named_as_the_agent_names_it(tmp_path: Path) -> None:
    net_dir = tmp_path / "net.d"
    net_dir.mkdir()
    (net_dir / "10-azure.conflist").write_bytes(primary_bytes())
    (net_dir / OUTPUT).write_bytes(_chain())
    bin_dir = install(tmp_path / "bin", "azure-vnet", "portmap")
    plugin_script(bin_dir, "antrea", answering(["0.1.0", "0.2.0"]))
    code, doc = _explain(net_dir, "--bin-dir", str(bin_dir))
    assert code == 1
    assert doc["missing_binaries"] == ['plugin "antrea" supports cniVersion 0.1.0-0.2.0, not 0.3.0']


def test_leftovers_of_each_writer_are_told_apart(tmp_path: Path) -> None:
    shutil.copytree(TESTDATA / "incident", tmp_path, dirs_exist_ok=True)
    (tmp_path / f".{OUTPUT}.0a1b2c.chainfsm.tmp").write_bytes(b"{")
    (tmp_path / ".cilium_bak").write_bytes(b"")
    report = explanation.look(tmp_path, OUTPUT, PLUGIN)
    kinds = dict(item.split(": ", 1) for item in report.leftovers)
    assert kinds[f".{OUTPUT}.0a1b2c.chainfsm.tmp"].startswith("chainfsm's temp file")
    assert kinds[".cilium_bak"] == "a backup another writer kept"
    assert kinds["10-azure.conflist4127690311.tmp"].startswith("another writer's temp file")
    assert kinds["10-azure.conflist-old"] == "a previous version another writer kept"


def test_an_unlistable_dir_is_one_line_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert commands.main(["explain", "--net-dir", str(tmp_path / "nope")]) == 1
    assert capsys.readouterr().err == (
        f"chainfsm: cannot list {tmp_path / 'nope'}: No such file or directory\n"
    )


def test_a_fifo_under_our_name_is_refused_on_read_without_hanging(tmp_path: Path) -> None:
    (tmp_path / "10-azure.conflist").write_bytes(primary_bytes())
    os.mkfifo(tmp_path / OUTPUT)
    code, doc = _explain(tmp_path)
    assert (code, doc["output_status"]) == (1, "invalid")
    assert doc["verdict"] == (
        "the runtime will report: cni plugin not initialized, because 05-antrea.conflist is not"
        " a regular file"
    )


def test_an_unmatched_glob_with_no_chain_there_says_none_is_written(tmp_path: Path) -> None:
    """No output in the dir: there is no chain to keep, so the verdict says none is written."""
    net_dir = tmp_path / "net.d"
    net_dir.mkdir()
    (net_dir / "10-azure.conflist").write_bytes(primary_bytes())
    code, doc = _explain(net_dir, "--primary", "15-*.conflist")
    assert code == 1
    assert doc["verdict"] == (
        "the runtime loads 10-azure.conflist, but no config file matches --primary"
        " '15-*.conflist' while 10-azure.conflist is valid: check the glob; chainfsm writes no"
        " chain and does not report Verified"
    )


def test_a_runtime_that_cannot_be_asked_is_no_disagreement_and_no_confirmation(
    tmp_path: Path,
) -> None:
    """Our chain is effective but the socket has nothing behind it: exit 1 (nothing confirmed
    the chain), the runtime's line says it could not be asked, and no side is made up."""
    (tmp_path / "10-azure.conflist").write_bytes(primary_bytes())
    (tmp_path / OUTPUT).write_bytes(_chain())
    socket = tmp_path / "none.sock"
    code, report = _explain(tmp_path, "--cri-socket", str(socket))
    runtime = report["runtime"]
    assert isinstance(runtime, dict)
    assert (code, report["effective"], runtime["verdict"]) == (1, True, "unasked")
    assert report["disagreement"] is None
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert commands.main(["explain", "--net-dir", str(tmp_path), "--cri-socket", str(socket)])
    assert f"runtime: not confirmed: the runtime could not be asked: no CRI socket at {socket}" in (
        out.getvalue()
    )
    assert "DISAGREEMENT" not in out.getvalue()
