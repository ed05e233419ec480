"""Saying why the agent process ends badly: the one ``exit`` line. The codes themselves are
decided in ``core/exit_codes``."""

from __future__ import annotations

import logging

from chainfsm import logs
from chainfsm.core.exit_codes import FAILED


def fail(why: str) -> int:
    """Say why the agent ends with ``FAILED`` (one ``exit`` line) and return that code."""
    logs.event("exit", logging.ERROR, reason=why)
    return FAILED
