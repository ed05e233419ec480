"""The agent's settings, declared once: one frozen value, built from flags and environment
variables.

Each field of ``Settings`` carries its own declaration (``Spec``): what it means, how a flag's
or a variable's text becomes its value, and which commands take it. The flags and their
``--help``, the ``CHAINFSM_*`` names, the usage errors and docs/settings.md are all made from
it, so adding a field here adds it everywhere. ``python -m chainfsm.settings`` prints
docs/settings.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, NamedTuple

from chainfsm import logs
from chainfsm.core import chaining, discovery, numbers, taint_keys

#: The commands that read a conf dir and the chain made for it.
TARGET = ("render", "run", "explain")
RUN = ("run",)
ENV_PREFIX = "CHAINFSM_"
#: The values of ``--log-format``.
LOG_FORMATS = ("json", "text")
#: A switch's variable: unset or empty is off.
BOOLEANS = {
    "1": True,
    "true": True,
    "yes": True,
    "": False,
    "0": False,
    "false": False,
    "no": False,
}


# How a flag's or a variable's text becomes a value: the value, or ValueError with the reason
# in words that follow the flag's name ("--timeout: 'soon' is not a number above zero").


def _text(text: str) -> str:
    # An empty variable is a slip (a ConfigMap key left blank), never a value: as a glob it
    # would match nothing, and the agent would wait for a primary that never comes.
    if not text:
        raise ValueError("is empty")
    return text


def _dir(text: str) -> Path:
    # Path("") is ".": an empty variable must not quietly mean the working directory.
    return Path(_text(text))


def _file(text: str) -> Path:
    path = _dir(text)
    if not path.name:
        raise ValueError(f"{text!r} names a directory, not a file")
    return path


def _output_name(text: str) -> str:
    if "/" in text or text in (".", "..") or not text.endswith(".conflist"):
        raise ValueError(
            f"{text!r} must be a plain file name ending in .conflist (the chain is a list)"
        )
    return text


def _subject_dropped(reason: str, flag: str) -> str:
    """chaining's reasons name the flag themselves; the usage error names the source."""
    for prefix in (f"{flag}: ", f"{flag} "):
        if reason.startswith(prefix):
            return reason[len(prefix) :]
    return reason


def _plugin(text: str) -> dict[str, Any]:
    parsed = chaining.parse_plugin(text)
    if isinstance(parsed, str):
        raise ValueError(_subject_dropped(parsed, "--plugin"))
    return parsed


def _rewrites(text: str) -> tuple[chaining.Rewrite, ...]:
    parsed = chaining.parse_rewrites(text)
    if isinstance(parsed, str):
        raise ValueError(_subject_dropped(parsed, "--rewrite"))
    return parsed


def positive_int(text: str) -> int:
    """A whole number above zero, or ValueError saying so."""
    value = numbers.whole_number(text.strip())
    if not value:  # None or 0
        raise ValueError(f"{text!r} is not a whole number above zero")
    return value


def positive_float(text: str) -> float:
    """A number above zero (``inf`` included, as before: no end), or ValueError saying so."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:  # false for nan too
        raise ValueError(f"{text!r} is not a number above zero")
    return value


def _taint_key(text: str) -> str | None:
    # Empty is off, unlike other texts: the manifests ship the variable empty until the
    # operator names the taint the node pool was created with.
    if not text:
        return None
    if problem := taint_keys.key_problem(text):
        raise ValueError(problem)
    return text


def _node_name(text: str) -> str:
    if problem := taint_keys.node_name_problem(_text(text)):
        raise ValueError(problem)
    return text


def _listen(text: str) -> str:
    split_listen(text)
    return text


def _log_format(text: str) -> str:
    if text not in LOG_FORMATS:
        raise ValueError(f"{text!r} is not {' or '.join(LOG_FORMATS)}")
    return text


#: The values of ``--repair-unchained``.
REPAIR_MODES = ("off", "dry-run", "stop")


def _repair_mode(text: str) -> str:
    if text not in REPAIR_MODES:
        raise ValueError(f"{text!r} is not {', '.join(REPAIR_MODES[:-1])} or {REPAIR_MODES[-1]}")
    return text


def _namespaces(text: str) -> tuple[str, ...]:
    # Empty is a value here: no namespace excluded.
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    for name in names:
        if not name.replace("-", "").isalnum() or not name.islower() or len(name) > 63:
            raise ValueError(f"{name!r} is not a namespace name")
    return names


def boolean(text: str) -> bool:
    """A switch's variable: 1/0, true/false, yes/no (any case), or ValueError saying so."""
    value = BOOLEANS.get(text.strip().lower())
    if value is None:
        raise ValueError(f"{text!r} is not a boolean (use 1/0, true/false, yes/no)")
    return value


# Only, Spec and Setting are NamedTuples, not dataclasses: made at import, where each
# dataclass costs every start-up about a millisecond (benchmarks/ab.py --start).
class Only(NamedTuple):
    """The setting means something only while the switch ``other`` is ``on`` (``why`` not)."""

    other: str
    on: bool
    why: str


class Spec(NamedTuple):
    """A field's declaration: its meaning (Markdown, one paragraph) and its command-line face."""

    doc: str
    parse: Callable[[str], Any]
    commands: tuple[str, ...]
    flag: str | None = None
    """Default: the field's name as ``--kebab-case``."""
    metavar: str | None = None
    shown: str | None = None
    """The default in words, where its value alone does not say it."""
    fallback: Callable[[], Any] | None = None
    """Computes the default at start-up instead of the field's fixed one."""
    only: Only | None = None


def _setting(
    default: Any = MISSING,
    *,
    factory: Callable[[], Any] | Any = MISSING,
    doc: str,
    parse: Callable[[str], Any],
    commands: tuple[str, ...] = RUN,
    **kw: Any,
) -> Any:
    spec = Spec(" ".join(doc.split()), parse, commands, **kw)
    return field(default=default, default_factory=factory, metadata={"spec": spec})


@dataclass(frozen=True, slots=True)
class Settings:
    """What the agent watches, writes and serves. Each field's ``doc`` says what it means,
    its unit and why its default is what it is; its flag and variable come from its name."""

    net_dir: Path = _setting(
        Path("/etc/cni/net.d"),
        doc="The CNI conf dir the runtime reads (containerd's `conf_dir`).",
        parse=_dir,
        commands=TARGET,
        metavar="DIR",
    )
    output: str = _setting(
        "05-antrea.conflist",
        doc="""Our file's name in the conf dir. It must end in `.conflist` (the chain is a list)
        and must sort before the primary's name, or the runtime never reads it: `run` and
        `render` refuse one that sorts after an exact `--primary`, or after every name a
        `--primary` glob can match.""",
        parse=_output_name,
        commands=TARGET,
        metavar="NAME",
    )
    plugin: Mapping[str, Any] = _setting(
        factory=lambda: dict(chaining.DEFAULT_PLUGIN),
        doc="""The plugin appended to the primary's list: a JSON object with a plain `type`
        (by default Antrea, in networkPolicyOnly mode).""",
        parse=_plugin,
        commands=TARGET,
        metavar="JSON",
        shown='`{"type":"antrea"}`',
    )
    rewrites: tuple[chaining.Rewrite, ...] | None = _setting(
        None,
        doc="""Edits of the primary's plugins in our chained copy (never in the primary's
        file), as a JSON list of `{"type","key","from","to"}` objects; `[]` for none.""",
        parse=_rewrites,
        commands=TARGET,
        flag="--rewrite",
        metavar="JSON",
        shown="""with the antrea plugin, what Antrea's install-cni does on AKS (azure-vnet
        `mode` `bridge` becomes `transparent`); with any other plugin, none""",
    )
    primary: str | None = _setting(
        None,
        doc="The primary's exact name or a glob for it, e.g. `*-azure*.conflist`.",
        parse=_text,
        commands=TARGET,
        metavar="NAME",
        shown="the first config file not ours",
    )
    bin_dir: Path | None = _setting(
        None,
        doc="""The CNI bin dir (`/opt/cni/bin` on nodes). When set, every plugin `type` of the
        chain must be an executable there that supports the list's `cniVersion` (asked with
        `VERSION`, as libcni does; an IPAM `type` is never required): the agent is Verified
        only then and otherwise Failed (`binary_missing`) naming the binary, and `render` and
        `explain` name it too. The chain is written either way, so pods wait for a missing
        plugin instead of starting without it. A plugin that is a script for an interpreter
        the agent's own filesystem lacks (the image has no `/bin/sh`) cannot be asked: it is
        said (`binary_unchecked`), not refused.""",
        parse=_dir,
        commands=TARGET,
        metavar="DIR",
        shown="no check",
    )
    once: bool = _setting(
        False,
        doc="Exit 0 at the first Verified, 1 at Failed: the init-container mode.",
        parse=boolean,
    )
    timeout: float | None = _setting(
        None,
        doc="Seconds after which `--once` gives up, with exit 1.",
        parse=positive_float,
        metavar="SECONDS",
        shown="none (it waits as long as it takes)",
        only=Only("once", True, "without it the agent runs until it is stopped"),
    )
    keep_on_primary_loss: bool = _setting(
        False,
        doc="""Keep our output when the primary disappears. Off: a chain with no primary
        behind it would make the runtime report a network that AKS says is not ready.""",
        parse=boolean,
    )
    cleanup_on_exit: bool = _setting(
        False,
        doc="Remove our output when the agent stops (SIGTERM). Off: removing it makes the node"
        " NotReady.",
        parse=boolean,
        only=Only("once", False, "the chain an init container leaves stays for the node"),
    )
    retry_attempts: int = _setting(
        30,
        doc="""Validations of an invalid primary before Failed. The budget ends at this count
        or at `--retry-seconds`, whichever comes first.""",
        parse=positive_int,
        metavar="N",
    )
    retry_seconds: float = _setting(
        120.0,
        doc="Seconds of validating an invalid primary before Failed.",
        parse=positive_float,
        metavar="SECONDS",
    )
    backoff_initial: float = _setting(
        0.05,
        doc="""First retry delay in seconds; it doubles up to `--backoff-max`, with full
        jitter. A change in the conf dir cuts any delay short.""",
        parse=positive_float,
        metavar="SECONDS",
    )
    backoff_max: float = _setting(
        5.0,
        doc="""Longest retry delay in seconds, also the wait between retries out of Failed.
        Below `--backoff-initial`, it is raised to it.""",
        parse=positive_float,
        metavar="SECONDS",
    )
    revert_limit: int = _setting(
        5,
        doc="""Replacements of our output by another writer within `--revert-window` before
        the agent says so and backs off instead of fighting it.""",
        parse=positive_int,
        metavar="N",
        only=Only("once", False, "it exits at Verified, before any replacement is counted"),
    )
    revert_window: float = _setting(
        60.0,
        doc="""Seconds over which those replacements are counted, and how long the back-off
        lasts.""",
        parse=positive_float,
        metavar="SECONDS",
        only=Only("once", False, "it exits at Verified, before any replacement is counted"),
    )
    history: int = _setting(
        100,
        doc="""How many transitions the agent remembers for the state dump (a ring: the oldest
        go).""",
        parse=positive_int,
        metavar="N",
    )
    dump_file: Path = _setting(
        Path("/run/chainfsm/dump.json"),
        doc="""Where SIGUSR1 makes the agent write its state dump, as JSON (atomically; the dir
        is created if missing). The agent's pid goes beside it, in `<dump-file>.pid`, where
        `chainfsm dump` and `chainfsm status` find it.""",
        parse=_file,
        commands=("run", "dump", "status"),
        metavar="PATH",
    )
    listen: str | None = _setting(
        None,
        doc="""`HOST:PORT` (`[v6]:PORT` for IPv6, `:PORT` for every address of the host) for
        /healthz, /readyz and /metrics.""",
        parse=_listen,
        metavar="HOST:PORT",
        shown="no port",
    )
    metrics_listen: str | None = _setting(
        None,
        doc="""`HOST:PORT` for /metrics alone, for a cluster's Prometheus to scrape (the pod's
        IP, from the downward API). The probes stay on `--listen`, so a flood on this address
        cannot fail them.""",
        parse=_listen,
        metavar="HOST:PORT",
        shown="no port",
    )
    ready_file: Path | None = _setting(
        None,
        doc="A file present only while Verified, for exec readiness probes.",
        parse=_file,
        metavar="PATH",
        shown="none",
    )
    log_format: str = _setting(
        "json",
        doc="`json` (one object per line) or `text`.",
        parse=_log_format,
        metavar="{json,text}",
        shown="`json`, or `text` when stderr is a terminal",
        fallback=logs.default_format,
    )
    cri_socket: Path | None = _setting(
        None,
        doc="""The container runtime's CRI socket (`/run/containerd/containerd.sock` on AKS).
        When set, Verified also needs the runtime's own word: a verbose CRI `Status` with
        NetworkReady, read from `--net-dir` (so mount the host's conf dir at the same path),
        whose loaded config is our chain byte for byte (a runtime that does not say which
        config it loaded, such as CRI-O, is confirmed on NetworkReady alone). Otherwise, or
        when the runtime cannot be asked, the agent is Failed (`runtime_unconfirmed`) saying
        what the runtime loaded instead; the chain is written either way. `explain` shows the
        runtime's verdict beside its own.""",
        parse=_file,
        commands=("run", "explain"),
        metavar="PATH",
        shown="none: the runtime is not asked",
    )
    cri_confirm_seconds: float = _setting(
        10.0,
        doc="""With `--cri-socket`: seconds the runtime has to load the chain we wrote before
        the agent says it did not (it reloads by itself, in milliseconds; the agent asks
        again with a backoff from 5 ms to 0.5 s, and a stop cuts the wait short).""",
        parse=positive_float,
        metavar="SECONDS",
    )
    record_file: Path = _setting(
        Path("/run/chainfsm/node/record.json"),
        doc="""With `--cri-socket`: the record of when the runtime's loaded config was our
        chain, which tells the pods networked without it. It must outlive the container and
        not a reboot: a hostPath under `/run` (the `antrea-aks-runtime` component mounts the
        node's `/run/chainfsm` here). Written atomically, stamped with the boot id; a record
        from another boot is started afresh.""",
        parse=_file,
        commands=("run", "explain"),
        metavar="PATH",
    )
    sandbox_interval: float = _setting(
        30.0,
        doc="""With `--cri-socket`: seconds between passes over the runtime's pod sandboxes
        (list them, ask which config the runtime loaded, classify, repair). A transition of
        the agent starts a pass at once.""",
        parse=positive_float,
        metavar="SECONDS",
    )
    repair_unchained: str = _setting(
        "off",
        doc="""With `--cri-socket`: what to do with the pod sandboxes the record proves were
        networked without the chain. `off`: report them; `dry-run`: also log each one a stop
        would stop; `stop`: stop them (CRI `StopPodSandbox`), so the kubelet recreates each
        pod's sandbox through the chain (its containers restart). Never a host-network or
        `unknown` sandbox.""",
        parse=_repair_mode,
        metavar="{off,dry-run,stop}",
    )
    repair_max_per_minute: int = _setting(
        5,
        doc="`--repair-unchained stop` stops at most this many sandboxes in any minute.",
        parse=positive_int,
        metavar="N",
    )
    repair_exclude_namespaces: tuple[str, ...] = _setting(
        ("kube-system",),
        doc="""Comma-separated namespaces whose pods `--repair-unchained` never stops (they
        are still reported); empty for none.""",
        parse=_namespaces,
        metavar="NS,...",
        shown="`kube-system`",
    )
    untaint: str | None = _setting(
        None,
        doc="""Once the chain is Verified, remove every taint with this key from this node
        (`--node-name`), e.g. a start-up taint the node pool was created with, so no pod is
        scheduled before the chain is in place. Never adds one, and never again once removed;
        empty is off. The API is the pod's service account, or `--kubeconfig`.""",
        parse=_taint_key,
        metavar="KEY",
        shown="off",
        only=Only("once", False, "an init container exits at Verified; the agent lifts the taint"),
    )
    node_name: str | None = _setting(
        None,
        doc="""This node's name, for `--untaint` (the downward API's `spec.nodeName`).""",
        parse=_node_name,
        metavar="NAME",
        shown="none",
    )
    kubeconfig: Path | None = _setting(
        None,
        doc="""The kubeconfig for `--untaint`'s calls to the API. Without it, as kubectl:
        the files of `KUBECONFIG`, else the pod's service account, else `~/.kube/config`.""",
        parse=_file,
        metavar="PATH",
        shown="`KUBECONFIG`, else the service account",
    )
    poll_interval: float = _setting(
        1.0,
        doc="""Seconds between two polls of the conf dir and `--bin-dir` while inotify cannot be
        armed (the uid's `fs.inotify.max_user_instances` or `max_user_watches` used up: a
        `watch_degraded` line names which). The agent then keeps the chain right by polling,
        at most this late, and tries inotify again every 30 polls.""",
        parse=positive_float,
        metavar="SECONDS",
    )


class Setting(NamedTuple):
    """One field of ``Settings`` as the command line, the environment and the docs see it."""

    name: str
    flag: str
    env: str
    default: Any
    spec: Spec

    @property
    def dest(self) -> str:
        """The attribute of parsed arguments that holds it (the flag's name)."""
        return self.flag[2:].replace("-", "_")

    @property
    def switch(self) -> bool:
        return self.spec.parse is boolean

    def shown_default(self) -> str:
        """The default as the docs and ``--help`` say it (Markdown)."""
        if self.spec.shown is not None:
            return " ".join(self.spec.shown.split())
        if isinstance(self.default, bool):
            return "on" if self.default else "off"
        if isinstance(self.default, float):
            return f"{self.default:g}"
        return f"`{self.default}`" if isinstance(self.default, Path | str) else str(self.default)

    def meaning(self) -> str:
        """What it means, and the mode it needs (Markdown)."""
        only = self.spec.only
        if only is None:
            return self.spec.doc
        other = by_name(only.other).flag
        said = f"Only with `{other}`" if only.on else f"Not with `{other}`"
        return f"{self.spec.doc} {said}: {only.why}."


def _declared() -> tuple[Setting, ...]:
    found = []
    for each in fields(Settings):
        spec = each.metadata.get("spec")
        if not isinstance(spec, Spec):
            raise TypeError(f"Settings.{each.name} has no Spec: declare it with _setting()")
        flag = spec.flag or "--" + each.name.replace("_", "-")
        default = each.default if each.default_factory is MISSING else each.default_factory()
        env = ENV_PREFIX + flag[2:].replace("-", "_").upper()
        found.append(Setting(each.name, flag, env, default, spec))
    return tuple(found)


#: Every setting, in the order of the fields.
SETTINGS = _declared()
_BY_NAME = {setting.name: setting for setting in SETTINGS}


def by_name(name: str) -> Setting:
    return _BY_NAME[name]


def taken_by(command: str) -> tuple[Setting, ...]:
    """The settings ``command`` takes, in declaration order."""
    return tuple(setting for setting in SETTINGS if command in setting.spec.commands)


class SettingError(ValueError):
    """A refused setting, in one line: the flag or variable it came from, and why."""


def resolve(command: str, flags: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """The values of the settings ``command`` takes, by field name: the flag's text (in
    ``flags`` by field name; None or absent when not given, True for a given switch), else
    the ``CHAINFSM_*`` variable's, else the default. SettingError for a value that does not
    parse, or for a setting given in a mode where it means nothing. Pure."""
    values: dict[str, Any] = {}
    given: dict[str, str] = {}  # field name: the flag or variable that set it
    for setting in taken_by(command):
        flag = flags.get(setting.name)
        if flag is not None:
            source, text = setting.flag, flag
        elif setting.env in environ:
            source, text = setting.env, environ[setting.env]
        else:
            fallback = setting.spec.fallback
            values[setting.name] = setting.default if fallback is None else fallback()
            continue
        if text is True:  # a switch's flag
            values[setting.name] = True
        else:
            try:
                values[setting.name] = setting.spec.parse(text)
            except ValueError as err:
                raise SettingError(f"{source}: {err}") from None
        if values[setting.name] is not False and values[setting.name] is not None:
            given[setting.name] = source
    for name, source in given.items():
        only = by_name(name).spec.only
        if only is None or only.other not in values or values[only.other] is only.on:
            continue
        other = by_name(only.other)
        if only.on:
            raise SettingError(f"{source}: needs {other.flag} or {other.env}=1 ({only.why})")
        said = given.get(only.other, other.flag)
        raise SettingError(f"{source}: means nothing with {said} ({only.why})")
    if command in ("run", "render") and values.get("primary") is not None:
        _check_order(values["output"], values["primary"], given)
    if values.get("untaint") and not values.get("node_name"):
        source = given["untaint"]
        raise SettingError(
            f"{source}: needs --node-name or CHAINFSM_NODE_NAME (the node to untaint; in a pod,"
            " spec.nodeName from the downward API)"
        )
    if "backoff_max" in values:
        values["backoff_max"] = max(values["backoff_max"], values["backoff_initial"])
    return values


def _check_order(output: str, pattern: str, given: Mapping[str, str]) -> None:
    """SettingError when every file ``pattern`` can match sorts before ``output``: the runtime
    would load the primary and never read the chain. Known here only for an exact --primary
    or a glob whose literal start decides the order; the agent's verification catches the
    rest."""
    source = given.get("output") or given.get("primary") or "--output"
    if pattern == output:
        raise SettingError(
            f"{source}: --primary and --output are both {output!r}: the primary"
            " is never our own output"
        )
    if discovery.output_first(output, pattern) is not False:
        return
    ours = f"{output!r}" if source in (given.get("output"), "--output") else f"--output {output!r}"
    if any(c in pattern for c in "*?["):
        fact = f"{ours} sorts after every name --primary {pattern!r} can match"
    else:
        fact = f"{ours} sorts after the primary {pattern!r}"
    raise SettingError(f"{source}: {fact}; {discovery.sorts_after_primary(output, pattern)}")


def help_text(setting: Setting) -> str:
    """The flag's ``--help`` line: its meaning, its variable and its default, as plain text."""
    plain = f"{setting.meaning()} (env {setting.env}; default: {setting.shown_default()})"
    return plain.replace("`", "").replace("%", "%%")  # argparse formats help with %


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown() -> str:
    """docs/settings.md: every setting, its flag, variable, default, commands and meaning."""
    rows = [
        f"| `{s.flag}` | `{s.env}` | {_cell(s.shown_default())} |"
        f" {', '.join(s.spec.commands)} | {_cell(s.meaning())} |"
        for s in SETTINGS
    ]
    return "\n".join(
        [
            "# Settings",
            "",
            "<!-- Generated from chainfsm/settings.py by `python -m chainfsm.settings >"
            " docs/settings.md`; edit the declaration there, not this file. -->",
            "",
            "Every setting is a flag and a `CHAINFSM_*` environment variable (the container"
            " convention); a flag wins over its variable, and a variable over the default."
            " Switches take no value as flags; as variables they take `1`/`0`, `true`/`false`"
            " or `yes`/`no`. `chainfsm COMMAND --help` lists the settings of each command.",
            "",
            "A bad value, or a setting given in a mode where it means nothing, is a usage"
            " error: one line naming the flag or the variable and why, and exit 2, e.g."
            " `chainfsm run: --timeout: needs --once or CHAINFSM_ONCE=1 (without it the agent"
            " runs until it is stopped)`.",
            "",
            "| flag | env | default | commands | meaning |",
            "|---|---|---|---|---|",
            *rows,
            "",
        ]
    )


def split_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6) as a host and a port, or ValueError. Pure.

    ``:PORT`` is every address of the host (the host ``""``), as Go's listeners read it."""
    host, sep, digits = text.rpartition(":")
    port = numbers.whole_number(digits)
    if not sep or port is None or port > 65535:
        raise ValueError(
            f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:10365, [::1]:10365, or :10365 for every"
            " address)"
        )
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, port


if __name__ == "__main__":
    print(markdown(), end="")
