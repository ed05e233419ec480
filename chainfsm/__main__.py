"""``python -m chainfsm`` runs the same command line as the ``chainfsm`` script."""

import sys

from chainfsm.cli import entry

sys.exit(entry.script())
