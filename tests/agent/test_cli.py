"""The command line: ``validate`` and ``render``, in-process and once as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chainfsm.cli import commands
from tests.support import primaries
from tests.support.constants import OUTPUT

AZURE = primaries.fixture("aks-overlay")
ENV_VARS = ("CHAINFSM_NET_DIR", "CHAINFSM_PLUGIN", "CHAINFSM_OUTPUT", "CHAINFSM_PRIMARY")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI reads CHAINFSM_* variables; none of the caller's may leak into a test."""
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)


def _put(net_dir: Path, fixture: Path) -> Path:
    net_dir.mkdir(exist_ok=True)
    path = net_dir / primaries.conf_name(fixture)
    path.write_bytes(fixture.read_bytes())
    return path


def _usage_error(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exited:
        commands.main(argv)
    code = exited.value.code
    assert isinstance(code, int)
    return code


def test_validate_exits_0_and_prints_one_valid_line_per_file_when_all_are_valid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = [_put(tmp_path / fixture.name, fixture) for fixture in primaries.ALL]
    assert commands.main(["validate", *map(str, files)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(files)
    for path, line in zip(files, lines, strict=True):
        assert line.startswith(f"{path}: valid: network ")


def test_validate_exits_1_and_names_the_rule_on_the_invalid_files_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _put(tmp_path, AZURE)
    empty = tmp_path / OUTPUT
    empty.write_bytes(b"")
    path_type = tmp_path / "20-x.conf"
    path_type.write_text('{"name":"n","type":"../../bin/sh"}')
    assert commands.main(["validate", str(empty), str(good), str(path_type)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{empty}: invalid: is empty (0 bytes) [rule: empty]",
        f"{good}: valid: network 'azure', plugins [azure-vnet, portmap]",
        f"{path_type}: invalid: the plugin \"type\" '../../bin/sh' is not a plain binary file"
        " name [rule: type-path]",
    ]


def test_validate_reports_a_missing_file_as_unreadable_with_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert commands.main(["validate", str(tmp_path / "10-gone.conflist")]) == 1
    assert capsys.readouterr().out == (
        f"{tmp_path / '10-gone.conflist'}: invalid: does not exist [rule: unreadable]\n"
    )


def test_validate_refuses_a_fifo_without_hanging(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    os.mkfifo(tmp_path / "10-x.conflist")
    assert commands.main(["validate", str(tmp_path / "10-x.conflist")]) == 1
    assert "[rule: not-regular-file]" in capsys.readouterr().out


def test_validate_without_files_is_a_usage_error_with_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _usage_error(["validate"]) == 2
    assert "FILE" in capsys.readouterr().err


def test_no_command_is_a_usage_error_with_exit_2() -> None:
    assert _usage_error([]) == 2


@pytest.mark.parametrize("fixture", primaries.ALL, ids=primaries.fixture_id)
def test_render_prints_exactly_the_golden_bytes_for_a_dir_holding_a_primary(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes], fixture: Path
) -> None:
    _put(tmp_path, fixture)
    assert commands.main(["render", "--net-dir", str(tmp_path)]) == 0
    assert capsysbinary.readouterr().out == primaries.golden_path(fixture).read_bytes()


def test_render_ignores_our_output_and_leftovers_when_choosing_the_primary(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    _put(tmp_path, AZURE)
    (tmp_path / OUTPUT).write_bytes(b"")
    (tmp_path / "00-a.conflist-old").write_bytes(b"")
    (tmp_path / ".00.conflist").write_bytes(b"")
    # Never the primary; but the runtime reads it first, so render says (as the agent would
    # after its write) that the chain cannot be loaded.
    assert commands.main(["render", "--net-dir", str(tmp_path)]) == 1
    captured = capsysbinary.readouterr()
    assert captured.out == primaries.golden_path(AZURE).read_bytes()
    assert captured.err.startswith(f"chainfsm: .00.conflist sorts before {OUTPUT}".encode())
    assert b"fix or remove .00.conflist" in captured.err


def test_render_with_no_primary_exits_1_saying_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "10-azure.conflist-old").write_bytes(AZURE.read_bytes())
    assert commands.main(["render", "--net-dir", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"chainfsm: no primary config in {tmp_path}\n"


def test_render_with_an_invalid_primary_exits_1_naming_the_file_and_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "10-azure.conflist").write_bytes(b"")
    assert commands.main(["render", "--net-dir", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "chainfsm: no valid primary: 10-azure.conflist: is empty (0 bytes)\n"


def test_render_of_a_nameless_single_plugin_conf_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "10-bridge.conf").write_text('{"type":"bridge"}')
    assert commands.main(["render", "--net-dir", str(tmp_path)]) == 1
    assert '10-bridge.conf: has no "name"' in capsys.readouterr().err


def test_render_of_a_missing_dir_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert commands.main(["render", "--net-dir", str(tmp_path / "absent")]) == 1
    assert "cannot list" in capsys.readouterr().err


def test_render_takes_the_net_dir_and_plugin_from_the_environment(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    single = primaries.fixture("single-plugin")
    _put(tmp_path, single)
    monkeypatch.setenv("CHAINFSM_NET_DIR", str(tmp_path))
    monkeypatch.setenv("CHAINFSM_PLUGIN", json.dumps(primaries.ISTIO_PLUGIN))
    assert commands.main(["render"]) == 0
    assert capsysbinary.readouterr().out == (
        primaries.golden_path(single, primaries.ISTIO_PLUGIN).read_bytes()
    )


def test_render_takes_the_primary_pattern_from_the_environment(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    flannel, gke = primaries.fixture("flannel"), primaries.fixture("gke")
    (tmp_path / "10-a.conflist").write_bytes(flannel.read_bytes())
    (tmp_path / "20-b.conflist").write_bytes(gke.read_bytes())
    monkeypatch.setenv("CHAINFSM_PRIMARY", "2?-*.conflist")
    assert commands.main(["render", "--net-dir", str(tmp_path)]) == 0
    assert capsysbinary.readouterr().out == primaries.golden_path(gke).read_bytes()


def test_render_with_a_primary_pattern_matching_nothing_exits_1_naming_the_pattern(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _put(tmp_path, AZURE)
    assert commands.main(["render", "--net-dir", str(tmp_path), "--primary", "15-azure-*"]) == 1
    assert capsys.readouterr().err == (
        f"chainfsm: no config file in {tmp_path} matches --primary '15-azure-*' (the config"
        " files there: 10-azure.conflist)\n"
    )


def test_render_takes_the_output_name_from_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # With the primary's own name as our output, the primary is ours and no primary remains.
    _put(tmp_path, AZURE)
    monkeypatch.setenv("CHAINFSM_OUTPUT", "10-azure.conflist")
    assert commands.main(["render", "--net-dir", str(tmp_path)]) == 1
    assert "no primary config" in capsys.readouterr().err


def test_a_flag_overrides_its_environment_variable(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    _put(tmp_path, AZURE)
    monkeypatch.setenv("CHAINFSM_NET_DIR", str(tmp_path / "absent"))
    monkeypatch.setenv("CHAINFSM_PLUGIN", '{"type":"other"}')
    argv = ["render", "--net-dir", str(tmp_path), "--plugin", '{"type":"antrea"}']
    assert commands.main(argv) == 0
    assert capsysbinary.readouterr().out == primaries.golden_path(AZURE).read_bytes()


@pytest.mark.parametrize(
    "plugin", ["not json", "[]", "{}", '{"type":""}', '{"type":"../bin/sh"}', '{"type":"a\\nb"}']
)
def test_render_with_a_bad_plugin_flag_is_a_usage_error_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], plugin: str
) -> None:
    assert _usage_error(["render", "--net-dir", str(tmp_path), "--plugin", plugin]) == 2
    assert "--plugin" in capsys.readouterr().err


@pytest.mark.parametrize("output", ["05-antrea.conf", "x/05-antrea.conflist", "..", "05-antrea"])
def test_render_with_a_bad_output_flag_is_a_usage_error_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], output: str
) -> None:
    assert _usage_error(["render", "--net-dir", str(tmp_path), "--output", output]) == 2
    assert "--output" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("var", "value"), [("CHAINFSM_PLUGIN", "{"), ("CHAINFSM_OUTPUT", "05-antrea.json")]
)
def test_a_bad_environment_variable_is_a_usage_error_with_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, var: str, value: str
) -> None:
    monkeypatch.setenv(var, value)
    assert _usage_error(["render", "--net-dir", str(tmp_path)]) == 2


def test_the_module_entry_point_renders_the_golden_and_reports_usage_errors(
    tmp_path: Path,
) -> None:
    _put(tmp_path, AZURE)
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    render = subprocess.run(
        [sys.executable, "-m", "chainfsm", "render", "--net-dir", str(tmp_path)],
        capture_output=True,
        env=env,
        check=False,
    )
    assert (render.returncode, render.stderr) == (0, b"")
    assert render.stdout == primaries.golden_path(AZURE).read_bytes()
    usage = subprocess.run(
        [sys.executable, "-m", "chainfsm", "validate"], capture_output=True, env=env, check=False
    )
    assert (usage.returncode, usage.stderr) == (2, b"chainfsm validate: FILE: missing\n")


def _strict_utf8_run(*argv: str) -> subprocess.CompletedProcess[bytes]:
    """The command in a child whose stdout is strict UTF-8 (no surrogateescape to hide behind)."""
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    env["PYTHONIOENCODING"] = "utf-8:strict"
    return subprocess.run(
        [sys.executable, "-m", "chainfsm", *argv], capture_output=True, env=env, check=False
    )


def test_commands_print_names_that_are_not_utf8_or_hold_a_newline_as_escapes(
    net_dir: Path,
) -> None:
    raw = os.fsencode(net_dir)
    for name in (b"10-\xff.conflist", b"20-a\nb.conflist"):
        with open(raw + b"/" + name, "wb") as handle:
            handle.write(b'{"name":"n","plugins":[{"type":"a"}]}')
    as_json = _strict_utf8_run("explain", "--net-dir", str(net_dir), "--json")
    assert (as_json.returncode, as_json.stderr) == (1, b"")
    report = json.loads(as_json.stdout.decode("utf-8"))
    # The escape reads back as the very bytes of the name.
    assert [os.fsencode(f["name"]) for f in report["files"]] == [
        b"10-\xff.conflist",
        b"20-a\nb.conflist",
    ]
    as_text = _strict_utf8_run("explain", "--net-dir", str(net_dir))
    assert as_text.stderr == b""
    rows = [line for line in as_text.stdout.decode("utf-8").splitlines() if "conflist" in line]
    assert any("10-\\udcff.conflist" in row and "loads first" in row for row in rows)
    assert any("20-a\\nb.conflist" in row and "not reached" in row for row in rows)
    files = [os.fsdecode(raw + b"/" + n) for n in (b"10-\xff.conflist", b"20-a\nb.conflist")]
    checked = _strict_utf8_run("validate", *files)
    assert (checked.returncode, checked.stderr) == (0, b"")
    assert len(checked.stdout.decode("utf-8").splitlines()) == 2


def test_validate_prints_a_refused_lone_surrogate_escape_as_an_escape(tmp_path: Path) -> None:
    path = tmp_path / "10-a.conflist"
    path.write_bytes(b'{"name":"n","plugins":[{"type":"a\\ud800"}]}')
    checked = _strict_utf8_run("validate", str(path))
    assert (checked.returncode, checked.stderr) == (1, b"")
    assert checked.stdout.decode("utf-8") == (
        f'{path}: invalid: holds the string "a\\ud800", whose lone surrogate escape is not text'
        " (the runtime reads it as U+FFFD) [rule: utf-8]\n"
    )
