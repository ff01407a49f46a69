"""The ``gateway`` command line: one sub-command per operator task, grouped in its help.

Exit codes: 0 success; 1 the command ran and found a problem (a failed check, something held
or failed, an action that does not apply); 2 usage or configuration error; 3 ``gateway
status``: no daemon is running on the data dir.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from gateway.ops.command_settings import NoDataError, add_common, settings_for
from gateway.ops.help_text import HelpFormatter, plain
from gateway.settings import ConfigError

GROUPS = (
    ("Run the gateway", ("serve", "reload", "check", "health", "example-config")),
    ("Look", ("status", "show", "quarantine")),
    ("Act on queues", ("hold", "release", "requeue", "skip", "reject")),
    ("Institutions and keys", ("institution", "hash-password", "host-keys")),
    ("Exports", ("exports", "export")),
    ("Try things out", ("validate", "sandbox")),
)
"""The order ``gateway --help`` lists the commands in."""


class GatewayParser(argparse.ArgumentParser):
    """An ArgumentParser whose help (and its sub-commands') uses :class:`HelpFormatter`."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    try:
        code: int = args.handler(args)
    except ConfigError as error:
        print(f"gateway: configuration error: {error}", file=sys.stderr)
        return 2
    except NoDataError as error:
        print(f"gateway: {error}", file=sys.stderr)
        return 2
    return code


def package_version() -> str:
    """The installed sis-gateway version."""
    try:
        return version("sis-gateway")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    from gateway.exports.commands import add_export_parsers
    from gateway.intake.commands import add_intake_parsers
    from gateway.ops.cli_operations import add_operation_parsers
    from gateway.ops.cli_queues import add_queue_parsers
    from gateway.ops.institution_commands import add_institution_parser
    from gateway.sandbox.cli import add_sandbox_parser
    from gateway.sorting.validation.command import add_validate_parser

    parser: argparse.ArgumentParser = GatewayParser(
        prog="gateway", usage="gateway [-h] [--version] COMMAND ...",
        description="sis-gateway: an SFTP gateway that sends SIS CSV files to Canvas.",
        epilog="`gateway COMMAND --help` tells more about one.\nExit codes: 0 success, 1 a "
               "problem found, 2 usage or configuration error,\n3 (status only) no gateway "
               "running on the data dir.")
    parser.add_argument("--version", action="version",
                        version=f"gateway (sis-gateway) {package_version()}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", prog="gateway",
                                     help=argparse.SUPPRESS)
    add_queue_parsers(commands, add_common)
    add_operation_parsers(commands, add_common)
    add_institution_parser(commands, add_common)
    add_intake_parsers(commands, add_common, settings_for)
    add_export_parsers(commands, add_common, settings_for)
    add_sandbox_parser(commands)
    add_validate_parser(commands)
    parser.description = f"{parser.description}\n\n{_command_list(commands)}"
    parser.formatter_class = _ListedFormatter
    return parser


def _command_list(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> str:
    """The commands by group, with their one-line help (every command in one group)."""
    helps = {action.dest: action.help or "" for action in commands._choices_actions}
    listed = [name for _, names in GROUPS for name in names]
    missing = sorted(set(commands.choices) - set(listed))
    lines = []
    for title, names in (*GROUPS, *([("Other", tuple(missing))] if missing else [])):
        lines.append(f"\n{title}:")
        lines.extend(_entry(name, helps.get(name, "")) for name in names)
    return "\n".join(lines).lstrip("\n")


def _entry(name: str, help_text: str) -> str:
    wrapped = textwrap.wrap(plain(help_text), 58, break_on_hyphens=False) or [""]
    return "\n".join([f"  {name:<16}{wrapped[0]}", *(f"  {'':<16}{w}" for w in wrapped[1:])])


class _ListedFormatter(HelpFormatter):
    """The top-level help: the grouped command list keeps its own layout."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "".join(indent + line for line in text.splitlines(keepends=True))
