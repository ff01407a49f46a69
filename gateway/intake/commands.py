"""The intake's operator commands: ``gateway host-keys`` and ``gateway reload``."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable

from gateway.instance import InstanceError, signal_running
from gateway.intake.hostkeys import fingerprints
from gateway.settings import Settings
from gateway.state.spool import Spool

AddCommon = Callable[[argparse.ArgumentParser], None]
SettingsFor = Callable[[argparse.Namespace], Settings]


def add_intake_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser],
                       add_common: AddCommon, settings_for: SettingsFor) -> None:
    """Add ``host-keys`` and ``reload`` to the ``gateway`` command."""
    keys = commands.add_parser(
        "host-keys", help="print the SSH host key fingerprints vendors pin (made if missing)")
    add_common(keys)
    keys.set_defaults(handler=lambda args: _host_keys(settings_for(args)))
    reload = commands.add_parser(
        "reload", help="make the running gateway re-read its institutions (keys, passwords, "
                       "limits) without dropping sessions; same as SIGHUP")
    add_common(reload)
    reload.set_defaults(handler=lambda args: _reload(settings_for(args)))


def _host_keys(settings: Settings) -> int:
    """Print one line per host key: algorithm, SHA256 fingerprint, known_hosts key."""
    for line in fingerprints(Spool(settings.data_dir).host_keys):
        print(line)
    return 0


def _reload(settings: Settings) -> int:
    """SIGHUP the gateway running on the data dir (it logs whether the new config took)."""
    try:
        pid = signal_running(settings.data_dir, signal.SIGHUP)
    except InstanceError as error:
        print(f"gateway: {error}", file=sys.stderr)
        return 1
    print(f"reload requested from the gateway (pid {pid}); its log says whether the "
          "configuration was taken or refused")
    return 0
