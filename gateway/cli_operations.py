"""The operator commands of ``gateway``: ``show``, ``hold``, ``quarantine`` and ``check``.

Each works against a running daemon's data dir as safely as against a stopped one: reads go
through the store's WAL snapshots, changes are compare-and-set transactions or atomic renames.
Exit codes as for every ``gateway`` command: 0 success, 1 the command ran and found a
problem (a failed check, an action that does not apply), 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

from gateway.cli import settings_for
from gateway.settings import ConfigError, Settings
from gateway.state.spool import Spool
from gateway.state.store import Store

Common = Callable[[argparse.ArgumentParser], None]
CHECKS = ("config", "canvas", "smtp", "sftp", "http")


class NoDataError(Exception):
    """The data dir has no store yet (the daemon never ran there)."""


def add_operation_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser],
                          common: Common) -> None:
    """Add ``show``, ``hold``, ``quarantine`` and ``check`` (``common`` adds --config/--data)."""
    show = commands.add_parser("show", help="everything about a batch or an upload")
    show.add_argument("target", nargs="+", metavar="[batch|upload] ID")
    hold = commands.add_parser("hold", help="stop an INSTITUTION's queue, or park a BATCH")
    hold.add_argument("target", metavar="INSTITUTION|BATCH")
    hold.add_argument("--reason", default="held by an operator", help="why (shown everywhere)")
    reject = commands.add_parser(
        "reject", help="reject a received UPLOAD not yet in a batch; its sender is told why")
    reject.add_argument("upload", type=int, metavar="UPLOAD")
    reject.add_argument("--reason", required=True, help="why (the sender reads it)")
    check = commands.add_parser("check", help="check config, canvas, smtp, sftp or http")
    check.add_argument("what", choices=CHECKS)
    check.add_argument("--institution", help="canvas: only this institution")
    check.add_argument("--to", help="smtp: address to send the test message to")
    for parser, handler in ((show, _show), (hold, _hold), (reject, _reject), (check, _check)):
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
    show.add_argument("name")
    requeue = actions.add_parser("requeue", help="receive a quarantined file again")
    requeue.add_argument("name")
    requeue.add_argument("--institution", required=True, help="whose upload it becomes")
    requeue.add_argument("--as", dest="filename", help="file name to receive it under "
                         "(default: its name, with .csv or .zip added by content)")
    for parser in (listing, show, requeue):
        common(parser)
        parser.set_defaults(handler=_quarantine)
    for parser in (listing, show):
        parser.add_argument("--json", action="store_true", help="machine-readable output")


@contextmanager
def _data(settings: Settings) -> Iterator[tuple[Spool, Store]]:
    """The data dir's spool and an open store; raises NoDataError when there is no store."""
    spool = Spool(settings.data_dir)
    if not spool.database.exists():
        raise NoDataError(f"no gateway data at {settings.data_dir} (state.db missing)")
    store = Store(spool.database)
    try:
        yield spool, store
    finally:
        store.close()


def _guarded(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn the expected failures of a handler into a message and an exit code."""
    from gateway.operator import OperatorError
    from gateway.quarantine import QuarantineError

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except NoDataError as error:
            print(f"gateway: {error}", file=sys.stderr)
            return 2
        except (OperatorError, QuarantineError) as error:
            print(f"gateway: {error}", file=sys.stderr)
            return 1

    return run


def _print(document: Any, human: str, as_json: bool) -> None:
    print(json.dumps(document, indent=2) if as_json else human)


@_guarded
def _show(args: argparse.Namespace) -> int:
    from gateway.operator import OperatorError
    from gateway.show import batch_details, render_details, upload_details

    target = ["batch", *args.target] if len(args.target) == 1 else args.target
    if len(target) != 2 or target[0] not in ("batch", "upload") or not target[1].isdigit():
        print("gateway: usage: gateway show [batch|upload] ID", file=sys.stderr)
        return 2
    kind, number = target
    details_of = batch_details if kind == "batch" else upload_details
    with _data(settings_for(args)) as (spool, store):
        try:
            details = details_of(store, spool, int(number))
        except KeyError:
            raise OperatorError(f"there is no {kind} {number}") from None
    _print(details, render_details(kind, details), args.json)
    return 0


@_guarded
def _hold(args: argparse.Namespace) -> int:
    from gateway.holds import hold_batch, hold_institution
    from gateway.operator import OperatorError

    settings = settings_for(args)
    with _data(settings) as (_, store):
        if not args.target.isdigit():
            hold_institution(store, args.target, args.reason, list(settings.institutions))
            print(f"institution {args.target}: held ({args.reason}); "
                  f"`gateway release {args.target}` lets it go on")
            return 0
        try:
            batch = store.batch(int(args.target))
        except KeyError:
            raise OperatorError(f"there is no batch {args.target}") from None
        new = hold_batch(store, batch, args.reason)
    print(f"batch {batch.id} ({batch.institution}): {batch.state} -> {new}")
    return 0


@_guarded
def _reject(args: argparse.Namespace) -> int:
    from gateway.operator import reject_upload

    with _data(settings_for(args)) as (_, store):
        batch_id = reject_upload(store, args.upload, args.reason)
    print(f"upload {args.upload}: rejected in batch {batch_id}; the running gateway reports "
          "it to the sender")
    return 0


@_guarded
def _quarantine(args: argparse.Namespace) -> int:
    from gateway.quarantine import preview, quarantined, quarantined_file, requeue
    from gateway.show import iso_time

    settings = settings_for(args)
    spool = Spool(settings.data_dir)
    if args.action == "list":
        items = quarantined(spool)
        rows = [{**asdict(item), "path": str(item.path),
                 "quarantined_at": iso_time(item.quarantined_at)} for item in items]
        human = "\n".join(f"{r['name']:<24} {r['size']:>10}  {r['quarantined_at']}  {r['reason']}"
                          for r in rows) or "nothing in quarantine"
        _print(rows, human, args.json)
        return 0
    item = quarantined_file(spool, args.name)
    if args.action == "show":
        sha256, lines = preview(item)
        document = {"name": item.name, "size": item.size, "sha256": sha256,
                    "quarantined_at": iso_time(item.quarantined_at), "reason": item.reason,
                    "path": str(item.path), "first_lines": lines}
        human = "\n".join([f"{key.replace('_', ' '):<16} {value}" for key, value in
                           document.items() if key != "first_lines"]
                          + ["first lines:", *(f"  {line}" for line in lines)])
        _print(document, human, args.json)
        return 0
    with _data(settings) as (spool, store):
        upload_id = requeue(store, spool, item, institution=args.institution,
                            configured=list(settings.institutions), filename=args.filename)
    print(f"{item.name}: received again as upload {upload_id} of {args.institution}; "
          "the running gateway batches it after its quiet period")
    return 0


def _check(args: argparse.Namespace) -> int:
    from gateway.checks import (
        Check,
        check_canvas,
        check_config,
        check_http,
        check_sftp,
        check_smtp,
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
            "canvas": lambda: check_canvas(settings, args.institution),
            "smtp": lambda: [check_smtp(settings, args.to)],
            "sftp": lambda: [check_sftp(settings)],
            "http": lambda: [check_http(settings)]}
        results = run[args.what]()
    human = "\n".join(f"{'ok' if r.ok else 'FAIL':<5} {r.target}: {r.detail}" for r in results)
    _print([asdict(r) for r in results], human, args.json)
    return 0 if all(r.ok for r in results) else 1
