"""What ``run --once`` leaves undone: the modules of options and fallbacks it does not use, each
a cost at every start-up, and the interpreter's last collections at its exit (docs/performance.md,
"Start-up in issue 21")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support import primaries
from tests.support.constants import AZURE, HANG_GUARD
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
#: Only --ready-file needs the first; only armed watches (none when the primary is there at
#: the start of ``run --once``) need the second.
UNARMED_MODULES = {"chainfsm.process.ready_file", "chainfsm.edge.links"}


def test_run_once_imports_no_module_of_an_option_or_fallback_it_does_not_use(
    net_dir: Path, tmp_path: Path
) -> None:
    (net_dir / AZURE).write_bytes(primaries.primary_bytes())
    modules = imported("run", "--once", "--net-dir", str(net_dir), cwd=tmp_path)
    assert "chainfsm.agent.agent" in modules  # it did run
    unused = ARGPARSE_MODULES | BIN_DIR_MODULES | POLLING_MODULES | UNARMED_MODULES
    assert modules & unused == set()


#: The process's own entry point (the ``chainfsm`` script), then what its exit would collect.
SCRIPT = """
import gc, sys
from chainfsm.cli import entry
sys.argv = ["chainfsm", *sys.argv[1:]]
code = entry.script()
print(code, gc.get_freeze_count() > 0)
"""


def test_the_process_exits_with_its_objects_frozen_and_its_code_kept(
    net_dir: Path, tmp_path: Path
) -> None:
    (net_dir / AZURE).write_bytes(primaries.primary_bytes())
    once = ("run", "--once", "--net-dir", str(net_dir))
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, *once],
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        cwd=tmp_path,
        check=False,
    )
    assert done.stdout.split() == ["0", "True"], done.stderr
