"""The intake's operator commands: ``gateway host-keys`` and ``gateway reload``."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable

from gateway.instance import InstanceError, signal_running
from gateway.intake.hostkeys import fingerprints, known_hosts_lines, server_host_keys
from gateway.settings import ConfigError, Settings
from gateway.state.spool import Spool

AddCommon = Callable[[argparse.ArgumentParser], None]
SettingsFor = Callable[[argparse.Namespace], Settings]


def add_intake_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser],
                       add_common: AddCommon, settings_for: SettingsFor) -> None:
    """Add ``host-keys`` and ``reload`` to the ``gateway`` command."""
    keys = commands.add_parser(
        "host-keys", help="print the SSH host key fingerprints vendors pin (made if missing)")
    keys.add_argument(
        "--known-hosts", metavar="HOST[:PORT]",
        help="print lines to paste into a client's known_hosts for reaching the gateway as "
             "HOST on PORT (default: the configured SFTP port), e.g. sftp.example.edu:2222")
    add_common(keys)
    keys.set_defaults(handler=lambda args: _host_keys(settings_for(args), args.known_hosts))
    reload = commands.add_parser(
        "reload", help="make the running gateway re-read its institutions (keys, passwords, "
                       "limits) without dropping sessions; same as SIGHUP")
    add_common(reload)
    reload.set_defaults(handler=lambda args: _reload(settings_for(args)))


def _host_keys(settings: Settings, known_hosts: str | None) -> int:
    """Print one line per host key: algorithm, SHA256 fingerprint, known_hosts key; or with
    ``known_hosts``, the known_hosts lines themselves."""
    try:
        keys = server_host_keys(settings.sftp, Spool(settings.data_dir).host_keys)
    except ConfigError as error:
        print(f"gateway: {settings.source_of('sftp', 'host_key_files')}: {error}",
              file=sys.stderr)
        return 2
    if known_hosts is None:
        lines = fingerprints(keys)
    else:
        try:
            host, port = _host_port(known_hosts, settings.sftp.port)
        except ValueError as error:
            print(f"gateway: --known-hosts {known_hosts!r}: {error}", file=sys.stderr)
            return 2
        lines = known_hosts_lines(keys, host, port)
    print("\n".join(lines))
    return 0


def _host_port(text: str, default_port: int) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]`` or ``[v6]:port`` as (host, port)."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":") if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            raise ValueError("write an IPv6 address as [address]:port")
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, ""
    if not host or (port and not port.isdigit()) or not 0 < int(port or default_port) < 65536:
        raise ValueError("expected HOST or HOST:PORT with PORT 1-65535")
    return host, int(port or default_port)


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
