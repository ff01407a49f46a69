"""``gateway institution add|set-password|add-key|remove`` and ``gateway hash-password``.

Institutions managed this way live one per file in ``institutions.d/`` beside the config
(see :mod:`gateway.ops.institution_files`); after a change the running gateway is asked to
reload (SIGHUP), so new accounts, passwords and keys work without a restart.  Passwords are
read from the terminal (twice) or standard input and stored only as argon2id hashes;
nothing secret is ever printed.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway.ops.command_settings import settings_for
from gateway.ops.institution_files import (
    InstitutionFileError,
    changes_locked,
    check_new_name,
    read_drop_in,
    remove_drop_in,
    save_drop_in,
)
from gateway.settings import valid_name

Common = Callable[[argparse.ArgumentParser], None]
MIN_PASSWORD = 12


def add_institution_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser],
                           common: Common) -> None:
    """Add ``institution`` (with its actions) and ``hash-password``."""
    hashing = commands.add_parser(
        "hash-password", help="print an argon2id hash of a password, for password_hash")
    hashing.add_argument("--stdin", action="store_true",
                         help="read the password from standard input instead of prompting")
    hashing.set_defaults(handler=_hash_password)
    institution = commands.add_parser(
        "institution", help="add, change or remove an institution kept in institutions.d/ "
                            "beside the config; the running gateway reloads")
    actions = institution.add_subparsers(title="actions", dest="action", required=True,
                                         metavar="ACTION")
    add = actions.add_parser("add", help="a new institution with its SFTP login and Canvas")
    password = actions.add_parser("set-password", help="set or change the SFTP password")
    key = actions.add_parser("add-key", help="allow one more OpenSSH public key to log in")
    remove = actions.add_parser(
        "remove", help="delete the institution's file (its data stays in the data dir)")
    for parser in (add, password, key, remove):
        parser.add_argument("name", metavar="NAME", type=_name, help="the institution's name")
    add.add_argument("--canvas-url", required=True,
                     help="Canvas base URL (https://...), or embedded-sandbox")
    add.add_argument("--account-id", default="self", help="Canvas account (default: self)")
    token = add.add_mutually_exclusive_group()
    token.add_argument("--token-env", help="environment variable holding the Canvas token")
    token.add_argument("--token-file", help="file holding the Canvas token")
    add.add_argument("--username", help="SFTP user name (default: NAME)")
    add.add_argument("--key", action="append", default=[], type=Path, metavar="FILE",
                     help="an OpenSSH public key file allowed to log in (repeatable)")
    add.add_argument("--password", action="store_true",
                     help="also set a password (prompted twice, or --stdin)")
    add.add_argument("--report-to", action="append", default=[], metavar="ADDRESS",
                     help="who gets the reports (repeatable)")
    key.add_argument("key_file", type=Path, metavar="FILE",
                     help="the public key file (.pub), or - for standard input")
    for parser in (add, password):
        parser.add_argument("--stdin", action="store_true",
                            help="read the password from standard input instead of prompting")
    for parser, handler in ((add, _add), (password, _set_password), (key, _add_key),
                            (remove, _remove)):
        common(parser)
        parser.set_defaults(handler=_guarded(handler))


def _name(text: str) -> str:
    if not valid_name(text):
        raise argparse.ArgumentTypeError(
            f"{text!r}: use 1-63 lower-case letters, digits, '-' or '_' (it names the "
            "institution's folder and file)")
    return text


def _guarded(handler: Callable[[argparse.Namespace, Path], str]
             ) -> Callable[[argparse.Namespace], int]:
    """Run a change on the config named by --config, then ask the daemon to reload."""

    def run(args: argparse.Namespace) -> int:
        if not args.config:
            print("gateway: `gateway institution` needs --config FILE (or GATEWAY_CONFIG): it "
                  "keeps institutions in institutions.d/ beside that file", file=sys.stderr)
            return 2
        config = Path(args.config)
        try:
            with changes_locked(config):
                print(handler(args, config))
        except (InstitutionFileError, ValueError) as error:
            print(f"gateway: {error}", file=sys.stderr)
            return 1
        except OSError as error:
            print(f"gateway: cannot write {error.filename}: {error.strerror}", file=sys.stderr)
            return 1
        print(_reload(args))
        return 0

    return run


def _add(args: argparse.Namespace, config: Path) -> str:
    check_new_name(config, args.name)
    table: dict[str, Any] = {}
    if args.username:
        table["username"] = args.username
    if args.password:
        table["password_hash"] = _new_hash(args.stdin)
    if args.key:
        table["authorized_keys"] = [_key_line(path) for path in args.key]
    if args.report_to:
        table["report_to"] = args.report_to
    canvas = {"base_url": args.canvas_url, "account_id": args.account_id}
    canvas.update({"token_env": args.token_env} if args.token_env else {})
    canvas.update({"token_file": args.token_file} if args.token_file else {})
    table["canvas"] = canvas
    path = save_drop_in(config, args.name, table)
    logins = [*(["a password"] if args.password else []),
              *([f"{len(args.key)} key" + ("" if len(args.key) == 1 else "s")] if args.key else [])]
    return f"institution {args.name}: added in {path} (login: {' and '.join(logins)})"


def _set_password(args: argparse.Namespace, config: Path) -> str:
    table = read_drop_in(config, args.name)
    table["password_hash"] = _new_hash(args.stdin)
    path = save_drop_in(config, args.name, table)
    return f"institution {args.name}: password set (stored as an argon2id hash in {path})"


def _add_key(args: argparse.Namespace, config: Path) -> str:
    from gateway.intake.keys import parse_authorized_key

    table = read_drop_in(config, args.name)
    line = _key_line(args.key_file)
    key = parse_authorized_key(str(args.key_file), line)
    keys = list(table.get("authorized_keys", []))
    if any(parse_authorized_key("", old).public_data == key.public_data for old in keys):
        raise InstitutionFileError(f"institution {args.name} already has the key "
                                   f"{key.get_fingerprint()}")
    table["authorized_keys"] = [*keys, line]
    path = save_drop_in(config, args.name, table)
    return f"institution {args.name}: key {key.get_fingerprint()} added in {path}"


def _remove(args: argparse.Namespace, config: Path) -> str:
    path = remove_drop_in(config, args.name)
    return (f"institution {args.name}: {path} removed (its uploads, batches and reports "
            "stay in the data dir)")


def _key_line(path: Path) -> str:
    """The first key line of a public key file (``-``: standard input)."""
    text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines()
             if line.strip() and not line.startswith("#")]
    if not lines:
        raise InstitutionFileError(f"{path}: no public key line in it")
    return lines[0]


def _new_hash(from_stdin: bool) -> str:
    """The argon2id hash of a new password (raises ValueError when it will not do)."""
    from argon2 import PasswordHasher

    return PasswordHasher().hash(read_new_password(from_stdin))


def read_new_password(from_stdin: bool) -> str:
    """A new password: one line of standard input, or typed twice at a prompt.  Raises
    ValueError when the two differ or it is shorter than MIN_PASSWORD characters."""
    import getpass

    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise ValueError("the two passwords differ")
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"use at least {MIN_PASSWORD} characters")
    return password


def _hash_password(args: argparse.Namespace) -> int:
    """Print the argon2id hash of a password typed twice (or read once from stdin)."""
    try:
        print(_new_hash(args.stdin))
    except ValueError as error:
        print(f"gateway: {error}", file=sys.stderr)
        return 2
    return 0


def _reload(args: argparse.Namespace) -> str:
    """Ask the gateway running on the config's data dir to reload; say what happened."""
    from gateway.instance import InstanceError, signal_running

    data_dir = settings_for(args).data_dir
    try:
        pid = signal_running(data_dir, signal.SIGHUP)
    except InstanceError:
        return f"no gateway is running on {data_dir}: it takes the change at its next start"
    return (f"the running gateway (pid {pid}) reloads its institutions now; its log says "
            "whether it took them")
