"""What every ``gateway`` command runs with: ``--config``/``--data``, the settings they
give, and the data dir's store (with a hint when there is none)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from gateway.settings import Settings
from gateway.settings_files import load_settings
from gateway.state.backends import has_store, open_store
from gateway.state.protocols import StateStore
from gateway.state.spool import Spool

DEFAULT_DEMO_DATA = Path("gateway-data")


class NoDataError(Exception):
    """The data dir has no store yet (the daemon never ran there); the message says where
    it looked and how to point elsewhere."""


def add_common(parser: argparse.ArgumentParser) -> None:
    """Add ``--config`` and ``--data`` to a command."""
    parser.add_argument("--config", type=Path, default=os.environ.get("GATEWAY_CONFIG"),
                        help="TOML config file (default: $GATEWAY_CONFIG; none: demo mode)")
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


def no_data(data_dir: Path) -> NoDataError:
    """The error for a data dir without a store, saying how to name the right one."""
    return NoDataError(
        f"no gateway data at {data_dir} (state.db missing): pass --data DIR (the daemon's "
        "data dir) or --config FILE (its config), or set GATEWAY_CONFIG")


@contextmanager
def open_data(settings: Settings) -> Iterator[tuple[Spool, StateStore]]:
    """The data dir's spool and an open store; raises NoDataError when there is no store."""
    spool = Spool(settings.data_dir)
    if not has_store(settings):
        raise no_data(settings.data_dir)
    store = open_store(settings)
    try:
        yield spool, store
    finally:
        store.close()


Handler = Callable[[argparse.Namespace], int]


def guarded(handler: Handler) -> Handler:
    """Turn an action that does not apply (OperatorError, QuarantineError: the message says
    why) into that message on stderr and exit code 1."""
    from gateway.ops.operator import OperatorError
    from gateway.ops.quarantine import QuarantineError

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except (OperatorError, QuarantineError) as error:
            print(f"gateway: {error}", file=sys.stderr)
            return 1

    return run
