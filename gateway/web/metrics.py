"""Prometheus metrics: event counters the components increment, plus the store read at scrape.

Everything that is *state* (uploads and bytes, batches by state, imports by outcome, queue
depth and age, last upload and last success, durations, the outbox) is read from the store
when Prometheus scrapes (see :mod:`gateway.web.collector`), so it survives restarts and
cannot drift from the truth.  Only *events* that leave no record live here, reported where
they happen through the functions below (which also feed :data:`SFTP_ACTIVITY`, the status
page's alerts):

* :func:`login_refused` on a refused login (``gateway_sftp_auth_failures_total{method}``);
* :func:`address_banned` when a peer is banned for too many failures
  (``gateway_sftp_bans_total``);
* :func:`login_accepted` on a successful login (``gateway_sftp_logins_total{institution}``);
* :func:`session_opened` / :func:`session_closed` around an admitted session
  (``gateway_sftp_sessions{institution}``, a gauge);
* ``SFTP_PASSWORD_CHECKS_REFUSED.inc()`` when a password check is not run because too many
  wait (the client is told to try again; not a failed login);
* ``SFTP_PROXY_HEADERS_REFUSED.inc()`` when a connection is closed for its PROXY header
  (``gateway_sftp_proxy_headers_refused_total``);
* ``UPLOADS_REFUSED.labels(reason="disk_space"|"limit").inc()`` when intake turns an
  upload away before receiving it;
* ``FILES_REJECTED.labels(code=...).inc()`` when the sorter rejects a received file.

The counters are process-wide (one gateway per process) and registered into each registry
that :func:`metrics_registry` builds, so tests can build many registries side by side.
Label values are fixed words chosen by code or configured institution names, never
usernames or peers, which an attacker could otherwise use to grow the series without
bound.  ``_created`` series are switched off for the whole process: they double every
counter family and no alert uses them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from gateway.state.protocols import StateStore
from gateway.web.activity import SftpActivity
from gateway.web.collector import StoreCollector
from gateway.web.export_metrics import ExportCollector

disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in prometheus_client


def _package_version() -> str:
    try:
        return version("sis-gateway")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


VERSION = _package_version()
"""The installed sis-gateway version (``gateway_build_info``, the status page)."""

SFTP_AUTH_FAILURES = Counter("gateway_sftp_auth_failures", "SFTP logins refused.",
                             ["method"], registry=None)
SFTP_BANS = Counter("gateway_sftp_bans", "SFTP peers banned after repeated login failures.",
                    registry=None)
SFTP_PASSWORD_CHECKS_REFUSED = Counter(
    "gateway_sftp_password_checks_refused",
    "SFTP password checks not run because too many were waiting (not failed logins).",
    registry=None)
SFTP_PROXY_HEADERS_REFUSED = Counter(
    "gateway_sftp_proxy_headers_refused",
    "SFTP connections closed for a PROXY header missing, malformed, late or from outside "
    "proxy_networks.", registry=None)
UPLOADS_REFUSED = Counter("gateway_sftp_uploads_refused",
                          "Uploads refused before they were received (disk floor, limits).",
                          ["reason"], registry=None)
SFTP_LOGINS = Counter("gateway_sftp_logins", "SFTP logins accepted.", ["institution"],
                      registry=None)
SFTP_SESSIONS = Gauge("gateway_sftp_sessions", "SFTP sessions open now (logged in, admitted).",
                      ["institution"], registry=None)
FILES_REJECTED = Counter("gateway_files_rejected",
                         "Received files the sorter rejected, by the code of the reason (a "
                         "finding code, or refused, no_csv, replaced, same_kind).", ["code"],
                         registry=None)
BUILD_INFO = Gauge("gateway_build_info", "Always 1; the version label names the build.",
                   ["version"], registry=None)
BUILD_INFO.labels(version=VERSION).set(1)

EVENT_METRICS = (SFTP_AUTH_FAILURES, SFTP_BANS, SFTP_PASSWORD_CHECKS_REFUSED,
                 SFTP_PROXY_HEADERS_REFUSED, UPLOADS_REFUSED,
                 SFTP_LOGINS, SFTP_SESSIONS, FILES_REJECTED, BUILD_INFO)
"""Process-wide metrics kept in memory, registered into every registry."""

SFTP_ACTIVITY = SftpActivity()
"""The process's recent failed logins and bans, for the status page's alerts."""

CONTENT_TYPE = CONTENT_TYPE_LATEST
"""The media type of :func:`exposition` output (the Prometheus text format)."""


def metrics_registry(store: StateStore, institutions: Callable[[], Sequence[str]],
                     data_dir: Path, floor_bytes: int,
                     exports: Callable[[], Mapping[str, tuple[str, ...]]] = dict,
                     ) -> CollectorRegistry:
    """A registry with the event counters, build info, a :class:`StoreCollector` and an
    :class:`ExportCollector` over ``store`` and the process's own metrics (``process_*``:
    CPU, memory, open files, start time; ``python_info``)."""
    registry = CollectorRegistry(auto_describe=False)
    for metric in EVENT_METRICS:
        registry.register(metric)
    registry.register(StoreCollector(store, institutions, data_dir, floor_bytes))
    registry.register(ExportCollector(store, exports))
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry


def login_refused(method: str) -> None:
    """A login by ``method`` ("password" or "publickey") was refused."""
    SFTP_AUTH_FAILURES.labels(method=method).inc()
    SFTP_ACTIVITY.login_failed()


def address_banned(seconds: float) -> None:
    """An address is banned for ``seconds`` after repeated failures."""
    SFTP_BANS.inc()
    SFTP_ACTIVITY.banned(seconds)


def login_accepted(institution: str) -> None:
    """``institution``'s account logged in (its session may still be refused)."""
    SFTP_LOGINS.labels(institution=institution).inc()


def session_opened(institution: str) -> None:
    """``institution`` has one more admitted session; pair with :func:`session_closed`."""
    SFTP_SESSIONS.labels(institution=institution).inc()


def session_closed(institution: str) -> None:
    """An admitted session of ``institution`` ended."""
    SFTP_SESSIONS.labels(institution=institution).dec()


def exposition(registry: CollectorRegistry) -> bytes:
    """The registry in Prometheus text format."""
    return generate_latest(registry)
