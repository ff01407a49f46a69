"""The embedded defaults: a self-contained demo that needs no Canvas and no mail server.

SFTP on 127.0.0.1:2222 with institution ``demo`` / password ``demo``, the Canvas sandbox in
the same process, reports written as .eml files under ``<data>/mail`` and to the SFTP
``/reports`` folder, and batches formed after three quiet seconds.  The institution has two
exports: a nightly provisioning report (also run at start) and a SIS export after each
successful import, both delivered into its ``/outbox``.

Started so, the daemon logs the ``demo mode`` event (where to connect, with what login); a
person at a terminal also gets :data:`BANNER`, while a log collector only ever sees JSON.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from argon2 import PasswordHasher

from gateway.settings import EMBEDDED_SANDBOX, Settings
from gateway.settings_files import settings_from_mapping

DEMO_USER = "demo"
DEMO_PASSWORD = "demo"  # noqa: S105 - the documented demo login, loopback only
DEMO_LOGIN_HINT = "the password is the user name (documented in README)"
"""What the log says of the demo password: passwords never appear in logs."""

log = logging.getLogger(__name__)

BANNER = """\
==========================================================================================
 DEMO MODE: no config file given, so the gateway runs on its embedded defaults.
 SFTP listens on 127.0.0.1:{port} ONLY, with the well-known login demo / demo.
 Canvas is the built-in simulator; reports go to {mail} and to /reports over SFTP;
 Canvas account reports (exports) arrive in /outbox over SFTP.
 Try:  sftp -P {port} demo@127.0.0.1   then   put config/samples/users.csv inbox/
 For real use: gateway example-config > gateway.toml, edit it, then pass --config.
==========================================================================================
"""


def announce_demo(*, host: str, port: int, mail: Path, http_url: str | None,
                  terminal: TextIO | None = None) -> None:
    """Log the ``demo mode`` event: where SFTP listens, the login, where reports go; print
    :data:`BANNER` too when ``terminal`` (default: stderr) is a terminal."""
    log.warning("demo mode", extra={
        "sftp_host": host, "sftp_port": port, "user": DEMO_USER,
        "login_hint": DEMO_LOGIN_HINT, "mail": str(mail), "http_url": http_url,
        "try": f"sftp -P {port} {DEMO_USER}@{host}",
        "note": "no config file given: embedded defaults, loopback only, well-known login; "
                "for real use pass --config (`gateway example-config` prints a commented one)"})
    out = sys.stderr if terminal is None else terminal
    if out.isatty():
        print(BANNER.format(port=port, mail=mail), file=out, flush=True)


@functools.cache
def _demo_password_hash() -> str:
    """The demo login's argon2 hash, made once per process: hashing is most of what a
    ``gateway`` command without ``--config`` spends (about 0.2 s), and the password is
    public."""
    return PasswordHasher().hash(DEMO_PASSWORD)


def demo_settings(data_dir: Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings for the demo, keeping its data in ``data_dir``; ``GATEWAY_...`` still apply."""
    raw: dict[str, Any] = {
        "data_dir": str(data_dir),
        "demo": True,
        "sftp": {"host": "127.0.0.1", "port": 2222},
        "batching": {"quiet_seconds": 3.0},
        "forwarding": {"poll_initial_seconds": 0.5, "poll_max_seconds": 5.0,
                       "retry_initial_seconds": 2.0, "retry_max_seconds": 60.0},
        "sandbox": {"enabled": True, "processing_seconds": 1.0},
        "institutions": {
            DEMO_USER: {
                "password_hash": _demo_password_hash(),
                "canvas": {"base_url": EMBEDDED_SANDBOX, "account_id": "1"},
                "report_to": ["registrar@demo.example"],
                "time_zone": "America/Chicago",
                "exports": [
                    # Nightly at 02:00 Chicago time, and once at start so the demo shows
                    # the file in /outbox/provisioning_csv within seconds.
                    {"report": "provisioning_csv", "csvs": ["users", "courses", "sections",
                                                            "enrollments"],
                     "schedule": "0 2 * * *", "run_at_start": True},
                    # After each successful import: the SIS export of the enrollments.
                    {"report": "sis_export_csv", "csvs": ["enrollments"],
                     "after_import": True},
                ],
            }
        },
    }
    return settings_from_mapping(raw, source="embedded demo defaults", environ=environ)
