"""The conf dir as the agent sees it: one look (the listing and the files that decide what
happens next), and what the agent itself writes and removes there."""

from __future__ import annotations

import hashlib
import logging
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from chainfsm import logs
from chainfsm.core import discovery, validation, verification
from chainfsm.core.validation import Refusal
from chainfsm.edge import reading, writing
from chainfsm.edge.reading import Read
from chainfsm.settings import Settings


# A NamedTuple, not a frozen dataclass: made at import, where each dataclass costs every
# start-up about half a millisecond (docs/performance.md, "Start to Verified").
class Snapshot(NamedTuple):
    names: tuple[str, ...]
    primary: str | None
    primary_data: Read
    output_data: Read
    first: str | None
    first_data: Read
    #: Where our output points when someone replaced it by a symlink (None: not a link).
    output_link: str | None = None

    def with_output(self, output: str) -> verification.Contents:
        """What verification needs: the first config file, the primary and our output, as
        read (each only when present)."""
        found: dict[str, bytes | Refusal] = {}
        for name, data in (
            (self.first, self.first_data),
            (self.primary, self.primary_data),
            (output, self.output_data),
        ):
            if name is not None and data is not None:
                found[name] = data
        return found


def link_target(path: Path) -> str | None:
    """Where ``path`` points if it is a symlink; None for anything else (or nothing)."""
    try:
        return str(path.readlink())
    except OSError:
        return None


async def observe(net_dir: Path, output: str, pattern: str | None) -> Snapshot:
    """List the dir and read the primary, our output and the file the runtime loads first.

    Each file is read once even when it plays two parts (our output is usually also first).
    """
    names = tuple(reading.list_names(net_dir))
    primary = discovery.find_primary(names, output, pattern)
    order = discovery.runtime_order(names)
    first = order[0] if order else None
    cache: dict[str, Read] = {}
    for name in (primary, output, first):
        if name is not None and name not in cache:
            cache[name] = await reading.read(net_dir, name) if name in names else None
    return Snapshot(
        output_link=link_target(net_dir / output) if output in names else None,
        names=names,
        primary=primary,
        primary_data=cache.get(primary) if primary else None,
        output_data=cache[output],
        first=first,
        first_data=cache.get(first) if first else None,
    )


def sha256(data: Read) -> str | None:
    """The hex SHA-256 of a file's bytes (None when there are none)."""
    return hashlib.sha256(data).hexdigest() if isinstance(data, bytes) else None


def _is_real_dir(path: Path) -> bool:
    """A directory, not a symlink to one (libcni skips the first and fails on the second)."""
    try:
        return stat.S_ISDIR(path.lstat().st_mode)
    except OSError:
        return False


class Baseline(NamedTuple):
    """What the agent verified in the dir: the primary its chain was made from, the file the
    runtime loaded first, and our output's bytes (None once we withdrew it). A NamedTuple:
    a dataclass would cost start-up a millisecond to make."""

    primary: str
    primary_data: bytes
    first: str | None
    output_data: bytes | None


class Lost(Exception):
    """Raised out of a look at the dir when the dir itself cannot be listed any more."""


if TYPE_CHECKING:  # a Protocol class costs start-up a millisecond; only mypy needs it
    from typing import Protocol

    class Changes(Protocol):
        """The record of changes a look answers (the agent's wake-ups)."""

        @property
        def pending(self) -> bool: ...

        def consume(self) -> None: ...

        def lose(self, why: str) -> None: ...


class ConfDir:
    """Looks at the conf dir, the look one state hands to the next, the write of our output
    and what the agent verified there, and the removals it makes: its own temp files, an
    invalid file under its output name, and its chain when no primary stands behind it."""

    def __init__(
        self,
        settings: Settings,
        changes: Changes,
        check_identity: Callable[[], None],
        note_error: Callable[[str], None],
    ) -> None:
        self.settings = settings
        self._changes = changes
        self._check_identity = check_identity
        #: Told why a removal failed: the agent's last error.
        self._note_error = note_error
        #: How many times the agent has looked at the dir.
        self.looks = 0
        #: The primary as last seen.
        self.primary: str | None = None
        #: A look at the dir that one state hands to the next, so the next need not look again.
        self._handed: Snapshot | None = None
        #: Consecutive failed removals of our output (a read-only dir): paces the retries.
        self.removal_failures = 0
        #: What the agent last verified here (None: nothing yet).
        self.baseline: Baseline | None = None

    async def look(self, consume: bool = True) -> Snapshot:
        """One look at the dir. ``consume``: this look answers every change so far, so clear
        the flag first (what happens from here on is seen by the next look). A look that only
        checks our own write must not consume while another name changed: that may be the
        primary."""
        # Before the consume: what the check reports (a poll, while inotify is out) is
        # answered by this look.
        self._check_identity()
        if consume:
            self._changes.consume()
        self.looks += 1
        try:
            snap = await observe(self.settings.net_dir, self.settings.output, self.settings.primary)
        except OSError as err:
            # The dir itself went away under a handler (deleted, unmounted): the same news as
            # a lost watch, which the loop turns into watch_lost and exit 1, not a traceback.
            self._changes.lose(discovery.cannot_list(self.settings.net_dir, err))
            raise Lost from err
        self.primary = snap.primary
        return snap

    def hand_over(self, snap: Snapshot) -> None:
        """Leave ``snap`` for the next state."""
        self._handed = snap

    def handed_over(self) -> Snapshot | None:
        """The look the previous state handed over, if nothing has changed since it was taken.

        A look costs a listing and two reads; the state that follows a look needs the same one.
        Taken once: a retry looks afresh."""
        snap, self._handed = self._handed, None
        return None if snap is None or self._changes.pending else snap

    @property
    def verified_output(self) -> bytes | None:
        """Our output's bytes as we last wrote or found them verified."""
        return self.baseline.output_data if self.baseline is not None else None

    def output_valid(self, data: reading.Read) -> bool:
        return validation.valid(self.settings.output, data)

    async def put(self, data: bytes, primary: str) -> bool:
        """Make our output hold ``data`` (the chain made from ``primary``): written atomically
        unless it holds it already (True when written). Raises WriteError, and the previous
        output is then untouched."""
        net_dir, output = self.settings.net_dir, self.settings.output
        handed = self.handed_over()
        current = handed.output_data if handed is not None else await reading.read(net_dir, output)
        # A symlink under our name is replaced (the rename replaces the link, never writes
        # through it): its target could change with no event in this dir.
        linked = link_target(net_dir / output) is not None
        if current == data and not linked:
            return False
        await writing.write_atomic(net_dir, output, data)
        logs.event("written", file=output, sha256=sha256(data), primary=primary)
        return True

    async def startup(self) -> bool:
        """Clear what a crash or an older installer left: our temp files, and an invalid file
        under our output name, which blocks the runtime's whole directory. False when the dir
        cannot be listed (gone before the first look): the watch is then lost.

        Best effort: on a read-only or full dir the agent stays up, says why, and the states
        retry (the invalid output is removed again from WaitingPrimary and Validating, and
        overwritten by Writing)."""
        try:
            await self._clear_leftovers()
        except OSError as err:  # the dir went away before the first look
            self._changes.lose(discovery.cannot_list(self.settings.net_dir, err))
            return False
        return True

    async def _clear_leftovers(self) -> None:
        net_dir, output = self.settings.net_dir, self.settings.output
        for name in reading.list_names(net_dir):
            if discovery.is_our_temp(name, output):
                try:
                    await writing.remove(net_dir, name)
                except writing.WriteError as err:
                    # The runtime ignores temp names: a leftover costs nothing but space.
                    logs.event("cleanup_failed", logging.WARNING, file=name, reason=str(err))
                    continue
                logs.event("removed", file=name, reason="a temp file of ours from before")
        await self.remove_invalid_output(await reading.read(net_dir, output), "left from before")

    async def remove_invalid_output(self, data: Read, when: str) -> bool:
        """Remove an invalid file under our output name (it makes the runtime load nothing);
        True when one is still there because the removal failed."""
        output = self.settings.output
        if data is None or _is_real_dir(self.settings.net_dir / output):
            return False  # a real directory is skipped by the runtime; Writing reports it
        verdict = validation.verdict(output, data)
        if not isinstance(verdict, Refusal):
            return False
        try:
            await writing.remove(self.settings.net_dir, output)
        except writing.WriteError as err:
            self._note_error(str(err))
            self.removal_failures += 1
            logs.event(
                "cleanup_failed",
                logging.ERROR,
                file=output,
                reason=f"invalid file under our output name ({verdict.detail}) blocks the"
                f" runtime and cannot be removed: {err}; retrying",
            )
            return True
        self.removal_failures = 0
        logs.event(
            "removed",
            logging.WARNING,
            file=output,
            reason=f"invalid file under our output name, {when}: {verdict.detail}",
        )
        return False

    async def tidy_without_primary(self, data: Read, mismatch: bool) -> bool:
        """No primary behind our output (``data``): withdraw it, or, with
        --keep-on-primary-loss or a --primary that matches nothing (``mismatch``: a typo in
        the glob must not withdraw a working chain), only remove it if invalid. True while a
        removal keeps failing."""
        if data is None:
            return False
        if not mismatch and not self.settings.keep_on_primary_loss:
            logs.event("withdrawn", file=self.settings.output, reason=await self.withdraw())
            return self.removal_failures > 0
        return await self.remove_invalid_output(data, "with no primary")

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

    async def withdraw(self) -> str:
        """Remove our output because no primary stands behind it; say what happened.

        A chain with no primary behind it would make the runtime report a network that the
        primary's owner says is not ready.
        """
        output = self.settings.output
        if self.settings.keep_on_primary_loss:
            return f"kept {output} (--keep-on-primary-loss)"
        if self.baseline is not None:
            self.baseline = self.baseline._replace(output_data=None)
        try:
            removed = await writing.remove(self.settings.net_dir, output)
        except writing.WriteError as err:
            self._note_error(str(err))
            self.removal_failures += 1
            return f"could not withdraw {output}: {err}; retrying"
        self.removal_failures = 0
        if removed:
            return f"withdrew {output} so the runtime reports the truth"
        return f"{output} was already gone"

    async def glob_mismatch(self, snap: Snapshot) -> str | None:
        """When ``--primary`` matches nothing but valid config files are there, what to say:
        a typo in the glob must not withdraw a working chain. None otherwise."""
        pattern = self.settings.primary
        if pattern is None or snap.primary is not None:
            return None
        present = discovery.primary_candidates(snap.names, self.settings.output)
        valid = []
        for name in present:
            if validation.valid(name, await reading.read(self.settings.net_dir, name)):
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
