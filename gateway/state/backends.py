"""The one place that chooses the store's backend from the settings.

SQLite in the data dir unless ``[cluster]`` names a database URL; then PostgreSQL.  The
daemon, ``gateway check`` and every command that reads or changes state open it here, so
they all agree on which store is "the" store.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from gateway.settings import Settings, read_secret
from gateway.state.database import Database
from gateway.state.leases import LeaseBook
from gateway.state.postgres import PostgresDatabase, StoreListener
from gateway.state.spool import Spool
from gateway.state.sqlite import SqliteDatabase
from gateway.state.store import Store


def open_database(settings: Settings) -> Database:
    """The configured database.  Raises ConfigError when the URL's secret is missing and
    StoreUnavailable when PostgreSQL cannot be reached (neither shows the URL's password)."""
    cluster = settings.cluster
    if not cluster.enabled:
        return SqliteDatabase(Spool(settings.data_dir).database)
    url = read_secret(env=cluster.database_url_env, file=cluster.database_url_file,
                      what="cluster.database_url")
    return PostgresDatabase(url.get_secret_value(), connections=cluster.database_connections,
                            idle_transaction_seconds=cluster.lease_seconds,
                            application=f"sis-gateway {cluster.node_name}")


def has_store(settings: Settings) -> bool:
    """Whether there is a store to read: always in cluster mode; the SQLite file exists."""
    return settings.cluster.enabled or Spool(settings.data_dir).database.exists()


def open_store(settings: Settings, clock: Callable[[], float] = time.time, *,
               leases: LeaseBook | None = None) -> Store:
    """The configured store, migrated to this version's schema; with ``leases`` (the
    daemon in cluster mode), its writes are fenced by this node's leases."""
    return Store(open_database(settings), clock=clock, leases=leases)


def listen(store: Store, on_payload: Callable[[str], None]) -> StoreListener | None:
    """In cluster mode, wake-ups from the other nodes' transactions (Session.notify) to
    ``on_payload`` until closed; None on SQLite (one machine wakes its runners itself)."""
    if isinstance(store.database, PostgresDatabase):
        return store.database.listen(on_payload)
    return None
