"""`gateway sandbox`: run the Canvas sandbox in the foreground until SIGINT or SIGTERM.

Also runnable on its own: `python -m gateway.sandbox [options]`.

  --host, --port, --account, --token, --processing-seconds   where and how it serves
  --errors-file-delay SECONDS   how long after an import's end its error file shows (5)
  --data DIR                    keep imports, files and ids in DIR/canvas.db across restarts
  fault injection and throttling flags: see faultflags.py, e.g.
    gateway sandbox --seed 7 --fail-rate 0.2 --reset-after-rate 0.1 --fault-method POST
While it runs, the control endpoints (control.py) change the same settings over HTTP.
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from gateway.sandbox.faultflags import add_fault_arguments, faults_from_args, throttling_from_args
from gateway.sandbox.server import CanvasSandbox

# Not secrets: the sandbox is a loopback test tool and its default token is documented.
TOKEN_ENV = "GATEWAY_SANDBOX_TOKEN"  # noqa: S105
DEFAULT_TOKEN = "sandbox-token"  # noqa: S105
_POLL_SECONDS = 0.2


def add_sandbox_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `sandbox` subcommand; its handler is set as the `handler` default."""
    parser = subparsers.add_parser(
        "sandbox",
        help="run a local Canvas SIS Imports simulator",
        description="Serve a Canvas SIS Imports API simulator until SIGINT or SIGTERM.",
    )
    configure_parser(parser)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the sandbox options to `parser` and set `handler=run_sandbox`."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    parser.add_argument(
        "--port", type=int, default=8765, help="port, 0 for any free one (default %(default)s)"
    )
    parser.add_argument("--account", default="1", help="root account id (default %(default)s)")
    parser.add_argument(
        "--token",
        default=os.environ.get(TOKEN_ENV, DEFAULT_TOKEN),
        help=f"bearer token the account accepts (default ${TOKEN_ENV} or {DEFAULT_TOKEN!r})",
    )
    parser.add_argument(
        "--processing-seconds",
        type=float,
        default=1.0,
        help="seconds each import spends in `importing` (default %(default)s)",
    )
    parser.add_argument(
        "--errors-file-delay",
        type=_seconds,
        default=5.0,
        metavar="SECONDS",
        help="seconds from an import's end to its errors_attachment, as Canvas's delayed "
        "job (default %(default)s; 0 = at once)",
    )
    parser.add_argument(
        "--data",
        type=Path,
        metavar="DIR",
        help="keep imports, files, ids and SIS objects in DIR/canvas.db across restarts "
        "(default: in memory)",
    )
    add_fault_arguments(parser)
    parser.set_defaults(handler=run_sandbox)


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 <= value < float("inf"):  # also refuses nan
        raise argparse.ArgumentTypeError("must be a number >= 0")
    return value


def run_sandbox(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; return 0, or 1 when the sandbox cannot start.

    Must run in the main thread (signal handlers can only be installed there).
    """
    stop_requested: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        # Only record the signal: doing real work inside a handler can deadlock on locks
        # the interrupted code holds.
        stop_requested.append(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return _serve(args, stop_requested)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _serve(args: argparse.Namespace, stop_requested: list[int]) -> int:
    where = f"{args.host}:{args.port}"
    try:
        sandbox = CanvasSandbox(
            accounts={args.account: args.token},
            processing_seconds=args.processing_seconds,
            host=args.host,
            port=args.port,
            faults=faults_from_args(args),
            throttling=throttling_from_args(args),
            errors_file_delay_seconds=args.errors_file_delay,
            data_dir=args.data,
        )
    except (OSError, ValueError, sqlite3.Error) as error:
        print(f"sandbox: cannot start on {where}: {error}", file=sys.stderr)
        return 1
    try:
        base_url = sandbox.start()
    except OSError as error:
        sandbox.stop()  # closes the data dir
        print(f"sandbox: cannot start on {where}: {error}", file=sys.stderr)
        return 1
    try:
        print(f"Canvas sandbox listening on {base_url} (account {args.account})", flush=True)
        while not stop_requested:
            time.sleep(_POLL_SECONDS)
    finally:
        sandbox.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m gateway.sandbox`."""
    parser = argparse.ArgumentParser(prog="python -m gateway.sandbox")
    configure_parser(parser)
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code
