"""``python -m chainfsm`` runs the same command line as the ``chainfsm`` script."""

import sys

from chainfsm.cli import commands

sys.exit(commands.main())
