"""The queue commands of ``gateway``: ``serve``, ``status``, ``hold``, ``release``,
``requeue``, ``skip`` and ``reject``.

Each works against a running daemon's data dir as safely as against a stopped one: reads go
through the store's WAL snapshots, changes are compare-and-set transactions.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from gateway.ops.command_settings import guarded, no_data, open_custody, open_data, settings_for
from gateway.settings import ConfigError

Common = Callable[[argparse.ArgumentParser], None]
NOT_RUNNING = 3
"""``gateway status``'s exit code when no daemon runs on the data dir."""
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def add_queue_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser],
                      common: Common) -> None:
    """Add ``serve``, ``status`` and the queue actions (``common`` adds --config/--data)."""
    serve = commands.add_parser("serve", help="run the gateway (demo mode without --config)")
    serve.add_argument("--log-level", default="INFO", choices=LOG_LEVELS,
                       help="least important log lines written (default: INFO; DEBUG is "
                            "verbose)")
    example = commands.add_parser(
        "example-config", help="print the example config, every key commented (a start for "
                               "gateway.toml)")
    example.set_defaults(handler=lambda _: _example_config())
    health = commands.add_parser(
        "health", help="is the gateway on the data dir alive? asks its /healthz (or its "
                       "pid); reads no config: the container's HEALTHCHECK")
    health.add_argument("--data", type=Path, default=Path(os.environ.get(
        "GATEWAY_DATA_DIR", "/data")), help="data directory (default: $GATEWAY_DATA_DIR, "
                                            "else /data)")
    health.set_defaults(handler=_health)
    status = commands.add_parser(
        "status", help="whether the gateway runs, and each institution's queue")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    hold = commands.add_parser("hold", help="stop an INSTITUTION's queue, or park a BATCH")
    hold.add_argument("target", metavar="INSTITUTION|BATCH",
                      help="an institution's name, or a batch id (`gateway status` lists them)")
    hold.add_argument("--reason", default="held by an operator", help="why (shown everywhere)")
    reject = commands.add_parser(
        "reject", help="reject a received UPLOAD not yet in a batch; its sender is told why")
    reject.add_argument("upload", type=int, metavar="UPLOAD", help="the upload's id")
    reject.add_argument("--reason", required=True, help="why (the sender reads it)")
    for parser, handler in ((serve, _serve), (status, _status), (hold, _hold),
                            (reject, _reject)):
        common(parser)
        parser.set_defaults(handler=handler)
    for name, help_text, metavar in (
            ("release", "let a held or failed queue go on: a BATCH, or an INSTITUTION (lifts "
                        "its hold; batches parked one by one stay held)", "BATCH|INSTITUTION"),
            ("requeue", "send a held or failed BATCH to Canvas again", "BATCH"),
            ("skip", "never send BATCH; the batches after it proceed", "BATCH")):
        action = commands.add_parser(name, help=help_text)
        common(action)
        action.add_argument("target", metavar=metavar, help="a batch id (`gateway status` lists "
                            "them)" + (", or an institution's name" if "|" in metavar else ""))
        action.set_defaults(handler=_operate, action=name)


def _serve(args: argparse.Namespace) -> int:
    """Run the daemon; from the first line on, everything it writes is a JSON log line
    (a configuration that cannot work too: event ``gateway not started``, exit code 2)."""
    import logging

    from gateway.daemon import run_until_signalled
    from gateway.logs import configure_logging
    from gateway.state.database import StoreUnavailable

    configure_logging(args.log_level)
    try:
        settings = settings_for(args)
        run_until_signalled(settings, load=(lambda: settings_for(args)) if args.config else None)
    except ConfigError as error:
        logging.getLogger("gateway.ops.cli").error(
            "gateway not started", extra={"reason": f"configuration error: {error}"})
        return 2
    except StoreUnavailable as error:  # the store became unreachable while serving
        logging.getLogger("gateway.ops.cli").error("gateway stopped",
                                                   extra={"reason": str(error)})
        return 1
    return 0


def _example_config() -> int:
    """Print the commented example config shipped inside the package."""
    from importlib.resources import files

    sys.stdout.write(files("gateway").joinpath("gateway.example.toml").read_text("utf-8"))
    return 0


def _health(args: argparse.Namespace) -> int:
    """0 when the daemon on the data dir runs and (with an HTTP port) answers /healthz; 1
    otherwise.  Never reads the config: a half-edited config must not make a healthy
    daemon look sick (an orchestrator would restart it into a failing start)."""
    import urllib.error
    import urllib.request

    from gateway.instance import http_address, running_pid

    pid = running_pid(args.data)
    if pid is None:
        print(f"unhealthy: no gateway is running on {args.data}")
        return 1
    address = http_address(args.data)
    if address is None:
        print(f"healthy: gateway pid {pid} runs (no HTTP port to ask)")
        return 0
    try:
        with urllib.request.urlopen(f"http://{address}/healthz", timeout=10) as answer:
            body = answer.read().decode("utf-8", "replace").strip()
    except (OSError, urllib.error.URLError) as error:
        print(f"unhealthy: gateway pid {pid}: http://{address}/healthz: {error}")
        return 1
    print(f"healthy: gateway pid {pid}: http://{address}/healthz: {body}")
    return 0


def _status(args: argparse.Namespace) -> int:
    """The state line (running or not), then the table; exit 3 when no daemon runs, else 1
    when something is held or failed, else 0."""
    from gateway.instance import running_pid
    from gateway.ops.status import institution_status, live_cluster_nodes, print_status
    from gateway.state.backends import has_store

    settings = settings_for(args)
    if not has_store(settings):
        raise no_data(settings.data_dir)
    rows = institution_status(settings, list(settings.institutions))
    pid = running_pid(settings.data_dir)
    if pid is not None:
        state = f"gateway: running on {settings.data_dir} (pid {pid})"
    elif live := live_cluster_nodes(settings):  # a stopped node: the others go on
        state = (f"gateway: NOT RUNNING on {settings.data_dir}; the cluster's live nodes "
                 f"({', '.join(live)}) receive and send")
    else:
        state = (f"gateway: NOT RUNNING on {settings.data_dir}: nothing is received or "
                 "sent; the queues below are as it left them")
    if args.json:
        print(json.dumps(rows, indent=2))
        print(state, file=sys.stderr)
    else:
        print(state)
        print_status(rows)
    if pid is None:
        return NOT_RUNNING
    return 1 if any(row["held"] or row["failed"] or row["on_hold"] for row in rows) else 0


@guarded
def _operate(args: argparse.Namespace) -> int:
    """release / requeue / skip, against a running daemon's store or a stopped one."""
    from gateway.ops.operator import OperatorError, find_target, release, requeue, skip

    settings = settings_for(args)
    configured = list(settings.institutions)
    custody = open_custody(settings)
    with open_data(settings) as (_, store):
        if args.action == "release" and not args.target.isdigit():
            from gateway.ops.holds import release_institution

            print("\n".join(release_institution(store, custody, args.target, configured)))
            return 0
        if args.action != "release" and not args.target.isdigit():
            raise OperatorError(f"{args.action} takes a batch id (`gateway status` lists "
                                "them)")
        batch = find_target(store, args.target, configured)
        new = {"release": lambda: release(store, custody, batch),
               "requeue": lambda: requeue(store, custody, batch),
               "skip": lambda: skip(store, batch)}[args.action]()
    print(f"batch {batch.id} ({batch.institution}): {batch.state} -> {new}")
    return 0


@guarded
def _hold(args: argparse.Namespace) -> int:
    from gateway.ops.holds import hold_batch, hold_institution
    from gateway.ops.operator import batch_by_id

    settings = settings_for(args)
    with open_data(settings) as (_, store):
        if not args.target.isdigit():
            hold_institution(store, args.target, args.reason, list(settings.institutions))
            print(f"institution {args.target}: held ({args.reason}); "
                  f"`gateway release {args.target}` lets it go on")
            return 0
        batch = batch_by_id(store, int(args.target))
        new = hold_batch(store, batch, args.reason)
    print(f"batch {batch.id} ({batch.institution}): {batch.state} -> {new}")
    return 0


@guarded
def _reject(args: argparse.Namespace) -> int:
    from gateway.ops.operator import reject_upload

    with open_data(settings_for(args)) as (_, store):
        batch_id = reject_upload(store, args.upload, args.reason)
    print(f"upload {args.upload}: rejected in batch {batch_id}; the running gateway reports "
          "it to the sender")
    return 0
