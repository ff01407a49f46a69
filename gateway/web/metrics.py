"""Prometheus metrics: event counters the components increment, plus the store read at scrape.

Everything that is *state* (uploads and bytes, batches by state, imports by outcome, queue
depth and age, durations, the outbox) is read from the store when Prometheus scrapes (see
:mod:`gateway.web.collector`), so it survives restarts and cannot drift from the truth.
Only *events* that leave no record live here as counters, incremented where they happen:

* ``SFTP_AUTH_FAILURES.labels(method="password"|"publickey").inc()`` on a refused login;
* ``SFTP_BANS.inc()`` when a peer is banned for too many failures;
* ``SFTP_PASSWORD_CHECKS_REFUSED.inc()`` when a password check is not run because too many
  wait (the client is told to try again; not a failed login);
* ``UPLOADS_REFUSED.labels(reason="disk_space"|"limit").inc()`` when intake turns an
  upload away before receiving it.

The counters are process-wide (one gateway per process) and registered into each registry
that :func:`metrics_registry` builds, so tests can build many registries side by side.
Label values are fixed words chosen by code, never usernames or peers, which an attacker
could otherwise use to grow the series without bound.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from gateway.state.store import Store
from gateway.web.collector import StoreCollector

SFTP_AUTH_FAILURES = Counter("gateway_sftp_auth_failures", "SFTP logins refused.",
                             ["method"], registry=None)
SFTP_BANS = Counter("gateway_sftp_bans", "SFTP peers banned after repeated login failures.",
                    registry=None)
SFTP_PASSWORD_CHECKS_REFUSED = Counter(
    "gateway_sftp_password_checks_refused",
    "SFTP password checks not run because too many were waiting (not failed logins).",
    registry=None)
UPLOADS_REFUSED = Counter("gateway_sftp_uploads_refused",
                          "Uploads refused before they were received (disk floor, limits).",
                          ["reason"], registry=None)

EVENT_COUNTERS = (SFTP_AUTH_FAILURES, SFTP_BANS, SFTP_PASSWORD_CHECKS_REFUSED, UPLOADS_REFUSED)

CONTENT_TYPE = CONTENT_TYPE_LATEST
"""The media type of :func:`exposition` output (the Prometheus text format)."""


def metrics_registry(store: Store, institutions: Callable[[], Sequence[str]],
                     data_dir: Path, floor_bytes: int) -> CollectorRegistry:
    """A registry with the event counters and a :class:`StoreCollector` over ``store``."""
    registry = CollectorRegistry(auto_describe=False)
    for counter in EVENT_COUNTERS:
        registry.register(counter)
    registry.register(StoreCollector(store, institutions, data_dir, floor_bytes))
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """The registry in Prometheus text format."""
    return generate_latest(registry)
