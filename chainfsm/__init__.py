"""chainfsm: chain a CNI plugin after the node's primary CNI config, safely.

The pure core (``discovery``, ``validation``, ``chaining``, ``verification``) decides;
the agent (``agent``, ``watching``, ``writing``, ``observing``) does the I/O.
"""

__version__ = "0.1.0"
