"""The agent's checks of the chain's plugin binaries in --bin-dir, and what the last one found."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from chainfsm import logs
from chainfsm.core import plugin_problems
from chainfsm.core.validation import Refusal
from chainfsm.settings import Settings

if TYPE_CHECKING:
    from chainfsm.edge.binaries import VersionCache


class BinaryChecks:
    """The chain's plugin binaries in --bin-dir, checked after each write and at each change
    there; with no --bin-dir, never missing."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        #: The VERSION answers kept, made at the first check: without --bin-dir the checks
        #: (and their modules, a start-up cost) are never needed.
        self._versions: VersionCache | None = None
        #: Why each plugin binary of the chain cannot run, at the last check.
        self.problems: tuple[Refusal, ...] = ()
        #: Plugins in place whose VERSION cannot be asked from the agent's filesystem, at the
        #: last check: said, not refused (``interpreters.Unchecked``).
        self.unchecked: tuple[str, ...] = ()

    async def missing(self, primary: str, rendered: bytes) -> str | None:
        """Why the chain ``rendered`` (made from ``primary``) cannot run pods yet; None when
        every plugin binary is installed and speaks the list's cniVersion, or there is no
        --bin-dir.

        Asked after the write, never before: a chain withheld until its binary exists leaves
        the runtime on the primary alone, and pods would start without our plugin and keep
        running that way (fail open). Written, pods fail and are retried until it is there."""
        bin_dir = self.settings.bin_dir
        if bin_dir is None:
            self.problems, self.unchecked = (), ()
            return None
        from chainfsm.edge import binaries

        if self._versions is None:
            self._versions = binaries.VersionCache()
        document = json.loads(rendered)
        found = await binaries.check_chain_fully(bin_dir, primary, document, self._versions)
        self.problems = found.problems
        if found.unchecked and found.unchecked != self.unchecked:
            # Once per change, not at every re-check: the warning is the same until then.
            for note in found.unchecked:
                logs.event("binary_unchecked", logging.WARNING, file=primary, reason=note)
        self.unchecked = found.unchecked
        if not self.problems:
            return None
        details = [p.detail for p in self.problems]
        awaited = plugin_problems.awaited(details)
        return (
            f"{self.settings.output} is in place, but {'; '.join(details)}: pods on this node"
            f" cannot start until {awaited} in {bin_dir} (chainfsm re-checks on every change"
            " there)"
        )

    async def close(self) -> None:
        """Cut the VERSION queries still under way: the agent is leaving."""
        if self._versions is not None:
            await self._versions.close()
