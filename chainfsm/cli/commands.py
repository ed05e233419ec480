"""The command line: flags and ``CHAINFSM_*`` environment variables to settings, and the
subcommands. Exit codes: 0 success, 1 the thing asked for is not so, 2 usage errors."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar, overload

from chainfsm import __version__, logs, settings
from chainfsm.cli import output
from chainfsm.core import discovery, planning, validation, verification
from chainfsm.edge import reading
from chainfsm.settings import Settings

_N = TypeVar("_N")


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line, ``PROG: WHAT: WHY``, and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, validation.printable(f"{self.prog}: {_reason(message)}") + "\n")


def _reason(message: str) -> str:
    """argparse's message as ``WHAT: WHY``, the thing named first."""
    if found := re.fullmatch(r"argument (\S+): (.*)", message, re.S):
        return f"{found[1].split('/')[-1]}: {found[2]}"
    if found := re.fullmatch(r"the following arguments are required: (.*)", message, re.S):
        return f"{found[1]}: missing"
    if found := re.fullmatch(r"ambiguous option: (\S+) could match (.*)", message, re.S):
        return f"{found[1]}: ambiguous: could be {found[2]}"
    return message


class _Root(_Parser):
    """The ``chainfsm`` parser. After argparse: words no command takes, a missing command,
    and the settings (flag, else variable, else default) of the command given."""

    commands: dict[str, _Parser]

    @overload
    def parse_args(
        self, args: Iterable[str] | None = None, namespace: None = None
    ) -> argparse.Namespace: ...
    @overload
    def parse_args(self, args: Iterable[str] | None, namespace: _N) -> _N: ...
    @overload
    def parse_args(self, *, namespace: _N) -> _N: ...

    def parse_args(self, args: Iterable[str] | None = None, namespace: Any = None) -> Any:
        parsed, extras = self.parse_known_args(args, namespace)
        command: str | None = parsed.command
        where = self.commands[command] if command else self
        if extras := [word for word in extras if word != "--"]:  # "--" ends flags; no word
            kind = "unknown flag" if extras[0].startswith("-") else "unexpected argument"
            where.error(f"{extras[0]}: {kind} (see {where.prog} --help)")
        if command is None:
            self.error(f"COMMAND: missing: one of {', '.join(self.commands)} (see chainfsm --help)")
        taken = settings.taken_by(command)
        try:
            values = settings.resolve(
                command, {s.name: getattr(parsed, s.dest) for s in taken}, os.environ
            )
        except settings.SettingError as err:
            where.error(str(err))
        for setting in taken:
            setattr(parsed, setting.dest, values[setting.name])
        return parsed


def _add_settings(parser: argparse.ArgumentParser, command: str) -> None:
    """The flags of ``command``'s settings. They hold the flag's text (None when not given);
    ``_Root.parse_args`` turns them into values."""
    for setting in settings.taken_by(command):
        if setting.switch:
            parser.add_argument(
                setting.flag, action="store_true", default=None, help=settings.help_text(setting)
            )
        else:
            parser.add_argument(
                setting.flag, metavar=setting.spec.metavar, help=settings.help_text(setting)
            )


def _argument(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """A command's own argument parsed as a setting is, its reason kept."""

    def argument(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    return argument


def build_parser() -> _Root:
    parser = _Root(
        prog="chainfsm",
        description="Chain a CNI plugin after the node's primary CNI config, safely."
        " Every setting is a flag and a CHAINFSM_* environment variable; `chainfsm COMMAND"
        " --help` lists a command's."
        " Exit codes: 0 yes or success, 1 the thing asked for is not so, 2 a usage error.",
    )
    parser.add_argument("--version", action="version", version=f"chainfsm {__version__}")
    subparsers = parser.add_subparsers(
        dest="command",
        metavar="COMMAND",
        parser_class=_Parser,
        help="what to do; `chainfsm COMMAND --help` tells more",
    )
    commands: dict[str, _Parser] = {}

    def command(name: str, help: str, description: str | None = None) -> _Parser:
        made: _Parser = subparsers.add_parser(name, help=help, description=description or help)
        commands[name] = made
        _add_settings(made, name)
        return made

    check = command(
        "validate", "check config files by the runtime's rules (exit 1 if any is invalid)"
    )
    check.add_argument(
        "files", nargs="+", type=Path, metavar="FILE", help="a CNI config file to check"
    )

    command(
        "render",
        "print the chained config that would be written for the dir as it is",
        "Print the chained config. When the runtime would not load it (another file sorts"
        " first, the primary included), say so on stderr as the agent would and exit 1. With"
        " --bin-dir, also check its plugin binaries as the agent does: a missing or"
        " incompatible one is named on stderr and the exit code is 1 (the config is printed all"
        " the same, as the agent writes it all the same).",
    )
    command(
        "run",
        "the agent: chain the primary and keep the chain right (container entrypoint)",
        "Watch the conf dir, chain the primary, verify what the runtime will load,"
        " and keep it right. Exit codes: 0 Verified (--once) or stopped by SIGTERM/SIGINT;"
        " 1 Failed (--once), --timeout reached, or the conf dir's watch was lost; 2 usage.",
    )
    explain = command(
        "explain", "say why the runtime will or will not run our chain (exit 0 only when it will)"
    )
    explain.add_argument("--json", action="store_true", help="one JSON document, for machines")

    dump = command("dump", "ask the running agent for its state dump (SIGUSR1) and print it")
    dump.add_argument(
        "--pid",
        type=_argument(settings.positive_int),
        help="the agent's pid (default: from <dump-file>.pid, which the agent writes)",
    )
    dump.add_argument(
        "--diagram", action="store_true", help="add the state diagram, current state highlighted"
    )
    dump.add_argument(
        "--timeout",
        type=_argument(settings.positive_float),
        default=10.0,
        metavar="SECONDS",
        help="seconds to wait for the dump (default: 10)",
    )

    draw = command("diagram", "draw the state machine from the table the agent runs")
    draw.add_argument(
        "--format",
        choices=("mermaid", "dot", "svg", "png"),
        default="mermaid",
        help="mermaid text, graphviz dot source, or a picture (svg and png need graphviz's"
        " dot program) (default: mermaid)",
    )
    draw.add_argument("--output", type=Path, help="write to this file (default: stdout)")

    demo = command(
        "demo", "play the AKS start-up race against the agent in a temp dir, and show it"
    )
    demo.add_argument(
        "--log-format",
        choices=settings.LOG_FORMATS,
        default="text",
        help="how the agent's lines are shown (default: text)",
    )
    parser.commands = commands
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    """The agent's settings from parsed ``run`` arguments."""
    return Settings(**{s.name: getattr(args, s.dest) for s in settings.taken_by("run")})


def _validate(files: Sequence[Path]) -> int:
    failed = False
    for path in files:
        verdict = validation.verdict(path.name, reading.read_sync(path.parent, path.name))
        shown = validation.printable(str(path))
        if isinstance(verdict, validation.Refusal):
            failed = True
            output.out(f"{shown}: invalid: {verdict.detail} [rule: {verdict.rule}]\n")
        else:
            output.out(f"{shown}: valid: {verdict.summary}\n")
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
        present = discovery.primary_candidates(names, args.output)
        said = discovery.no_primary(args.primary, net_dir, present)
        print(f"chainfsm: {validation.printable(said)}", file=sys.stderr)
        return 1
    data = reading.read_sync(net_dir, primary)
    plan = planning.plan(primary, data, args.plugin, args.output, args.rewrite)
    if isinstance(plan, validation.Refusal):
        print(f"chainfsm: no valid primary: {plan}", file=sys.stderr)
        return 1
    sys.stdout.buffer.write(plan.rendered)
    unread = _unread(net_dir, names, args.output, plan)
    if unread is not None:
        print(f"chainfsm: {validation.printable(unread)}", file=sys.stderr)
    if args.bin_dir is None:
        return 0 if unread is None else 1
    from chainfsm.edge import binaries

    found = binaries.check_chain_now(args.bin_dir, primary, json.loads(plan.rendered))
    problems = found.problems
    for problem in problems:
        print(f"chainfsm: {problem}: pods cannot start until it is installed", file=sys.stderr)
    for note in found.unchecked:
        why = "docs/design.md#where-the-binary-check-runs"
        print(f"chainfsm: warning: {note} (Verified all the same: {why})", file=sys.stderr)
    return 1 if problems or unread is not None else 0


def _unread(net_dir: Path, names: list[str], output: str, plan: planning.Plan) -> str | None:
    """What the agent would say after writing ``plan``: why the runtime would not load it
    (another file sorts first, the primary itself included), with its advice; None when it
    would."""
    names = names if output in names else [*names, output]
    first = discovery.runtime_order(names)[0]
    contents: dict[str, reading.Read] = {output: plan.rendered}
    if first != output:
        contents[first] = reading.read_sync(net_dir, first)
    check = verification.verify(names, contents, output, plan.expected_plugins)
    return None if check.effective else verification.advice(check, output, plan.primary)


def _explain(args: argparse.Namespace) -> int:
    from chainfsm.cli import explanation

    try:
        report = explanation.look(
            args.net_dir, args.output, args.plugin, args.primary, args.bin_dir, args.rewrite
        )
    except OSError as err:
        print(f"chainfsm: cannot list {args.net_dir}: {err.strerror}", file=sys.stderr)
        return 1
    if args.json:
        output.out(json.dumps(report.as_json(), indent=2, ensure_ascii=False) + "\n")
    else:
        output.out(explanation.text(report))
    return 0 if report.effective else 1


def _diagram(fmt: str, output: Path | None) -> int:
    from chainfsm.cli import diagram

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
        from chainfsm.process import lifecycle

        chosen = settings_from(args)
        logs.configure(chosen.log_format, defer=True)
        return lifecycle.main(chosen)
    if args.command == "explain":
        return _explain(args)
    if args.command == "dump":
        from chainfsm.cli import dump_command

        return dump_command.main(args.pid, args.dump_file, args.diagram, args.timeout)
    if args.command == "diagram":
        return _diagram(args.format, args.output)
    if args.command == "demo":
        from chainfsm.cli import demo

        return demo.main(args.log_format)
    raise AssertionError(f"unhandled command {args.command}")
