"""The conf dir's I/O port: one look (the listing and the files that decide what happens
next), a narrower look after our own write, and the writes and removals the agent makes there.

It holds no agent state and never calls up: what it needs comes in as arguments, what it did
goes back as values (a ``Removal``), and a dir that cannot be listed raises ``Lost``.
"""

from __future__ import annotations

import logging
import stat
from pathlib import Path
from typing import NamedTuple

from chainfsm import logs
from chainfsm.core import discovery, snapshot, validation
from chainfsm.core.snapshot import Read, Snapshot, sha256
from chainfsm.core.validation import Refusal
from chainfsm.edge import reading, writing
from chainfsm.settings import Settings

__all__ = ["ConfDir", "Lost", "Removal", "link_target", "observe", "recheck", "sha256"]


def link_target(path: Path) -> str | None:
    """Where ``path`` points if it is a symlink; None for anything else (or nothing)."""
    try:
        return str(path.readlink())
    except OSError:
        return None


def observe(
    net_dir: Path, output: str, pattern: str | None, kept: Snapshot | None = None
) -> Snapshot:
    """List the dir and read the primary, our output and the file the runtime loads first.

    Each file is read once even when it plays two parts (our output is usually also first).
    ``kept``: an earlier look whose primary's bytes still hold (see ``recheck``); they are used
    when the primary is the same file and not the first one, which is always read afresh.
    """
    names = tuple(reading.list_names(net_dir))
    primary, first = snapshot.roles(names, output, pattern)
    cache: dict[str, Read] = {}
    if kept is not None and primary is not None and primary == kept.primary != first:
        cache[primary] = kept.primary_data
    for name in (primary, output, first):
        if name is not None and name not in cache:
            cache[name] = reading.read(net_dir, name) if name in names else None
    return Snapshot(
        output_link=link_target(net_dir / output) if output in names else None,
        names=names,
        primary=primary,
        primary_data=cache.get(primary) if primary else None,
        output_data=cache[output],
        first=first,
        first_data=cache.get(first) if first else None,
    )


def recheck(net_dir: Path, output: str, pattern: str | None, before: Snapshot) -> Snapshot:
    """The dir after our own write, when nothing but our output changed since ``before`` was
    taken: listed afresh (a file may now sort before ours), our output read as it is on disk,
    the first file read when it is not ours, and the primary read only when it is another
    file than before's (its bytes are before's otherwise: a change to them is an event that
    wakes the next look)."""
    return observe(net_dir, output, pattern, kept=before)


def _is_real_dir(path: Path) -> bool:
    """A directory, not a symlink to one (libcni skips the first and fails on the second)."""
    try:
        return stat.S_ISDIR(path.lstat().st_mode)
    except OSError:
        return False


class Lost(Exception):
    """Raised out of a look at the dir when the dir itself cannot be listed any more; says
    why in the words of the lost watch."""


class Removal(NamedTuple):
    """What a removal of our output came to, for the agent to record (it paces the retries
    while removals fail)."""

    #: Why it failed (None: it did not).
    error: str | None = None


class ConfDir:
    """The conf dir's I/O: looks, the write of our output, the removals the agent makes (its
    own temp files, an invalid file under its output name, its chain when no primary stands
    behind it) and the reads that judge a ``--primary`` glob matching nothing."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _lost(self, err: OSError) -> Lost:
        # The dir itself went away under a handler (deleted, unmounted): the same news as
        # a lost watch, which the loop turns into watch_lost and exit 1, not a traceback.
        return Lost(discovery.cannot_list(self.settings.net_dir, err))

    def look(self) -> Snapshot:
        """One look at the dir (raises ``Lost`` when it cannot be listed)."""
        s = self.settings
        try:
            return observe(s.net_dir, s.output, s.primary)
        except OSError as err:
            raise self._lost(err) from err

    def recheck(self, before: Snapshot) -> Snapshot:
        """The look after our own write (see ``recheck``; raises ``Lost`` like ``look``)."""
        s = self.settings
        try:
            return recheck(s.net_dir, s.output, s.primary, before)
        except OSError as err:
            raise self._lost(err) from err

    def read_output(self) -> Read:
        """Our output's bytes as they are now."""
        return reading.read(self.settings.net_dir, self.settings.output)

    def output_valid(self, data: Read) -> bool:
        return validation.valid(self.settings.output, data)

    async def put(self, data: bytes, primary: str, current: Read) -> bool:
        """Make our output, which holds ``current``, hold ``data`` (the chain made from
        ``primary``): written atomically unless it holds it already (True when written).
        Raises WriteError, and the previous output is then untouched."""
        net_dir, output = self.settings.net_dir, self.settings.output
        # A symlink under our name is replaced (the rename replaces the link, never writes
        # through it): its target could change with no event in this dir.
        linked = link_target(net_dir / output) is not None
        if current == data and not linked:
            return False
        await writing.write_atomic(net_dir, output, data)
        logs.event("written", file=output, sha256=sha256(data), primary=primary)
        return True

    async def startup(self) -> Removal | None:
        """Clear what a crash or an older installer left: our temp files, and an invalid file
        under our output name, which blocks the runtime's whole directory. Raises ``Lost``
        when the dir cannot be listed (gone before the first look).

        Best effort: on a read-only or full dir the agent stays up, says why, and the states
        retry (the invalid output is removed again from WaitingPrimary and Validating, and
        overwritten by Writing)."""
        net_dir, output = self.settings.net_dir, self.settings.output
        try:
            names = reading.list_names(net_dir)
        except OSError as err:  # the dir went away before the first look
            raise self._lost(err) from err
        for name in names:
            if discovery.is_our_temp(name, output):
                try:
                    await writing.remove(net_dir, name)
                except writing.WriteError as err:
                    # The runtime ignores temp names: a leftover costs nothing but space.
                    logs.event("cleanup_failed", logging.WARNING, file=name, reason=str(err))
                    continue
                logs.event("removed", file=name, reason="a temp file of ours from before")
        return await self.remove_invalid_output(self.read_output(), "left from before")

    async def remove_invalid_output(self, data: Read, when: str) -> Removal | None:
        """Remove an invalid file under our output name (it makes the runtime load nothing);
        None when there is none to remove."""
        output = self.settings.output
        if data is None or _is_real_dir(self.settings.net_dir / output):
            return None  # a real directory is skipped by the runtime; Writing reports it
        verdict = validation.verdict(output, data)
        if not isinstance(verdict, Refusal):
            return None
        try:
            await writing.remove(self.settings.net_dir, output)
        except writing.WriteError as err:
            logs.event(
                "cleanup_failed",
                logging.ERROR,
                file=output,
                reason=f"invalid file under our output name ({verdict.detail}) blocks the"
                f" runtime and cannot be removed: {err}; retrying",
            )
            return Removal(str(err))
        logs.event(
            "removed",
            logging.WARNING,
            file=output,
            reason=f"invalid file under our output name, {when}: {verdict.detail}",
        )
        return Removal()

    async def withdraw_on_exit(self) -> None:
        """--cleanup-on-exit: remove our output on the way out (a failure is said, not
        raised)."""
        try:
            if await writing.remove(self.settings.net_dir, self.settings.output):
                logs.event(
                    "withdrawn",
                    file=self.settings.output,
                    reason="--cleanup-on-exit: removed our chain on the way out",
                )
        except writing.WriteError as err:
            logs.event("exit", logging.ERROR, reason=str(err))

    async def withdraw(self) -> tuple[str, Removal]:
        """Remove our output; say what happened, and what the removal came to."""
        output = self.settings.output
        try:
            removed = await writing.remove(self.settings.net_dir, output)
        except writing.WriteError as err:
            return f"could not withdraw {output}: {err}; retrying", Removal(str(err))
        if removed:
            return f"withdrew {output} so the runtime reports the truth", Removal()
        return f"{output} was already gone", Removal()

    def glob_mismatch(self, snap: Snapshot) -> str | None:
        """When ``--primary`` matches nothing but valid config files are there, what to say:
        a typo in the glob must not withdraw a working chain. None otherwise."""
        pattern = self.settings.primary
        if pattern is None or snap.primary is not None:
            return None
        present = discovery.primary_candidates(snap.names, self.settings.output)
        valid = []
        for name in present:
            if validation.valid(name, reading.read(self.settings.net_dir, name)):
                valid.append(name)
        if not valid:
            return None
        # Said only when they add something: the other files there, our output if it is there.
        there = "" if present == valid else f" (config files there: {', '.join(present)})"
        output = self.settings.output
        kept = f"{output} is left as it is (not withdrawn) and " if output in snap.names else ""
        return (
            f"no config file in {self.settings.net_dir} matches --primary {pattern!r}, but"
            f" {', '.join(valid)} {'is a valid config' if len(valid) == 1 else 'are valid configs'}"
            f"{there}: check the glob; {kept}the agent does not report Verified"
        )
