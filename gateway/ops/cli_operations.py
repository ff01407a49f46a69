"""The operator commands of ``gateway``: ``show``, ``quarantine`` and ``check``.

Each works against a running daemon's data dir as safely as against a stopped one: reads go
through the store's WAL snapshots, changes are compare-and-set transactions or atomic renames.
Exit codes as for every ``gateway`` command: 0 success, 1 the command ran and found a
problem (a failed check, an action that does not apply), 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import asdict

from gateway.ops.command_settings import guarded, open_data, settings_for
from gateway.ops.tables import emit, facts, table
from gateway.settings import ConfigError
from gateway.state.spool import Spool

Common = Callable[[argparse.ArgumentParser], None]
CHECKS = ("config", "store", "canvas", "smtp", "sftp", "http")


def add_operation_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser],
                          common: Common) -> None:
    """Add ``show``, ``quarantine`` and ``check`` (``common`` adds --config/--data)."""
    show = commands.add_parser("show", help="everything about a batch or an upload")
    show.add_argument("target", nargs="+", metavar="[batch|upload] ID",
                      help="a batch id, or `upload ID`")
    check = commands.add_parser(
        "check", help="check that config, canvas, smtp, sftp or http works from here, now")
    check.add_argument("what", choices=CHECKS, help="what to check")
    check.add_argument("--institution", help="canvas: only this institution")
    check.add_argument("--to", help="smtp: address to send the test message to")
    for parser, handler in ((show, _show), (check, _check)):
        common(parser)
        parser.set_defaults(handler=handler)
    for parser in (show, check):
        parser.add_argument("--json", action="store_true", help="machine-readable output")
    _add_quarantine_parser(commands, common)


def _add_quarantine_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser],
                           common: Common) -> None:
    quarantine = commands.add_parser("quarantine", help="files set aside: list, show, requeue")
    actions = quarantine.add_subparsers(title="actions", dest="action", required=True)
    listing = actions.add_parser("list", help="every quarantined file and its reason")
    show = actions.add_parser("show", help="one quarantined file: reason, hash, first lines")
    show.add_argument("name", help="the file's name in `quarantine list`")
    requeue = actions.add_parser("requeue", help="receive a quarantined file again")
    requeue.add_argument("name", help="the file's name in `quarantine list`")
    requeue.add_argument("--institution", required=True, help="whose upload it becomes")
    requeue.add_argument("--as", dest="filename", help="file name to receive it under "
                         "(default: its name, with .csv or .zip added by content)")
    for parser in (listing, show, requeue):
        common(parser)
        parser.set_defaults(handler=_quarantine)
    for parser in (listing, show):
        parser.add_argument("--json", action="store_true", help="machine-readable output")


@guarded
def _show(args: argparse.Namespace) -> int:
    from gateway.ops.operator import no_such
    from gateway.ops.show import batch_details, print_details, upload_details

    target = ["batch", *args.target] if len(args.target) == 1 else args.target
    if len(target) != 2 or target[0] not in ("batch", "upload") or not target[1].isdigit():
        print("gateway: usage: gateway show [batch|upload] ID", file=sys.stderr)
        return 2
    kind, number = target
    details_of = batch_details if kind == "batch" else upload_details
    with open_data(settings_for(args)) as (spool, store):
        try:
            details = details_of(store, spool, int(number))
        except KeyError:
            raise no_such(kind, int(number)) from None
    if args.json:
        print(json.dumps(details, indent=2))
    else:
        print_details(kind, details)
    return 0


@guarded
def _quarantine(args: argparse.Namespace) -> int:
    from gateway.ops.quarantine import preview, quarantined, quarantined_file, requeue
    from gateway.ops.show import iso_time

    settings = settings_for(args)
    spool = Spool(settings.data_dir)
    if args.action == "list":
        items = quarantined(spool)
        rows = [{**asdict(item), "path": str(item.path),
                 "quarantined_at": iso_time(item.quarantined_at)} for item in items]
        if args.json:
            print(json.dumps(rows, indent=2))
        elif not rows:
            print("nothing in quarantine")
        else:
            emit(table(["NAME", "SIZE", "QUARANTINED AT", "REASON"], [
                [r["name"], r["size"], r["quarantined_at"], r["reason"]] for r in rows],
                right=["SIZE"]))
        return 0
    item = quarantined_file(spool, args.name)
    if args.action == "show":
        sha256, lines = preview(item)
        document = {"name": item.name, "size": item.size, "sha256": sha256,
                    "quarantined_at": iso_time(item.quarantined_at), "reason": item.reason,
                    "path": str(item.path), "first_lines": lines}
        if args.json:
            print(json.dumps(document, indent=2))
            return 0
        emit(facts((key.replace("_", " "), value) for key, value in document.items()
                   if key != "first_lines"))
        print("first lines:")
        print("\n".join(f"  {line}" for line in lines))
        return 0
    with open_data(settings) as (spool, store):
        upload_id = requeue(store, spool, item, institution=args.institution,
                            configured=list(settings.institutions), filename=args.filename)
    print(f"{item.name}: received again as upload {upload_id} of {args.institution}; "
          "the running gateway batches it after its quiet period")
    return 0


def _check(args: argparse.Namespace) -> int:
    from gateway.ops.checks import (
        Check,
        check_canvas,
        check_config,
        check_http,
        check_sftp,
        check_smtp,
        check_store,
    )

    if args.what == "smtp" and not args.to:
        print("gateway: check smtp needs --to ADDRESS", file=sys.stderr)
        return 2
    try:
        settings = settings_for(args)
    except ConfigError as error:
        results = [Check("config", False, str(error))]
    else:
        run: dict[str, Callable[[], list[Check]]] = {
            "config": lambda: check_config(settings),
            "store": lambda: [check_store(settings)],
            "canvas": lambda: check_canvas(settings, args.institution),
            "smtp": lambda: [check_smtp(settings, args.to)],
            "sftp": lambda: [check_sftp(settings)],
            "http": lambda: [check_http(settings)]}
        results = run[args.what]()
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
    else:
        print("\n".join(f"{'ok' if r.ok else 'FAIL':<5} {r.target}: {r.detail}"
                        for r in results))
    return 0 if all(r.ok for r in results) else 1
