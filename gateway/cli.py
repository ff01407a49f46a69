"""The ``gateway`` command: ``serve``, ``status``, ``show``, ``hold``, ``release``, ``requeue``,
``skip``, ``reject``, ``quarantine``, ``check``, ``hash-password``, ``host-keys``, ``reload``,
``sandbox``, ``validate``.

Exit codes: 0 success, 1 the command ran and found a problem, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gateway.settings import ConfigError, Settings, load_settings

DEFAULT_DEMO_DATA = Path("gateway-data")


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
    return code


def _parser() -> argparse.ArgumentParser:
    from gateway.cli_operations import add_operation_parsers
    from gateway.exports.commands import add_export_parsers
    from gateway.intake.commands import add_intake_parsers
    from gateway.sandbox.cli import add_sandbox_parser
    from gateway.sorting.validation.command import add_validate_parser

    parser = argparse.ArgumentParser(prog="gateway", description=__doc__)
    commands = parser.add_subparsers(title="commands")
    serve = commands.add_parser("serve", help="run the gateway (demo mode without --config)")
    _add_common(serve)
    serve.add_argument("--log-level", default="INFO",
                       choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    serve.set_defaults(handler=_serve)
    status = commands.add_parser("status", help="queues and batches per institution")
    _add_common(status)
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=_status)
    for name, help_text in (
            ("release", "let a held or failed queue go on (BATCH id or INSTITUTION; "
                        "also lifts an institution hold)"),
            ("requeue", "send a held or failed BATCH to Canvas again"),
            ("skip", "never send BATCH; the batches after it proceed")):
        action = commands.add_parser(name, help=help_text)
        _add_common(action)
        action.add_argument("target", metavar="BATCH" if name != "release" else "TARGET")
        action.set_defaults(handler=_operate, action=name)
    hashing = commands.add_parser("hash-password",
                                  help="print an argon2id hash for an institution's password")
    hashing.add_argument("--stdin", action="store_true",
                         help="read the password from standard input instead of prompting")
    hashing.set_defaults(handler=_hash_password)
    add_operation_parsers(commands, _add_common)
    add_intake_parsers(commands, _add_common, settings_for)
    add_export_parsers(commands, _add_common, settings_for)
    add_sandbox_parser(commands)
    add_validate_parser(commands)
    return parser


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=os.environ.get("GATEWAY_CONFIG"),
                        help="TOML config file (default: $GATEWAY_CONFIG; none = demo mode)")
    parser.add_argument("--data", type=Path, default=None,
                        help="data directory (overrides the config's data_dir)")


def settings_for(args: argparse.Namespace) -> Settings:
    """The settings a command runs with: the config file, or the demo defaults."""
    if args.config:
        settings = load_settings(Path(args.config))
        if args.data:
            settings = settings.model_copy(update={"data_dir": args.data})
        return settings
    from gateway.demo import demo_settings

    return demo_settings(args.data or DEFAULT_DEMO_DATA)


def _serve(args: argparse.Namespace) -> int:
    """Run the daemon; from the first line on, everything it writes is a JSON log line
    (a configuration that cannot work too: event ``gateway not started``, exit code 2)."""
    import logging

    from gateway.daemon import run_until_signalled
    from gateway.logs import configure_logging

    configure_logging(args.log_level)
    try:
        settings = settings_for(args)
        run_until_signalled(settings, load=(lambda: settings_for(args)) if args.config else None)
    except ConfigError as error:
        logging.getLogger("gateway.cli").error(
            "gateway not started", extra={"reason": f"configuration error: {error}"})
        return 2
    return 0


def _status(args: argparse.Namespace) -> int:
    from gateway.status import institution_status, render_status

    settings = settings_for(args)
    database = settings.data_dir / "state.db"
    if not database.exists():
        print(f"gateway: no gateway data at {settings.data_dir} (state.db missing)",
              file=sys.stderr)
        return 2
    rows: list[dict[str, Any]] = institution_status(database, list(settings.institutions))
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(render_status(rows))
    return 1 if any(row["held"] or row["failed"] or row["on_hold"] for row in rows) else 0


def _hash_password(args: argparse.Namespace) -> int:
    """Print the argon2id hash of a password typed twice (or read once from stdin)."""
    import getpass

    from argon2 import PasswordHasher

    if args.stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            print("gateway: the two passwords differ", file=sys.stderr)
            return 2
    if len(password) < 12:
        print("gateway: use at least 12 characters", file=sys.stderr)
        return 2
    print(PasswordHasher().hash(password))
    return 0


def _operate(args: argparse.Namespace) -> int:
    """release / requeue / skip, against a running daemon's store or a stopped one."""
    from gateway.operator import OperatorError, find_target, release, requeue, skip
    from gateway.state.spool import Spool
    from gateway.state.store import Store

    settings = settings_for(args)
    spool = Spool(settings.data_dir)
    if not spool.database.exists():
        print(f"gateway: no gateway data at {settings.data_dir}", file=sys.stderr)
        return 2
    store = Store(spool.database)
    try:
        if args.action == "release" and not args.target.isdigit():
            from gateway.holds import release_institution

            print("\n".join(release_institution(store, spool, args.target)))
            return 0
        batch = find_target(store, args.target)
        if args.action == "requeue" and not args.target.isdigit():
            raise OperatorError("requeue takes a batch id")
        new = {"release": lambda: release(store, spool, batch),
               "requeue": lambda: requeue(store, spool, batch),
               "skip": lambda: skip(store, batch)}[args.action]()
    except OperatorError as error:
        print(f"gateway: {error}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(f"batch {batch.id} ({batch.institution}): {batch.state} -> {new}")
    return 0
