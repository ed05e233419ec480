"""``chainfsm run`` with plain flags skips argparse (cli/entry.py): what it takes, it reads as
argparse does; everything else it leaves to argparse, help and usage errors included."""

from __future__ import annotations

import pytest

from chainfsm.cli import commands, entry
from chainfsm.settings import SETTINGS

#: Command lines argparse reads one way only: the plain path must read them the same.
PLAIN = [
    ["run"],
    ["run", "--once"],
    ["run", "--once", "--net-dir", "/a/net.d", "--output", "05-antrea.conflist"],
    ["run", "--net-dir=/a/net.d", "--once", "--timeout", "2.5", "--log-format", "json"],
    ["run", "--primary", "10-azure.conflist", "--plugin", '{"type":"antrea","mode":"x"}'],
    ["run", "--net-dir", "/a", "--net-dir", "/b"],  # the last one given counts
    ["run", "--bin-dir", "/opt/cni/bin", "--poll-interval", "0.5", "--dump-file", "/r/d.json"],
    ["run", "--rewrite", "[]", "--listen", "127.0.0.1:9000"],
]

#: Left to argparse: help, abbreviations, other commands, values like flags, refusals.
OTHERS = [
    [],
    ["--version"],
    ["render", "--net-dir", "/a"],
    ["run", "--help"],
    ["run", "-h"],
    ["run", "--net-d", "/a"],
    ["run", "--net-dir"],
    ["run", "--primary", "-x"],
    ["run", "--net-dir", "--once"],
    ["run", "--once=1"],
    ["run", "--bogus"],
    ["run", "extra"],
    ["run", "--", "--once"],
    ["run", "--timeout", "soon"],
    ["run", "--net-dir", ""],
    ["run", "--rewrite", "", "--listen", "127.0.0.1:9000"],
    ["run", "--untaint", "startup"],  # needs --node-name: a usage error
]


@pytest.fixture(autouse=True)
def _no_settings_from_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    for setting in SETTINGS:
        monkeypatch.delenv(setting.env, raising=False)


@pytest.mark.parametrize("argv", PLAIN, ids=" ".join)
def test_a_plain_run_is_read_as_argparse_reads_it(argv: list[str]) -> None:
    read = entry.plain_run(argv)
    assert read is not None
    assert read == commands.settings_from(commands.build_parser().parse_args(argv))


@pytest.mark.parametrize("argv", OTHERS, ids=" ".join)
def test_anything_else_is_left_to_argparse(argv: list[str]) -> None:
    assert entry.plain_run(argv) is None


def test_a_refused_variable_is_left_to_argparse_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAINFSM_TIMEOUT", "soon")
    assert entry.plain_run(["run", "--once"]) is None
