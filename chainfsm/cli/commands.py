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
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, overload

from chainfsm import __version__, settings
from chainfsm.cli import entry, json_output, output
from chainfsm.core import discovery, escaping, planning, plugin_problems, validation, verification
from chainfsm.edge import reading
from chainfsm.settings import Settings

if TYPE_CHECKING:
    from chainfsm.cli import sandbox_explanation
    from chainfsm.core.confirmation import Confirmation

_N = TypeVar("_N")


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line, ``PROG: WHAT: WHY``, and exit 2; when machine
    output was asked for, also the failure object on stdout."""

    json_errors = False

    def error(self, message: str) -> NoReturn:
        reason = _reason(message)
        if self.json_errors:
            command = self.prog.split()[1] if " " in self.prog else None
            json_output.document(json_output.error(command, reason, 2))
        self.exit(2, escaping.one_line(f"{self.prog}: {reason}") + "\n")

    def _get_values(self, action: argparse.Action, arg_strings: list[str]) -> Any:
        # Before Python 3.13 argparse drops the value of ``--flag=--`` as if it ended the
        # flags, and hands the flag [] instead of "--": every parser of a value crashed on it.
        if action.option_strings and action.nargs is None and arg_strings == ["--"]:
            value = self._get_value(action, "--")
            self._check_value(action, value)
            return value
        return super()._get_values(action, arg_strings)


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
        # Which settings neither a flag nor a variable gave: ``dump --pid`` takes the agent's.
        parsed.defaulted = frozenset(
            s.name for s in taken if getattr(parsed, s.dest) is None and s.env not in os.environ
        )
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


#: What ``chainfsm diagram --format`` draws (``cli.diagram`` is imported only to draw one).
DIAGRAM_FORMATS = ("mermaid", "dot", "svg", "png")

JSON_HELP = (
    "print one JSON document on stdout, a failure too (its error and exit code in an object;"
    " docs/operations.md, Machine output)"
)


def build_parser(json_errors: bool = False) -> _Root:
    """The parser; ``json_errors``: a usage error is also printed as a JSON document."""
    parser = _Root(
        prog="chainfsm",
        description="Chain a CNI plugin after the node's primary CNI config, safely."
        " Every setting is a flag and a CHAINFSM_* environment variable; `chainfsm COMMAND"
        " --help` lists a command's."
        " Exit codes: 0 yes or success, 1 the thing asked for is not so, 2 a usage error."
        " With --json (every command that prints data; dump always) stdout is one JSON"
        " document, a failure too.",
    )
    parser.json_errors = json_errors
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
        made.json_errors = json_errors
        commands[name] = made
        _add_settings(made, name)
        return made

    check = command(
        "validate", "check config files by the runtime's rules (exit 1 if any is invalid)"
    )
    check.add_argument(
        "files", nargs="+", type=Path, metavar="FILE", help="a CNI config file to check"
    )
    check.add_argument("--json", action="store_true", help=JSON_HELP)

    render = command(
        "render",
        "print the chained config that would be written for the dir as it is",
        "Print the chained config. When the runtime would not load it (another file sorts"
        " first, the primary included), say so on stderr as the agent would and exit 1. With"
        " --bin-dir, also check its plugin binaries as the agent does: a missing or"
        " incompatible one is named on stderr and the exit code is 1 (the config is printed all"
        " the same, as the agent writes it all the same).",
    )
    render.add_argument(
        "--json",
        action="store_true",
        help=JSON_HELP + '; the config is its "config", beside "primary" and "missing_binaries"',
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
    explain.add_argument("--json", action="store_true", help=JSON_HELP)

    dump = command(
        "dump",
        "ask the running agent for its state dump (SIGUSR1) and print it",
        "Ask the running agent for its state dump (SIGUSR1) and print it: one JSON document"
        " on stdout, a failure too (an object with its error and exit code).",
    )
    _agent_flags(dump)
    dump.add_argument(
        "--diagram",
        action="store_true",
        help="add the state diagram (mermaid text, the current state highlighted) as the"
        ' dump\'s "diagram" field',
    )
    dump.add_argument(
        "--json", action="store_true", help="accepted for uniformity: the dump is always JSON"
    )

    status = command(
        "status",
        "one line from the running agent: its state, since when, and why (exit 0 only when"
        " Verified)",
        "One line from the running agent (its state dump, as `chainfsm dump` asks for it):"
        " the state, since when, and why. Exit 0 only when Verified; 1 when not, or when no"
        " agent answers.",
    )
    _agent_flags(status)
    status.add_argument("--json", action="store_true", help=JSON_HELP)

    draw = command("diagram", "draw the state machine from the table the agent runs")
    draw.add_argument(
        "--format",
        choices=DIAGRAM_FORMATS,
        default="mermaid",
        help="mermaid text; graphviz dot source (needs the diagrams extra: pip install"
        " 'chainfsm[diagrams]'); or a picture, svg or png (the diagrams extra and graphviz's"
        " dot program) (default: mermaid)",
    )
    draw.add_argument("--output", type=Path, help="write to this file (default: stdout)")
    draw.add_argument(
        "--json",
        action="store_true",
        help=JSON_HELP + '; the text is its "diagram" (with --output, the file\'s name is'
        ' its "output"); not with png',
    )

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


def _agent_flags(parser: argparse.ArgumentParser) -> None:
    """How ``dump`` and ``status`` find the running agent."""
    parser.add_argument(
        "--pid",
        type=_argument(settings.positive_int),
        help="the agent's pid (default: from <dump-file>.pid, which the agent writes); the"
        " dump file is then the one that agent runs with, unless given",
    )
    parser.add_argument(
        "--timeout",
        type=_argument(settings.positive_float),
        default=10.0,
        metavar="SECONDS",
        help="seconds to wait for the dump (default: 10)",
    )


def settings_from(args: argparse.Namespace) -> Settings:
    """The agent's settings from parsed ``run`` arguments."""
    return Settings(**{s.name: getattr(args, s.dest) for s in settings.taken_by("run")})


def _validate(files: Sequence[Path], as_json: bool) -> int:
    found: list[dict[str, Any]] = []
    for path in files:
        verdict = validation.verdict(path.name, reading.read(path.parent, path.name))
        if isinstance(verdict, validation.Refusal):
            rule, detail, said = str(verdict.rule), verdict.detail, "invalid"
        else:
            rule, detail, said = None, verdict.summary, "valid"
        found.append({"file": str(path), "valid": rule is None, "rule": rule, "detail": detail})
        if not as_json:
            shown = escaping.one_line(str(path))
            tail = "" if rule is None else f" [rule: {rule}]"
            output.out(f"{shown}: {said}: {detail}{tail}\n")
    valid = all(entry["valid"] for entry in found)
    if as_json:
        json_output.document({"valid": valid, "files": found})
    return 0 if valid else 1


def _render(args: argparse.Namespace) -> int:
    net_dir: Path = args.net_dir
    as_json: bool = args.json
    try:
        names = reading.list_names(net_dir)
    except OSError as err:
        return json_output.fail("render", discovery.cannot_list(net_dir, err), 1, as_json)
    primary = discovery.find_primary(names, args.output, args.primary)
    if primary is None:
        present = discovery.primary_candidates(names, args.output)
        said = discovery.no_primary(args.primary, net_dir, present)
        return json_output.fail("render", said, 1, as_json)
    data = reading.read(net_dir, primary)
    plan = planning.plan(primary, data, args.plugin, args.output, args.rewrite)
    if isinstance(plan, validation.Refusal):
        return json_output.fail("render", f"no valid primary: {plan}", 1, as_json)
    if not as_json:
        sys.stdout.buffer.write(plan.rendered)
    unread = _unread(net_dir, names, args.output, plan)
    if unread is not None:
        print(f"chainfsm: {escaping.one_line(unread)}", file=sys.stderr)
    problems: list[validation.Refusal] = []
    unchecked: tuple[str, ...] = ()
    if args.bin_dir is not None:
        from chainfsm.edge import binaries

        found = binaries.check_chain_now(args.bin_dir, primary, json.loads(plan.rendered))
        problems, unchecked = list(found.problems), found.unchecked
    for problem in problems:
        awaited = plugin_problems.awaited([problem.detail])
        print(f"chainfsm: {problem}: pods cannot start until {awaited}", file=sys.stderr)
    for note in unchecked:
        why = "docs/design.md#where-the-binary-check-runs"
        print(f"chainfsm: warning: {note} (Verified all the same: {why})", file=sys.stderr)
    if as_json:
        json_output.document(
            {
                "primary": primary,
                "output": args.output,
                "bin_dir": None if args.bin_dir is None else str(args.bin_dir),
                "missing_binaries": [p.detail for p in problems],
                "config": json.loads(plan.rendered),
                # Added by issue 19 (items 8, 9): why the runtime would not load the config
                # (null: it would), and plugins whose VERSION cannot be asked from here.
                "not_loaded": unread,
                "unchecked_binaries": list(unchecked),
            }
        )
    return 1 if problems or unread is not None else 0


def _unread(net_dir: Path, names: list[str], output: str, plan: planning.Plan) -> str | None:
    """What the agent would say after writing ``plan``: why the runtime would not load it
    (another file sorts first, the primary itself included), with its advice; None when it
    would."""
    names = names if output in names else [*names, output]
    first = discovery.runtime_order(names)[0]
    contents: dict[str, reading.Read] = {output: plan.rendered}
    if first != output:
        contents[first] = reading.read(net_dir, first)
    check = verification.verify(names, contents, output, plan.expected_plugins)
    return None if check.effective else verification.advice(check, output, plan.primary)


def _explain(args: argparse.Namespace) -> int:
    from chainfsm.cli import explanation
    from chainfsm.core.explanation import beside_runtime

    try:
        report = explanation.look(
            args.net_dir, args.output, args.plugin, args.primary, args.bin_dir, args.rewrite
        )
    except OSError as err:
        return json_output.fail("explain", discovery.cannot_list(args.net_dir, err), 1, args.json)
    pods = _explain_pods(args)
    if args.cri_socket is not None:
        report = beside_runtime(report, str(args.cri_socket), _ask_runtime(args, report.primary))
    if args.json:
        doc = report.as_json()
        if pods is not None:
            doc["pods"] = pods.as_json()
        json_output.document(doc)
    else:
        output.out(explanation.text(report))
        if pods is not None:
            from chainfsm.cli import sandbox_explanation

            output.out(sandbox_explanation.text(pods))
    return 0 if report.agreed_effective else 1


def _ask_runtime(args: argparse.Namespace, primary: str | None) -> Confirmation:
    """The runtime's verdict on our output as it is in the conf dir now (--cri-socket)."""
    import asyncio

    from chainfsm.agent import runtime_check
    from chainfsm.edge.cri import CriClient

    net_dir: Path = args.net_dir
    written = reading.read(net_dir, args.output)
    primary_data = reading.read(net_dir, primary) if primary else None
    where = str(net_dir.resolve())

    async def ask() -> Confirmation:
        async with CriClient(args.cri_socket) as client:
            return await runtime_check.ask(
                client,
                where,
                args.output,
                written if isinstance(written, bytes) else None,
                (primary, primary_data) if primary and isinstance(primary_data, bytes) else None,
            )

    return asyncio.run(ask())


def _explain_pods(args: argparse.Namespace) -> sandbox_explanation.Pods | None:
    """With --cri-socket: the sandboxes the record proves were networked without the chain."""
    if args.cri_socket is None:
        return None
    from chainfsm.cli import sandbox_explanation

    return sandbox_explanation.look(args.cri_socket, args.record_file)


def _diagram(fmt: str, output: Path | None, as_json: bool) -> int:
    from chainfsm.cli import diagram

    if as_json and fmt == "png":
        return json_output.fail(
            "diagram", "--json: png is not text; use --format svg, dot or mermaid", 2, True
        )
    try:
        data = diagram.render(fmt)
        if output is not None:
            output.write_bytes(data)
    except diagram.DiagramError as err:
        return json_output.fail("diagram", str(err), 1, as_json)
    except OSError as err:
        return json_output.fail("diagram", f"cannot write {output}: {err.strerror}", 1, as_json)
    if as_json:
        where: dict[str, Any] = (
            {"diagram": data.decode()} if output is None else {"output": str(output)}
        )
        json_output.document({"format": fmt, **where})
    elif output is None:
        sys.stdout.buffer.write(data)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(json_output.wanted(argv)).parse_args(argv)
    if args.command == "validate":
        return _validate(args.files, args.json)
    if args.command == "render":
        return _render(args)
    if args.command == "run":
        return entry.run(settings_from(args))
    if args.command == "explain":
        return _explain(args)
    if args.command == "dump":
        from chainfsm.cli import dump_command

        dump_file = None if "dump_file" in args.defaulted else args.dump_file
        return dump_command.main(args.pid, dump_file, args.diagram, args.timeout)
    if args.command == "status":
        from chainfsm.cli import status_command

        dump_file = None if "dump_file" in args.defaulted else args.dump_file
        return status_command.main(args.pid, dump_file, args.timeout, args.json)
    if args.command == "diagram":
        return _diagram(args.format, args.output, args.json)
    if args.command == "demo":
        from chainfsm.cli import demo

        return demo.main(args.log_format)
    raise AssertionError(f"unhandled command {args.command}")
