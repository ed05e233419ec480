"""What ``run --once`` leaves unimported: the modules of options and fallbacks it does not use,
each a cost at every start-up (docs/performance.md, "Start to Verified")."""

from __future__ import annotations

from pathlib import Path

from tests.support import primaries
from tests.support.constants import AZURE
from tests.support.process_imports import imported

#: Only a command line other than a plain ``run`` needs these (cli/entry.py).
ARGPARSE_MODULES = {"argparse", "gettext", "chainfsm.cli.commands"}
#: Only --bin-dir's checks need these.
BIN_DIR_MODULES = {
    "chainfsm.edge.binaries",
    "chainfsm.edge.interpreters",
    "chainfsm.edge.plugin_groups",
}
#: Only a failed inotify (polling instead) needs these.
POLLING_MODULES = {"chainfsm.edge.polling", "chainfsm.core.watch_limits"}


def test_run_once_imports_no_module_of_an_option_or_fallback_it_does_not_use(
    net_dir: Path, tmp_path: Path
) -> None:
    (net_dir / AZURE).write_bytes(primaries.primary_bytes())
    modules = imported("run", "--once", "--net-dir", str(net_dir), cwd=tmp_path)
    assert "chainfsm.agent.agent" in modules  # it did run
    assert modules & (ARGPARSE_MODULES | BIN_DIR_MODULES | POLLING_MODULES) == set()
