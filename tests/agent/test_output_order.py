"""An --output that sorts after the primary is never read by the runtime. Where that is known
from the settings (an exact --primary, or a glob whose literal start decides the order), `run`
and `render` refuse it as a usage error; otherwise the agent and `render` say to rename the
output, never to remove the primary. Real files, a real agent on real inotify."""

from __future__ import annotations

from pathlib import Path

import pytest

from chainfsm.cli import commands
from chainfsm.core import discovery
from chainfsm.core.states import State, Trigger
from chainfsm.settings import SettingError, resolve
from tests.support.constants import AZURE
from tests.support.guarded_agent import running
from tests.support.primaries import primary_bytes

LATE = "99-antrea.conflist"

ADVICE = (
    f"choose an --output name that sorts before {AZURE}, such as '00-antrea.conflist' (keep"
    f" {AZURE}: it is the config chainfsm chains)"
)


# -- pure ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "pattern", "first"),
    [
        ("05-antrea.conflist", "10-azure.conflist", True),
        (LATE, "10-azure.conflist", False),
        (LATE, "10-*.conflist", False),
        (LATE, "1?-azure.conflist", False),
        ("05-antrea.conflist", "*azure*", None),  # any name at all
        ("05-antrea.conflist", "0*.conflist", None),  # 00-x sorts first, 09-x after
        ("05-antrea.conflist", "05-a*", None),
        ("05-antrea.conflist", "1[0-9]-*", True),
        ("05-antrea.conflist", "00-*", False),
        ("05-antrea.conflist", ".*", False),  # a dot sorts before digits
        ("05-antrea.conflist", "05-antrea.conflist", None),  # never the primary: said apart
    ],
)
def test_whether_the_output_sorts_first_is_known_only_from_a_deciding_literal_start(
    output: str, pattern: str, first: bool | None
) -> None:
    assert discovery.output_first(output, pattern) is first


def test_the_suggested_name_sorts_before_every_match() -> None:
    assert discovery.name_before(LATE, "10-*.conflist") == "00-antrea.conflist"
    assert discovery.name_before("05-antrea.conflist", "00-*") == "0-antrea.conflist"
    assert discovery.name_before("antrea.conflist", ".*") is None


def test_resolve_refuses_it_naming_where_it_came_from() -> None:
    given = {"output": LATE, "primary": AZURE}
    with pytest.raises(SettingError) as refused:
        resolve("run", given, {})
    assert str(refused.value) == (
        f"--output: '{LATE}' sorts after the primary '{AZURE}'; the runtime loads only the first"
        f" config file in byte order and would never read {LATE}: {ADVICE}"
    )
    with pytest.raises(SettingError, match=r"^CHAINFSM_PRIMARY: --output '05-antrea.conflist'"):
        resolve("render", {}, {"CHAINFSM_PRIMARY": "00-*"})
    with pytest.raises(SettingError, match=r"^--output: --primary and --output are both"):
        resolve("run", {"output": LATE, "primary": LATE}, {})
    # explain is how one finds out what the runtime does with such a dir: it is not refused.
    assert resolve("explain", given, {})["output"] == LATE


# -- the commands and the agent ----------------------------------------------------------------


@pytest.mark.parametrize("command", ["run", "render"])
def test_run_and_render_refuse_it_as_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    argv = [command, "--net-dir", str(tmp_path), "--output", LATE, "--primary", "10-*.conflist"]
    with pytest.raises(SystemExit) as exited:
        commands.main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"chainfsm {command}: --output: '{LATE}' sorts after every name --primary"
        " '10-*.conflist' can match;"
    )
    assert err.count("\n") == 1
    assert f"remove {AZURE}" not in err


async def test_the_agent_advises_renaming_the_output_not_removing_the_primary(
    tmp_path: Path,
) -> None:
    """With the default --primary the order is known only from the dir."""
    (tmp_path / AZURE).write_bytes(primary_bytes())
    async with running(tmp_path, output=LATE) as run:
        failed = await run.until(Trigger.VERIFY_FAILED)
        assert failed.dest == State.Failed.value
        assert failed.reason == (
            f"{AZURE} sorts before {LATE}, so the runtime loads it and never reads ours: {ADVICE}"
        )


def test_render_says_the_same_and_exits_1(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    (tmp_path / AZURE).write_bytes(primary_bytes())
    assert commands.main(["render", "--net-dir", str(tmp_path), "--output", LATE]) == 1
    captured = capsysbinary.readouterr()
    assert captured.out  # the chain, as the agent would write it
    assert captured.err.decode() == (
        f"chainfsm: {AZURE} sorts before {LATE}, so the runtime loads it and never reads ours:"
        f" {ADVICE}\n"
    )
