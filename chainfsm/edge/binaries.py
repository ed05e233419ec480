"""Whether the plugin binaries of a chain are installed and speak the chain's ``cniVersion``.

The runtime finds a plugin by its ``type`` in the CNI bin dir and, before running a list,
asks each binary (``CNI_COMMAND=VERSION``) which spec versions it supports (libcni's
``ValidateNetworkList``). libcni checks each plugin's ``type`` only: an ``ipam.type`` is a binary
only when the plugin delegates to it (bridge to host-local), and Azure CNS nodes name
``azure-cns``, which is no binary at all, so IPAM types are never required. A chain whose binary
is missing or too old fails every pod; with ``--bin-dir`` the agent, ``explain`` and ``render``
all ask this one check. The first part of this module is pure (which binaries, what a VERSION
answer means); the second does the file and process I/O.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chainfsm.core.numbers import whole_number
from chainfsm.core.plugin_problems import NOT_IN
from chainfsm.core.validation import Refusal, Rule
from chainfsm.edge import interpreters, off_loop, plugin_groups
from chainfsm.edge.interpreters import Unchecked

#: A VERSION answer: the versions, why there are none, or why it cannot be asked here.
Answer = tuple[str, ...] | str | Unchecked

#: What a list without ``cniVersion`` means (libcni's ConfigDecoder).
DEFAULT_CNI_VERSION = "0.1.0"
#: libcni's answer for a plugin that predates VERSION and says so with this error message.
UNKNOWN_VERSION_COMMAND = "unknown CNI_COMMAND: VERSION"
#: Seconds a binary gets to answer VERSION; one that hangs must not hang the agent.
VERSION_TIMEOUT = 5.0
#: A VERSION answer is a few hundred bytes; read no more than this.
MAX_REPLY = 64 * 1024


# -- pure ---------------------------------------------------------------------------------------


def required_types(plugins: Iterable[Mapping[str, Any]]) -> list[str]:
    """Pure. The binaries the runtime runs for a chain, in order, once each: every plugin's
    ``type``, as libcni looks them up."""
    found: list[str] = []
    for plugin in plugins:
        kind = plugin.get("type")
        if isinstance(kind, str) and kind and kind not in found:
            found.append(kind)
    return found


def ipam_types(plugins: Iterable[Mapping[str, Any]]) -> list[str]:
    """Pure. The ``ipam.type`` each plugin names, once each: information only, since whether it
    is a binary is the plugin's business (``azure-cns`` is a daemon, ``host-local`` a binary)."""
    found: list[str] = []
    for plugin in plugins:
        ipam = plugin.get("ipam")
        kind = ipam.get("type") if isinstance(ipam, dict) else None
        if isinstance(kind, str) and kind and kind not in found:
            found.append(kind)
    return found


def list_version(document: Mapping[str, Any]) -> str:
    """Pure. The version a list asks of its plugins: its ``cniVersion``, or 0.1.0 without one."""
    version = document.get("cniVersion")
    return version if isinstance(version, str) and version else DEFAULT_CNI_VERSION


def parse_version_reply(stdout: bytes, exit_code: int) -> tuple[str, ...] | str:
    """Pure. The versions a plugin supports from its VERSION answer, or why there are none.

    As libcni's ``GetVersionInfo`` and ``PluginDecoder``: an error whose ``msg`` is "unknown
    CNI_COMMAND: VERSION" means 0.1.0 only; a reply needs a string ``cniVersion``; a missing
    ``supportedVersions`` is accepted only from a 0.2.0 plugin (which means 0.1.0 and 0.2.0).
    """
    try:
        reply = json.loads(stdout.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        reply = None
    if exit_code != 0:
        message = reply.get("msg") if isinstance(reply, dict) else None
        if message == UNKNOWN_VERSION_COMMAND:
            return (DEFAULT_CNI_VERSION,)
        said = f": {message}" if isinstance(message, str) and message else ""
        return f"failed the VERSION command (exit code {exit_code}){said}"
    if not isinstance(reply, dict):
        return "answered VERSION with something other than a JSON object"
    version = reply.get("cniVersion")
    if not isinstance(version, str) or not version:
        return 'answered VERSION without a "cniVersion"'
    supported = reply.get("supportedVersions")
    if supported is None or supported == []:
        if version == "0.2.0":
            return ("0.1.0", "0.2.0")
        return 'answered VERSION without "supportedVersions"'
    if not isinstance(supported, list) or not all(isinstance(v, str) for v in supported):
        return 'answered VERSION with a "supportedVersions" that is not a list of strings'
    return tuple(supported)


def _version_key(version: str) -> tuple[int, ...]:
    # A plugin's answer is any string: a part without plain digits ("x", "²") counts as 0.
    return tuple(
        whole_number("".join(filter(str.isdigit, part))) or 0 for part in version.split(".")
    )


def describe_versions(supported: Sequence[str]) -> str:
    """Pure. "0.3.0-1.0.0" for a list of versions (lowest to highest), or the one version."""
    ordered = sorted(supported, key=_version_key)
    return ordered[0] if len(ordered) == 1 else f"{ordered[0]}-{ordered[-1]}"


def supports(supported: Sequence[str], version: str) -> bool:
    """Pure. Whether a plugin supports ``version``: an exact match in its list, as in libcni."""
    return version in supported


# -- I/O --------------------------------------------------------------------------------------


@dataclass
class VersionCache:
    """VERSION answers by binary (path, inode, size, mtime): a re-validation does not run every
    binary again, and a replaced binary is asked afresh.

    It also holds the queries under way. A check given up half-way (the agent had a change in
    the conf dir to answer first) leaves its queries running, and the next check joins them:
    a slow plugin is asked once, not once per change, so a busy conf dir cannot starve it."""

    answers: dict[tuple[str, int, int, int], Answer] = field(default_factory=dict)
    running: dict[tuple[str, int, int, int], asyncio.Task[tuple[Answer, bool]]] = field(
        default_factory=dict
    )

    async def ask(self, path: Path, info: os.stat_result, version: str) -> Answer:
        """The binary's answer: cached, joined while under way, or asked now."""
        key = self._key(path, info)
        if (cached := self.answers.get(key)) is not None:
            return cached
        query = self.running.get(key)
        if query is None:
            query = asyncio.create_task(
                query_version(path, version), name=f"chainfsm-version-{path.name}"
            )
            self.running[key] = query
            query.add_done_callback(functools.partial(self._done, key))
        # Shielded: giving up this check must not cut the query the next check joins.
        answer, _ = await asyncio.shield(query)
        return answer

    def _done(
        self,
        key: tuple[str, int, int, int],
        query: asyncio.Task[tuple[Answer, bool]],
    ) -> None:
        if self.running.get(key) is query:
            del self.running[key]
        if not query.cancelled() and query.exception() is None:
            answer, lasting = query.result()
            if lasting:
                self.answers[key] = answer

    async def close(self) -> None:
        """Cut every query under way (each kills its plugin's process group)."""
        queries = list(self.running.values())
        for query in queries:
            query.cancel()
        await asyncio.gather(*queries, return_exceptions=True)
        plugin_groups.reap()

    @staticmethod
    def _key(path: Path, info: os.stat_result) -> tuple[str, int, int, int]:
        return (str(path), info.st_ino, info.st_size, info.st_mtime_ns)


async def query_version(binary: Path, cni_version: str) -> tuple[Answer, bool]:
    """Ask ``binary`` which versions it supports, as the runtime does, or say why it could not
    answer; and whether that answer is the binary's own (worth caching) rather than a hang or a
    failure to start it, which may pass.

    The plugin runs in a session (and so a process group) of its own. A hang is cut off after
    VERSION_TIMEOUT, and a cancelled query is cut off at once: either way the whole group is
    killed, since a script's child (``sleep``, say) keeps the reply pipe open after the script
    itself is gone, and the pipe is closed on our side rather than read to its end."""
    env = {
        "CNI_COMMAND": "VERSION",
        # Plugins built on an old skel insist on these; libcni sends the same placeholders.
        "CNI_NETNS": "dummy",
        "CNI_IFNAME": "dummy",
        "CNI_PATH": "dummy",
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    }
    plugin_groups.reap()  # what groups killed before left us since
    # The request waits in a pipe filled before the plugin starts (it is far below the
    # pipe's buffer): asyncio writing it to a plugin that exits without reading its stdin
    # left a BrokenPipeError that nothing retrieved, printed as a traceback at exit.
    request = json.dumps({"cniVersion": cni_version}).encode()
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, request)
    finally:
        os.close(write_end)
    # The reply comes through a pipe of our own, not asyncio's: a process's wait() there also
    # waits for its pipes to close, which a grandchild holding stdout delays for as long as it
    # lives.
    reply_end, plugin_end = os.pipe()
    try:
        process = await asyncio.create_subprocess_exec(
            binary,
            stdin=read_end,
            stdout=plugin_end,
            stderr=asyncio.subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # its own group, to kill whole; and our signals are not its
        )
    except OSError as err:
        os.close(reply_end)
        return interpreters.not_started(binary, err)
    finally:
        os.close(read_end)
        os.close(plugin_end)
    reply = _Reply(reply_end)
    finished = False
    try:
        async with asyncio.timeout(VERSION_TIMEOUT):
            stdout = await reply.read()
            code = await process.wait()
        finished = True
    except TimeoutError:
        return f"did not answer VERSION within {VERSION_TIMEOUT:g} s", False
    finally:
        reply.close()
        if not finished:
            plugin_groups.kill(process.pid)
            await process.wait()  # reaps the plugin itself; no pipe of asyncio's to wait for
            plugin_groups.orphans_of(process.pid)
    return parse_version_reply(stdout, code), True


class _Reply:
    """The read end of a plugin's stdout, read to its end (at most MAX_REPLY bytes kept)."""

    def __init__(self, fd: int) -> None:
        self._file = os.fdopen(fd, "rb", buffering=0)
        self._transport: asyncio.ReadTransport | None = None

    async def read(self) -> bytes:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=MAX_REPLY)
        self._transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), self._file
        )
        kept = bytearray()
        while chunk := await reader.read(MAX_REPLY):
            # Read on past the cap (a writer blocked on a full pipe never exits), keep none.
            kept += chunk[: MAX_REPLY - len(kept)]
        return bytes(kept)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        else:
            self._file.close()


async def _check_one(
    bin_dir: Path, file: str, kind: str, version: str, cache: VersionCache
) -> Refusal | Unchecked | None:
    path = bin_dir / kind
    try:
        info = await off_loop.run(path.stat)
    except FileNotFoundError:
        return Refusal(file, Rule.PLUGIN_BINARY, f'plugin "{kind}"{NOT_IN}{bin_dir}')
    except OSError as err:
        return Refusal(
            file, Rule.PLUGIN_BINARY, f'plugin "{kind}": cannot stat {path}: {err.strerror}'
        )
    if not stat.S_ISREG(info.st_mode):
        return Refusal(file, Rule.PLUGIN_BINARY, f'plugin "{kind}": {path} is not a file')
    if not os.access(path, os.X_OK):
        return Refusal(file, Rule.PLUGIN_BINARY, f'plugin "{kind}": {path} is not executable')
    answer = await cache.ask(path, info, version)
    if isinstance(answer, Unchecked):
        return Unchecked(f'plugin "{kind}" ({path}) {answer.why}')
    if isinstance(answer, str):
        return Refusal(file, Rule.PLUGIN_BINARY, f'plugin "{kind}" ({path}) {answer}')
    if not supports(answer, version):
        return Refusal(
            file,
            Rule.PLUGIN_BINARY,
            f'plugin "{kind}" supports cniVersion {describe_versions(answer)}, not {version}',
        )
    return None


@dataclass(frozen=True, slots=True)
class ChainCheck:
    """The binary check of one chain: what stops it (``problems``: the check fails closed on
    these) and the plugins in place whose VERSION cannot be asked from here (``unchecked``:
    said, not refused; see ``interpreters.Unchecked``)."""

    problems: tuple[Refusal, ...]
    unchecked: tuple[str, ...]


async def check_chain_fully(
    bin_dir: Path,
    file: str,
    document: Mapping[str, Any],
    cache: VersionCache,
) -> ChainCheck:
    """Why the chain in ``document`` (made from the primary ``file``) cannot run from
    ``bin_dir``: one refusal per plugin binary that is missing, not an executable file, or not
    speaking the list's ``cniVersion``; and which could not be asked here."""
    plugins = document.get("plugins")
    version = list_version(document)
    kinds = required_types(plugins if isinstance(plugins, list) else [])
    # All at once: a plugin that hangs delays no other's answer.
    outcomes = await asyncio.gather(*(_check_one(bin_dir, file, k, version, cache) for k in kinds))
    found: list[Refusal] = []
    unchecked: list[str] = []
    for outcome in outcomes:
        if isinstance(outcome, Unchecked):
            unchecked.append(outcome.why)
        elif outcome is not None:
            found.append(outcome)
    return ChainCheck(tuple(found), tuple(unchecked))


async def check_chain(
    bin_dir: Path,
    file: str,
    document: Mapping[str, Any],
    cache: VersionCache,
) -> tuple[Refusal, ...]:
    """``check_chain_fully``'s problems: empty when every binary is in place."""
    return (await check_chain_fully(bin_dir, file, document, cache)).problems


def check_chain_now(bin_dir: Path, file: str, document: Mapping[str, Any]) -> ChainCheck:
    """``check_chain_fully`` for the one-shot commands (``explain``, ``render``), outside any
    loop."""
    return asyncio.run(check_chain_fully(bin_dir, file, document, VersionCache()))


def absent_ipam(bin_dir: Path, document: Mapping[str, Any]) -> list[str]:
    """The IPAM types of ``document`` with no executable in ``bin_dir``: information for
    ``explain``, never a failure (see ``ipam_types``)."""
    plugins = document.get("plugins")
    return [
        kind
        for kind in ipam_types(plugins if isinstance(plugins, list) else [])
        if not (bin_dir / kind).is_file() or not os.access(bin_dir / kind, os.X_OK)
    ]
