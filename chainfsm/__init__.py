"""chainfsm: chain a CNI plugin after the node's primary CNI config, safely.

The layers, each importing only those before it (tests/unit/test_layers.py holds them to it):
``core`` decides, purely; ``settings`` and ``logs`` declare the settings and say the log lines,
with core's rules; ``edge`` reads, writes and watches the conf dir and runs plugin binaries;
``agent`` runs the state machine on them; ``process`` wraps the agent in signals, probes,
metrics and the dump; ``cli`` is the command line.
"""

__version__ = "0.1.0"
