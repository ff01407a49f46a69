"""``gateway check``: does each part work as configured, from this machine, right now?

* ``config``: the file loads, every institution resolves (tokens and keys readable);
* ``store``: the state store opens (SQLite in the data dir, or ``[cluster]``'s PostgreSQL),
  at this version's schema, and takes a write transaction;
* ``canvas``: each institution's account lists its SIS imports (reachable, token accepted);
* ``smtp``: a test message goes through the configured mailer to ``--to``;
* ``sftp``: the SFTP port answers with one of the data dir's host keys (the daemon that
  vendors reach is the one using this data dir);
* ``http``: the daemon's /readyz says ready (the container's HEALTHCHECK).

Each check returns :class:`Check` results and never raises for the thing it checks; secret
values never appear in a detail.
"""

from __future__ import annotations

import asyncio
import secrets
import urllib.error
import urllib.request
from dataclasses import dataclass

import asyncssh
from pydantic import SecretStr

from gateway.forwarding.canvas import CanvasClient, CanvasError
from gateway.institutions import Institution, SandboxTarget, resolve_institutions
from gateway.intake.hostkeys import HOST_KEY_FILES, read_configured_keys
from gateway.reporting.mailer import DeliveryError, MailDirectory
from gateway.reporting.message import compose_message
from gateway.reporting.render import RenderedReport
from gateway.settings import EMBEDDED_SANDBOX, ConfigError, Settings, reachable_host
from gateway.state.backends import has_store, open_store
from gateway.state.database import StoreUnavailable
from gateway.state.spool import Spool

TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Check:
    """One result: what was checked, whether it works, and a line for people."""

    target: str
    ok: bool
    detail: str


def check_config(settings: Settings) -> list[Check]:
    """The settings loaded (the caller did that), and everything else ``serve`` checks
    before it listens passes (see :func:`gateway.daemon.resolve_startup`)."""
    from gateway.daemon import resolve_startup

    try:
        institutions, hooks, _ = resolve_startup(settings, _stand_in(settings))
    except ConfigError as error:
        return [Check("config", False, str(error))]
    names = ", ".join(i.name for i in institutions) or "none"
    hook_names = ", ".join(h.name for h in hooks)
    webhooks = f"; {_counted(len(hooks), 'webhook')}: {hook_names}" if hooks else ""
    return [Check("config", True,
                  f"{_counted(len(institutions), 'institution')}: {names}{webhooks}")]


def check_store(settings: Settings) -> Check:
    """The configured store opens, migrates to this version and takes a write transaction;
    the detail names the database (never its password)."""
    if not has_store(settings):
        return Check("store", False, f"no state.db in {settings.data_dir} (the daemon "
                                     "creates it on first start)")
    try:
        store = open_store(settings)
    except (ConfigError, StoreUnavailable) as error:
        return Check("store", False, str(error))
    try:
        with store.transaction():
            pass
    except StoreUnavailable as error:
        return Check("store", False, str(error))
    finally:
        store.close()
    return Check("store", True, f"{store.database.describe()}: writable")


def _counted(count: int, noun: str) -> str:
    """``1 institution``, ``2 institutions``: the nouns here all take an s."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def check_canvas(settings: Settings, only: str | None = None) -> list[Check]:
    """One result per institution (or just ``only``): can we list its SIS imports?"""
    try:
        institutions = [i for i in _resolved(settings) if only in (None, i.name)]
    except ConfigError as error:
        return [Check("canvas", False, str(error))]
    if not institutions:
        return [Check("canvas", False, f"no institution {only!r} in the config")]
    return [_canvas(settings, institution) for institution in institutions]


def _canvas(settings: Settings, institution: Institution) -> Check:
    target = f"canvas {institution.name}"
    if settings.institutions[institution.name].canvas.base_url == EMBEDDED_SANDBOX:
        return Check(target, True, "embedded sandbox (runs inside the daemon)")
    where = f"{institution.canvas.base_url} account {institution.canvas.account_id}"
    client = CanvasClient(institution.canvas, timeout_seconds=TIMEOUT_SECONDS)
    try:
        recent = client.list_imports(max_pages=1)
    except CanvasError as error:
        return Check(target, False, f"{where}: {error}")
    return Check(target, True, f"{where}: reachable, token accepted "
                               f"({_counted(len(recent), 'recent SIS import')} listed)")


def check_smtp(settings: Settings, to: str) -> Check:
    """Send a short test message to ``to`` through the mailer the daemon would use."""
    from gateway.daemon import build_mailer

    token = secrets.token_hex(6)
    text = (f"This is a test message from sis-gateway (check {token}).\n"
            "If you can read it, report mail reaches this address.\n")
    message = compose_message(
        RenderedReport(subject=f"sis-gateway mail check {token}", text=text,
                       html=f"<p>{text}</p>"),
        sender=settings.mail.sender, to=[to], message_id=f"<check.{token}@sis-gateway>")
    try:
        mailer = build_mailer(settings.mail, Spool(settings.data_dir))
        mailer.send(message)
    except (ConfigError, DeliveryError) as error:
        return Check("smtp", False, str(error))
    if isinstance(mailer, MailDirectory):
        where = f"written to {mailer.path_for(str(message['Message-ID']))} (no [mail.smtp])"
    else:
        smtp = settings.mail.smtp
        where = f"sent via {smtp.host}:{smtp.port}" if smtp else "sent"
    return Check("smtp", True, f"test message {token} to {to} {where}")


def check_sftp(settings: Settings) -> Check:
    """Connect to the SFTP port; pass when it presents one of this gateway's host keys (the
    configured ``host_key_files``, or the data dir's)."""
    host = reachable_host(settings.sftp.host).strip("[]")
    where = f"{host}:{settings.sftp.port}"
    try:
        known, place = _host_keys(settings)
    except ConfigError as error:
        return Check("sftp", False, f"{settings.source_of('sftp', 'host_key_files')}: {error}")
    if not known:
        return Check("sftp", False, f"no host keys in {place} "
                                    "(the daemon makes them at its first start)")
    try:
        key = asyncio.run(asyncio.wait_for(
            asyncssh.get_server_host_key(host, settings.sftp.port), TIMEOUT_SECONDS))
    except (OSError, asyncssh.Error, TimeoutError) as error:
        return Check("sftp", False, f"{where}: cannot connect ({type(error).__name__}: "
                                    f"{error})")
    if key is None:
        return Check("sftp", False, f"{where}: presented no host key")
    fingerprint = key.get_fingerprint()
    if key.public_data not in known:
        return Check("sftp", False, f"{where} presents {fingerprint}, which is not a key in "
                                    f"{place}: another server?")
    return Check("sftp", True, f"{where} presents {fingerprint} (a host key in {place})")


def check_http(settings: Settings) -> Check:
    """GET /readyz on the daemon's HTTP port; pass on 200."""
    url = f"http://{reachable_host(settings.http.host)}:{settings.http.port}/readyz"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as answer:
            body = answer.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return Check("http", False, f"{url}: {error.code} {_oneline(error.read().decode())}")
    except (OSError, urllib.error.URLError) as error:
        return Check("http", False, f"{url}: {error}")
    return Check("http", True, f"{url}: {_oneline(body)}")


def _resolved(settings: Settings) -> list[Institution]:
    return resolve_institutions(settings, _stand_in(settings))


def _stand_in(settings: Settings) -> SandboxTarget | None:
    # The embedded sandbox only exists inside the daemon; a stand-in target lets the
    # institutions that use it resolve without starting one.
    return SandboxTarget("http://127.0.0.1", SecretStr("unused")) \
        if settings.sandbox.enabled else None


def _host_keys(settings: Settings) -> tuple[set[bytes], str]:
    """The public halves of the keys the daemon serves, and where they are (no key is made
    here: a check changes nothing)."""
    if settings.sftp.host_key_files:
        keys = read_configured_keys(settings.sftp.host_key_files)
        return {key.public_data for key in keys}, "sftp.host_key_files"
    folder = Spool(settings.data_dir).host_keys
    return {asyncssh.read_private_key(folder / name).public_data
            for name in HOST_KEY_FILES.values() if (folder / name).exists()}, str(folder)


def _oneline(text: str) -> str:
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())
