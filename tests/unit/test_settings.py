"""One declaration of the settings drives the flags, the ``CHAINFSM_*`` variables, ``--help``,
the usage errors and docs/settings.md."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chainfsm import settings
from chainfsm.cli import commands
from chainfsm.settings import SETTINGS, Settings
from tests.support.constants import ROOT

DOCS = ROOT / "docs" / "settings.md"
VARIABLES = {setting.env for setting in SETTINGS}

#: Each command's own arguments, which are not settings (no variable). A new one belongs here
#: only if it means nothing to the agent; otherwise it is a field of Settings.
OWN_FLAGS = {
    "validate": {"--json"},
    "render": {"--json"},
    "run": set(),
    "explain": {"--json"},
    "dump": {"--pid", "--diagram", "--timeout", "--json"},
    "status": {"--pid", "--timeout", "--json"},
    "diagram": {"--format", "--output", "--json"},
    "demo": {"--log-format"},
}

#: Two texts each non-switch setting takes, the first for its flag and the second for its
#: variable.
SAMPLES = {
    "net_dir": ("/a/net.d", "/b/net.d"),
    "output": ("01-a.conflist", "02-b.conflist"),
    "plugin": ('{"type":"a"}', '{"type":"b","x":1}'),
    "rewrites": ("[]", '[{"type":"x","key":"mode","from":"a","to":"b"}]'),
    "primary": ("10-*", "*azure*.conflist"),
    "bin_dir": ("/a/bin", "/b/bin"),
    "timeout": ("1.5", "2"),
    "retry_attempts": ("3", "4"),
    "retry_seconds": ("1", "2.5"),
    "backoff_initial": ("0.5", "0.25"),
    "backoff_max": ("7", "8"),
    "revert_limit": ("2", "3"),
    "revert_window": ("9", "10"),
    "history": ("7", "8"),
    "dump_file": ("/a/dump.json", "/b/dump.json"),
    "listen": ("127.0.0.1:9808", "[::1]:9809"),
    "metrics_listen": ("10.224.0.4:9809", "127.0.0.1:1"),
    "ready_file": ("/a/ready", "/b/ready"),
    "log_format": ("json", "text"),
    "cri_socket": ("/a/containerd.sock", "/b/crio.sock"),
    "cri_confirm_seconds": ("3", "0.5"),
    "record_file": ("/a/record.json", "/b/record.json"),
    "sandbox_interval": ("1", "2.5"),
    "repair_unchained": ("dry-run", "stop"),
    "repair_max_per_minute": ("1", "20"),
    "repair_exclude_namespaces": ("a,b-c", ""),
    "untaint": ("chainfsm.io/chain-not-ready", "startup"),
    "node_name": ("aks-user-0", "aks-user-1"),
    "kubeconfig": ("/a/kubeconfig", "/b/kubeconfig"),
    "poll_interval": ("0.5", "3"),
}


@pytest.fixture(autouse=True)
def _no_settings_from_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in VARIABLES:
        monkeypatch.delenv(var, raising=False)


def _parsers() -> dict[str, argparse.ArgumentParser]:
    root = commands.build_parser()
    return {"": root, **root.commands}


def _flags(parser: argparse.ArgumentParser) -> set[str]:
    return {
        flag for action in parser._actions for flag in action.option_strings if flag != "-h"
    } - {"--help", "--version"}


def test_every_field_of_settings_is_one_setting_with_a_flag_and_a_variable() -> None:
    assert [s.name for s in SETTINGS] == [f.name for f in dataclasses.fields(Settings)]
    assert len({s.flag for s in SETTINGS}) == len({s.env for s in SETTINGS}) == len(SETTINGS)
    for setting in SETTINGS:
        assert setting.flag.startswith("--")
        assert setting.env == "CHAINFSM_" + setting.flag[2:].replace("-", "_").upper()
        assert setting.spec.commands, f"{setting.flag} is taken by no command"
        assert setting.spec.doc.endswith("."), f"{setting.flag} has no meaning"


@pytest.mark.parametrize("command", list(OWN_FLAGS))
def test_each_command_takes_its_settings_and_its_own_flags_and_nothing_else(
    command: str,
) -> None:
    taken = {setting.flag for setting in settings.taken_by(command)}
    assert _flags(_parsers()[command]) == taken | OWN_FLAGS[command]
    assert not taken & OWN_FLAGS[command], "a command's own flag hides a setting"


def test_run_takes_every_setting() -> None:
    assert _flags(_parsers()["run"]) == {setting.flag for setting in SETTINGS}
    assert set(_parsers()) - {""} == set(OWN_FLAGS), "a new command needs its flags listed"


def test_every_argument_and_command_has_help_text() -> None:
    for name, parser in _parsers().items():
        for action in parser._actions:
            assert action.help not in (None, "", argparse.SUPPRESS), f"{name} {action.dest}"
            for choice in getattr(action, "_choices_actions", []):
                assert choice.help, f"command {choice.dest} has no help"


@pytest.mark.parametrize("command", list(OWN_FLAGS))
def test_help_is_multi_line_and_names_every_flag_and_variable_of_the_command(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        commands.main([command, "--help"])
    assert exited.value.code == 0
    shown = " ".join(capsys.readouterr().out.split())  # argparse wraps at any space
    for setting in settings.taken_by(command):
        assert setting.flag in shown
        assert f"env {setting.env};" in shown
    for flag in OWN_FLAGS[command]:
        assert flag in shown


def _settings(argv: list[str]) -> Settings:
    return commands.settings_from(commands.build_parser().parse_args(["run", *argv]))


def _mode(setting: settings.Setting) -> list[str]:
    """The flags a setting needs beside it to mean something."""
    only = setting.spec.only
    if setting.name == "untaint":  # a taint is lifted from a node named
        return ["--node-name", "aks-user-9"]
    return [settings.by_name(only.other).flag] if only is not None and only.on else []


@pytest.mark.parametrize("setting", [s for s in SETTINGS if not s.switch], ids=lambda s: s.flag)
def test_a_flag_beats_its_variable_which_beats_the_default(
    setting: settings.Setting, monkeypatch: pytest.MonkeyPatch
) -> None:
    flag, variable = SAMPLES[setting.name]
    mode = _mode(setting)
    fallback = setting.spec.fallback
    default = setting.default if fallback is None else fallback()
    assert getattr(_settings(mode), setting.name) == default
    monkeypatch.setenv(setting.env, variable)
    assert getattr(_settings(mode), setting.name) == setting.spec.parse(variable)
    assert getattr(_settings([*mode, setting.flag, flag]), setting.name) == (
        setting.spec.parse(flag)
    )
    assert setting.spec.parse(flag) != setting.spec.parse(variable) != default


def test_every_setting_has_samples_for_the_precedence_test() -> None:
    assert set(SAMPLES) == {setting.name for setting in SETTINGS if not setting.switch}


@pytest.mark.parametrize("setting", [s for s in SETTINGS if s.switch], ids=lambda s: s.flag)
def test_a_switch_is_on_by_its_flag_or_a_true_variable(
    setting: settings.Setting, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert getattr(_settings([]), setting.name) is False
    assert getattr(_settings([setting.flag]), setting.name) is True
    for text, value in [("YES", True), ("1", True), ("true", True), ("0", False), ("", False)]:
        monkeypatch.setenv(setting.env, text)
        assert getattr(_settings([]), setting.name) is value


def test_the_settings_of_render_explain_and_dump_come_from_their_variables_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHAINFSM_BIN_DIR", "/b/bin")
    monkeypatch.setenv("CHAINFSM_DUMP_FILE", "/b/dump.json")
    for command in ("render", "explain"):
        assert commands.build_parser().parse_args([command]).bin_dir == Path("/b/bin")
    assert commands.build_parser().parse_args(["dump"]).dump_file == Path("/b/dump.json")


def test_backoff_max_below_backoff_initial_is_raised_to_it() -> None:
    assert _settings(["--backoff-initial", "8"]).backoff_max == 8.0
    assert _settings(["--backoff-initial", "0.5", "--backoff-max", "0.1"]).backoff_max == 0.5


def test_repair_takes_three_modes_and_namespace_names_only() -> None:
    with pytest.raises(settings.SettingError, match=r"^--repair-unchained: 'on' is not off"):
        settings.resolve("run", {"repair_unchained": "on"}, {})
    with pytest.raises(settings.SettingError, match=r"'Kube_System' is not a namespace name"):
        settings.resolve("run", {}, {"CHAINFSM_REPAIR_EXCLUDE_NAMESPACES": "a,Kube_System"})
    values = settings.resolve("run", {"repair_exclude_namespaces": " a , b ,"}, {})
    assert values["repair_exclude_namespaces"] == ("a", "b")
    assert values["repair_unchained"] == "off"


def test_resolve_is_pure_and_names_where_a_refused_value_came_from() -> None:
    values = settings.resolve("dump", {}, {"CHAINFSM_DUMP_FILE": "/x/d.json"})
    assert values == {"dump_file": Path("/x/d.json")}
    with pytest.raises(settings.SettingError, match=r"^CHAINFSM_HISTORY: '-1' is not a whole"):
        settings.resolve("run", {}, {"CHAINFSM_HISTORY": "-1"})
    with pytest.raises(settings.SettingError, match=r"^--history: 'x' is not a whole"):
        settings.resolve("run", {"history": "x"}, {"CHAINFSM_HISTORY": "4"})


@pytest.mark.parametrize(
    ("argv", "env", "start"),
    [
        ([], {}, "chainfsm: COMMAND: missing: one of validate, render, run,"),
        (["--bogus"], {}, "chainfsm: --bogus: unknown flag"),
        (["--bogus", "run"], {}, "chainfsm run: --bogus: unknown flag"),
        (["bogus"], {}, "chainfsm: COMMAND: invalid choice: 'bogus'"),
        (["validate"], {}, "chainfsm validate: FILE: missing"),
        (["validate", "--bogus", "x"], {}, "chainfsm validate: --bogus: unknown flag"),
        (["render", "--plugin", "{"], {}, "chainfsm render: --plugin: is truncated JSON"),
        (["render", "--output", "x.conf"], {}, "chainfsm render: --output: 'x.conf' must be"),
        (["render", "extra"], {}, "chainfsm render: extra: unexpected argument"),
        (["render"], {"CHAINFSM_REWRITE": "{}"}, "chainfsm render: CHAINFSM_REWRITE: must be"),
        (["run", "--timeout", "2"], {}, "chainfsm run: --timeout: needs --once"),
        (["run"], {"CHAINFSM_TIMEOUT": "2"}, "chainfsm run: CHAINFSM_TIMEOUT: needs --once"),
        (["run", "--timeout", "2"], {"CHAINFSM_ONCE": "no"}, "chainfsm run: --timeout: needs"),
        (
            ["run", "--once", "--cleanup-on-exit"],
            {},
            "chainfsm run: --cleanup-on-exit: means nothing with --once",
        ),
        (
            ["run", "--cleanup-on-exit"],
            {"CHAINFSM_ONCE": "yes"},
            "chainfsm run: --cleanup-on-exit: means nothing with CHAINFSM_ONCE",
        ),
        (
            ["run", "--once"],
            {"CHAINFSM_REVERT_WINDOW": "5"},
            "chainfsm run: CHAINFSM_REVERT_WINDOW: means nothing with --once",
        ),
        (["run", "--revert-limit", "2", "--once"], {}, "chainfsm run: --revert-limit: means"),
        (["run"], {"CHAINFSM_ONCE": "maybe"}, "chainfsm run: CHAINFSM_ONCE: 'maybe' is not a"),
        (["run", "--once", "--timeout", "soon"], {}, "chainfsm run: --timeout: 'soon' is not"),
        (["run", "--once", "--timeout", "nan"], {}, "chainfsm run: --timeout: 'nan' is not"),
        (["run", "--", "x"], {}, "chainfsm run: x: unexpected argument"),
        (["run", "--once"], {"CHAINFSM_READY_FILE": ""}, "chainfsm run: CHAINFSM_READY_FILE: is"),
        (["run"], {"CHAINFSM_DUMP_FILE": "/"}, "chainfsm run: CHAINFSM_DUMP_FILE: '/' names a"),
        (["render"], {"CHAINFSM_NET_DIR": ""}, "chainfsm render: CHAINFSM_NET_DIR: is empty"),
        (["explain", "--bin-dir", ""], {}, "chainfsm explain: --bin-dir: is empty"),
        (["render", "--primary", ""], {}, "chainfsm render: --primary: is empty"),
        (["run", "--timeout"], {}, "chainfsm run: --timeout: expected one argument"),
        (["run", "--listen", "nowhere"], {}, "chainfsm run: --listen: 'nowhere' is not HOST"),
        (["run"], {"CHAINFSM_LOG_FORMAT": "yaml"}, "chainfsm run: CHAINFSM_LOG_FORMAT: 'yaml'"),
        (["run", "--re", "1"], {}, "chainfsm run: --re: ambiguous: could be --rewrite,"),
        (["explain", "--plugin", '{"type":"../x"}'], {}, "chainfsm explain: --plugin: the"),
        (["explain"], {"CHAINFSM_PLUGIN": '{"type":"a\\nb"}'}, "chainfsm explain: CHAINFSM_PL"),
        (["dump", "--pid", "0"], {}, "chainfsm dump: --pid: '0' is not a whole number"),
        (["diagram", "--format", "gif"], {}, "chainfsm diagram: --format: invalid choice"),
        (["demo", "--log-format", "yaml"], {}, "chainfsm demo: --log-format: invalid choice"),
    ],
)
def test_a_usage_error_is_one_line_naming_the_flag_or_variable_with_exit_2(
    argv: list[str], env: dict[str, str], start: str
) -> None:
    clean = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    done = subprocess.run(
        [sys.executable, "-m", "chainfsm", *argv],
        capture_output=True,
        env={**clean, **env},
        text=True,
        check=False,
    )
    assert done.returncode == 2
    # Nothing on stdout, but where the output is JSON (dump's): the error as one document.
    if argv[:1] == ["dump"]:
        assert json.loads(done.stdout)["error"] in done.stderr
    else:
        assert done.stdout == ""
    assert done.stderr.startswith(start)
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.endswith("\n")
    named = start.split(": ")[1]
    assert f"{named}: {named}" not in done.stderr, "the flag is named twice"


def test_the_committed_docs_table_is_what_the_declaration_makes() -> None:
    assert DOCS.read_text(encoding="utf-8") == settings.markdown(), (
        "docs/settings.md is stale: regenerate it with"
        " `.venv/bin/python -m chainfsm.settings > docs/settings.md`"
    )


def test_the_docs_table_has_a_row_per_setting_naming_its_flag_variable_and_default() -> None:
    rows = [line for line in settings.markdown().splitlines() if line.startswith("| `--")]
    assert len(rows) == len(SETTINGS)
    for row, setting in zip(rows, SETTINGS, strict=True):
        cells = [cell.strip() for cell in row.strip("|").split(" | ")]
        assert cells[:2] == [f"`{setting.flag}`", f"`{setting.env}`"]
        assert cells[3] == ", ".join(setting.spec.commands)
    assert "| `--net-dir` | `CHAINFSM_NET_DIR` | `/etc/cni/net.d` |" in rows[0]


def test_the_module_prints_the_docs_table() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "chainfsm.settings"], capture_output=True, text=True, check=True
    )
    assert done.stdout == settings.markdown()


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["run", "--history=--"], "chainfsm run: --history: '--' is not a whole number above zero"),
        (["run", "--listen=--"], "chainfsm run: --listen: '--' is not HOST:PORT"),
        (["dump", "--pid=--"], "chainfsm dump: --pid: '--' is not a whole number above zero"),
        (["diagram", "--format=--"], "chainfsm diagram: --format: invalid choice: '--'"),
    ],
)
def test_a_flag_given_the_value_double_dash_is_read_as_that_value(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before Python 3.13 argparse drops the value of ``--flag=--`` and hands the flag [],
    # which the settings' parsers crashed on (a traceback, not a usage error).
    with pytest.raises(SystemExit) as exited:
        commands.main(argv)
    assert exited.value.code == 2
    assert capsys.readouterr().err.startswith(said)
