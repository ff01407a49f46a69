"""What a read costs on SQLite, counted in VM steps (which grow with the rows a statement
visits, and not with the machine's load: unlike a timing, a count that cannot flake)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from gateway.state.sqlite import SqliteDatabase
from gateway.state.store import Store


def sqlite_of(store: Store) -> SqliteDatabase:
    """The SQLite adapter under ``store`` (these counts are SQLite's own)."""
    assert isinstance(store.database, SqliteDatabase)
    return store.database


def vm_steps(store: Store, read: Callable[[], object]) -> int:
    """The VM steps this thread's connection to ``store`` runs during ``read()``."""
    counted = [0]

    def tick() -> int:
        counted[0] += 1
        return 0

    connection: sqlite3.Connection = sqlite_of(store)._connection()
    connection.set_progress_handler(tick, 1)
    try:
        read()
    finally:
        connection.set_progress_handler(None, 1)
    return counted[0]
