"""``python -m chainfsm`` runs the same command line as the ``chainfsm`` script."""

import sys

from chainfsm import cli

sys.exit(cli.main())
