"""The command line: flags and ``CHAINFSM_*`` environment variables to settings, and the
subcommands. Exit codes: 0 success, 1 the thing asked for is not so, 2 usage errors."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from chainfsm import (
    __version__,
    chaining,
    discovery,
    logs,
    planning,
    printing,
    reading,
    validation,
)
from chainfsm.settings import Settings, split_listen

DEFAULTS = Settings()


def _env(flag: str) -> str:
    return "CHAINFSM_" + flag.lstrip("-").replace("-", "_").upper()


def _option(
    parser: argparse.ArgumentParser, flag: str, default: str | None, help: str, **kw: Any
) -> None:
    """A flag whose default comes from its environment variable (the container convention).

    argparse runs ``type`` over string defaults too, so a bad variable is a usage error.
    """
    env = _env(flag)
    shown = f" (env {env}; default: {default})" if default is not None else f" (env {env})"
    parser.add_argument(flag, default=os.environ.get(env, default), help=help + shown, **kw)


def _switch(parser: argparse.ArgumentParser, flag: str, help: str) -> None:
    env = _env(flag)
    raw = os.environ.get(env, "").strip().lower()
    if raw not in ("", "0", "1", "true", "false", "yes", "no"):
        parser.error(f"{env}={raw!r} is not a boolean (use 1/0, true/false, yes/no)")
    parser.add_argument(
        flag, action="store_true", default=raw in ("1", "true", "yes"), help=f"{help} (env {env})"
    )


def _plugin(text: str) -> dict[str, Any]:
    parsed = chaining.parse_plugin(text)
    if isinstance(parsed, str):
        raise argparse.ArgumentTypeError(parsed)
    return parsed


def _rewrites(text: str) -> tuple[chaining.Rewrite, ...]:
    parsed = chaining.parse_rewrites(text)
    if isinstance(parsed, str):
        raise argparse.ArgumentTypeError(parsed)
    return parsed


def _output_name(text: str) -> str:
    if "/" in text or text in (".", "..") or not text.endswith(".conflist"):
        raise argparse.ArgumentTypeError(
            f"{text!r} must be a plain file name ending in .conflist (the chain is a list)"
        )
    return text


def _listen(text: str) -> str:
    try:
        split_listen(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err
    return text


def _positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text} is not above zero")
        return value

    parse.__name__ = kind.__name__
    return parse


def _add_target_options(parser: argparse.ArgumentParser) -> None:
    _option(parser, "--net-dir", str(DEFAULTS.net_dir), "the CNI conf dir", type=Path)
    _option(parser, "--output", DEFAULTS.output, "our file's name", type=_output_name)
    _option(
        parser,
        "--plugin",
        '{"type":"antrea"}',
        "the plugin appended to the primary's list, as a JSON object",
        type=_plugin,
    )
    _option(
        parser,
        "--rewrite",
        None,
        "edits of the primary's plugins in the chained copy, as a JSON list of"
        ' {"type","key","from","to"}; \'[]\' for none. Unset: with the antrea plugin, what'
        " Antrea's install-cni does on AKS (azure-vnet mode bridge -> transparent), else none",
        type=_rewrites,
    )
    _option(
        parser,
        "--primary",
        None,
        "exact name or glob of the primary (default: first config file not ours)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chainfsm",
        description="Chain a CNI plugin after the node's primary CNI config, safely.",
    )
    parser.add_argument("--version", action="version", version=f"chainfsm {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = commands.add_parser(
        "validate", help="check config files by the runtime's rules (exit 1 if any is invalid)"
    )
    check.add_argument("files", nargs="+", type=Path, metavar="FILE")

    render = commands.add_parser(
        "render",
        help="print the chained config that would be written for the dir as it is",
        description="Print the chained config. With --bin-dir, also check its plugin binaries"
        " as the agent does: a missing or incompatible one is named on stderr and the exit code"
        " is 1 (the config is printed all the same, as the agent writes it all the same).",
    )
    _add_target_options(render)
    _add_bin_dir(render, "check the chain's plugin binaries there, as the agent does")

    run = commands.add_parser(
        "run",
        help="the agent: chain the primary and keep the chain right (container entrypoint)",
        description="Watch the conf dir, chain the primary, verify what the runtime will load,"
        " and keep it right. Exit codes: 0 Verified (--once) or stopped by SIGTERM/SIGINT;"
        " 1 Failed (--once), --timeout reached, or the conf dir's watch was lost; 2 usage.",
    )
    _add_target_options(run)
    _add_agent_options(run)

    explain = commands.add_parser(
        "explain",
        help="say why the runtime will or will not run our chain (exit 0 only when it will)",
    )
    _add_target_options(explain)
    _add_bin_dir(explain, "the CNI bin dir to check for plugin binaries (e.g. /opt/cni/bin)")
    explain.add_argument("--json", action="store_true", help="one JSON document, for machines")

    dump = commands.add_parser(
        "dump", help="ask the running agent for its state dump (SIGUSR1) and print it"
    )
    _option(dump, "--dump-file", str(DEFAULTS.dump_file), "where the agent writes it", type=Path)
    dump.add_argument(
        "--pid",
        type=_positive(int),
        help="the agent's pid (default: from <dump-file>.pid, which the agent writes)",
    )
    dump.add_argument(
        "--diagram", action="store_true", help="add the state diagram, current state highlighted"
    )
    dump.add_argument(
        "--timeout", type=_positive(float), default=10.0, help="seconds to wait (default: 10)"
    )

    draw = commands.add_parser(
        "diagram", help="draw the state machine from the table the agent runs"
    )
    draw.add_argument("--format", choices=("mermaid", "dot", "svg", "png"), default="mermaid")
    draw.add_argument("--output", type=Path, help="write to this file (default: stdout)")

    demo = commands.add_parser(
        "demo", help="play the AKS start-up race against the agent in a temp dir, and show it"
    )
    demo.add_argument("--log-format", choices=("json", "text"), default="text")
    return parser


def _add_bin_dir(parser: argparse.ArgumentParser, help: str) -> None:
    _option(parser, "--bin-dir", None, help, type=Path)


def _add_agent_options(parser: argparse.ArgumentParser) -> None:
    _switch(parser, "--once", "exit 0 when Verified, 1 when Failed (init containers)")
    _option(
        parser,
        "--timeout",
        None,
        "with --once: seconds after which to give up with exit 1",
        type=_positive(float),
    )
    _add_bin_dir(
        parser,
        "the CNI bin dir (/opt/cni/bin on nodes): Verified only while every plugin of the chain"
        " is there and supports the list's cniVersion; the chain is written either way, so pods"
        " wait for a missing plugin instead of starting without it (default: no check)",
    )
    _switch(parser, "--keep-on-primary-loss", "keep our output when the primary disappears")
    _switch(parser, "--cleanup-on-exit", "remove our output on SIGTERM (makes the node NotReady)")
    _option(
        parser,
        "--log-format",
        None,
        "json or text (default: json unless stderr is a terminal)",
        choices=("json", "text"),
    )
    d = DEFAULTS
    _option(
        parser,
        "--history",
        str(d.history),
        "transitions remembered for the state dump",
        type=_positive(int),
    )
    _option(
        parser,
        "--dump-file",
        str(d.dump_file),
        "where SIGUSR1 writes the state dump (JSON)",
        type=Path,
    )
    _option(
        parser,
        "--listen",
        None,
        "HOST:PORT for /healthz, /readyz and /metrics (default: no port)",
        type=_listen,
    )
    _option(
        parser,
        "--metrics-listen",
        None,
        "HOST:PORT for /metrics alone, for a cluster's Prometheus (default: no port)",
        type=_listen,
    )
    _option(parser, "--ready-file", None, "a file present only while Verified", type=Path)
    _option(
        parser,
        "--retry-attempts",
        str(d.retry_attempts),
        "validations of an invalid primary before Failed",
        type=_positive(int),
    )
    _option(
        parser,
        "--retry-seconds",
        str(d.retry_seconds),
        "seconds of validating an invalid primary before Failed",
        type=_positive(float),
    )
    _option(
        parser,
        "--backoff-initial",
        str(d.backoff_initial),
        "first retry delay, seconds",
        type=_positive(float),
    )
    _option(
        parser,
        "--backoff-max",
        str(d.backoff_max),
        "longest retry delay, seconds",
        type=_positive(float),
    )
    _option(
        parser,
        "--revert-limit",
        str(d.revert_limit),
        "replacements of our output by another writer within --revert-window before backing off",
        type=_positive(int),
    )
    _option(
        parser,
        "--revert-window",
        str(d.revert_window),
        "seconds over which those replacements count, and how long the back-off lasts",
        type=_positive(float),
    )


def settings_from(args: argparse.Namespace) -> Settings:
    """The agent's settings from parsed ``run`` arguments."""
    return Settings(
        net_dir=args.net_dir,
        output=args.output,
        plugin=args.plugin,
        rewrites=args.rewrite,
        primary=args.primary,
        bin_dir=args.bin_dir,
        once=args.once,
        timeout=args.timeout,
        keep_on_primary_loss=args.keep_on_primary_loss,
        cleanup_on_exit=args.cleanup_on_exit,
        retry_attempts=args.retry_attempts,
        retry_seconds=args.retry_seconds,
        backoff_initial=args.backoff_initial,
        backoff_max=max(args.backoff_max, args.backoff_initial),
        revert_limit=args.revert_limit,
        revert_window=args.revert_window,
        history=args.history,
        dump_file=args.dump_file,
        listen=args.listen,
        metrics_listen=args.metrics_listen,
        ready_file=args.ready_file,
        log_format=args.log_format or logs.default_format(),
    )


def _validate(files: Sequence[Path]) -> int:
    failed = False
    for path in files:
        verdict = validation.verdict(path.name, reading.read_sync(path.parent, path.name))
        shown = validation.printable(str(path))
        if isinstance(verdict, validation.Refusal):
            failed = True
            printing.out(f"{shown}: invalid: {verdict.detail} [rule: {verdict.rule}]\n")
        else:
            printing.out(f"{shown}: valid: {verdict.summary}\n")
    return 1 if failed else 0


def _render(args: argparse.Namespace) -> int:
    net_dir: Path = args.net_dir
    try:
        names = reading.list_names(net_dir)
    except OSError as err:
        print(f"chainfsm: cannot list {net_dir}: {err.strerror}", file=sys.stderr)
        return 1
    primary = discovery.find_primary(names, args.output, args.primary)
    if primary is None:
        which = f" matching {args.primary!r}" if args.primary else ""
        print(f"chainfsm: no primary config{which} in {net_dir}", file=sys.stderr)
        return 1
    data = reading.read_sync(net_dir, primary)
    plan = planning.plan(primary, data, args.plugin, args.output, args.rewrite)
    if isinstance(plan, validation.Refusal):
        print(f"chainfsm: no valid primary: {plan}", file=sys.stderr)
        return 1
    sys.stdout.buffer.write(plan.rendered)
    if args.bin_dir is None:
        return 0
    from chainfsm import binaries

    problems = binaries.check_chain_now(args.bin_dir, primary, json.loads(plan.rendered))
    for problem in problems:
        print(f"chainfsm: {problem}: pods cannot start until it is installed", file=sys.stderr)
    return 1 if problems else 0


def _explain(args: argparse.Namespace) -> int:
    from chainfsm import explaining

    try:
        report = explaining.look(
            args.net_dir, args.output, args.plugin, args.primary, args.bin_dir, args.rewrite
        )
    except OSError as err:
        print(f"chainfsm: cannot list {args.net_dir}: {err.strerror}", file=sys.stderr)
        return 1
    if args.json:
        printing.out(json.dumps(report.as_json(), indent=2, ensure_ascii=False) + "\n")
    else:
        printing.out(explaining.text(report))
    return 0 if report.effective else 1


def _diagram(fmt: str, output: Path | None) -> int:
    from chainfsm import diagram

    try:
        data = diagram.render(fmt)
    except diagram.DiagramError as err:
        print(f"chainfsm: {err}", file=sys.stderr)
        return 1
    if output is None:
        sys.stdout.buffer.write(data)
    else:
        output.write_bytes(data)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "validate":
        return _validate(args.files)
    if args.command == "render":
        return _render(args)
    if args.command == "run":
        from chainfsm import running

        settings = settings_from(args)
        logs.configure(settings.log_format, defer=True)
        return running.main(settings)
    if args.command == "explain":
        return _explain(args)
    if args.command == "dump":
        from chainfsm import asking

        return asking.main(args.pid, args.dump_file, args.diagram, args.timeout)
    if args.command == "diagram":
        return _diagram(args.format, args.output)
    if args.command == "demo":
        from chainfsm import demo

        return demo.main(args.log_format)
    raise AssertionError(f"unhandled command {args.command}")
