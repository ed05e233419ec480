"""``chainfsm run`` with plain flags skips argparse (cli/entry.py): what it takes, it reads as
argparse does; everything else it leaves to argparse, help and usage errors included."""

from __future__ import annotations

import contextlib
import io
import itertools

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from chainfsm import settings
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


_RUN_FLAGS = [setting.flag for setting in settings.taken_by("run")]
_SWITCHES = [setting.flag for setting in settings.taken_by("run") if setting.switch]
#: Values that read differently or not at all: like flags, "--", "=", empty, refused, good.
_VALUES = [
    "",
    "-",
    "--",
    "-x",
    "-5",
    "=",
    "a=b",
    " ",
    "x",
    "0",
    "5",
    "2.5",
    "/a",
    "json",
    "stop",
    "[]",
    '{"type":"antrea"}',
    "10-a.conflist",
    "50-a.conflist",
    "*",
    "127.0.0.1:1",
    "k",
    "\udcff",
]
_WORD = st.one_of(
    st.tuples(st.sampled_from(_RUN_FLAGS), st.sampled_from(_VALUES)).map(list),
    st.tuples(st.sampled_from(_RUN_FLAGS), st.sampled_from(_VALUES)).map(lambda p: ["=".join(p)]),
    st.sampled_from(_RUN_FLAGS).map(lambda flag: [flag]),
    st.tuples(st.sampled_from(_SWITCHES), st.sampled_from(_VALUES)).map(lambda p: ["=".join(p)]),
    st.sampled_from(_VALUES).map(lambda value: [value]),
    st.tuples(st.sampled_from(_RUN_FLAGS), st.integers(3, 12)).map(lambda p: [p[0][: p[1]]]),
)


@hypothesis_settings(max_examples=300)
@given(
    st.lists(_WORD, max_size=5).map(lambda words: ["run", *itertools.chain.from_iterable(words)])
)
def test_any_run_command_line_the_plain_path_takes_argparse_reads_the_same(
    argv: list[str],
) -> None:
    read = entry.plain_run(argv)
    if read is None:
        return  # left to argparse, which reads it
    with contextlib.redirect_stderr(io.StringIO()):
        try:
            parsed = commands.build_parser().parse_args(argv)
        except SystemExit:
            pytest.fail(f"plain_run took {argv}, which argparse refuses")
    assert read == commands.settings_from(parsed)
