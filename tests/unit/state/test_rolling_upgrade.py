"""Rolling upgrades: nodes of two versions share one database while the new one migrates.

The schema steps only add (tables, nullable or defaulted columns, indexes, backfills), so the
previous version's statements, which name their columns, still run on the new schema; and a
node whose code knows fewer steps than the database holds starts and serves instead of
refusing or undoing anything."""

from __future__ import annotations

import re

import pytest

from gateway.state import schema as schema_module
from gateway.state.states import BatchState, UploadState
from tests.conftest import StoreMaker
from tests.unit.history import Clock

ADDITIVE = [
    re.compile(r"CREATE TABLE IF NOT EXISTS \w+ \(", re.IGNORECASE),
    re.compile(r"CREATE (UNIQUE )?INDEX IF NOT EXISTS \w+ ON \w+", re.IGNORECASE),
    re.compile(r"ALTER TABLE \w+ ADD COLUMN \w+ \w+( REFERENCES \w+\(\w+\))?"
               r"( NOT NULL DEFAULT \S+| DEFAULT \S+)?$", re.IGNORECASE),
    re.compile(r"(INSERT|UPDATE) ", re.IGNORECASE),  # backfills of what was added
]


def _statements(step: str) -> list[str]:
    return [" ".join(part.split()) for part in step.split(";") if part.strip()]


def test_every_schema_step_after_the_first_only_adds() -> None:
    for number, step in enumerate(schema_module.MIGRATIONS[1:], start=2):
        for statement in _statements(step):
            assert any(form.match(statement) for form in ADDITIVE), (
                f"schema step {number} is not additive (a node one version behind would "
                f"break during a rolling upgrade): {statement}")


def test_the_additive_check_refuses_what_would_break_an_older_node() -> None:
    for breaking in ("ALTER TABLE uploads DROP COLUMN folder",
                     "ALTER TABLE batches RENAME COLUMN reason TO why",
                     "ALTER TABLE uploads ADD COLUMN token TEXT NOT NULL",
                     "DROP INDEX uploads_by_state", "DROP TABLE marks"):
        assert not any(form.match(breaking) for form in ADDITIVE), breaking


def test_a_node_that_knows_fewer_steps_keeps_serving_beside_the_migrated_one(
        make_store: StoreMaker, monkeypatch: pytest.MonkeyPatch) -> None:
    steps = schema_module.MIGRATIONS
    with monkeypatch.context() as older:
        older.setattr(schema_module, "MIGRATIONS", steps[:-1])
        old = make_store(Clock())  # the previous version's node, first on the database
    new = make_store(Clock())  # the upgraded node migrates the last step meanwhile
    with monkeypatch.context() as older:
        older.setattr(schema_module, "MIGRATIONS", steps[:-1])
        restarted = make_store(Clock())  # an old node starting on the newer schema
    for node in (old, restarted, new):
        with node.transaction() as txn:
            upload = txn.record_upload("alpha", "users.csv", 10, "0" * 64)
            batch = txn.create_batch("alpha")
            txn.move("upload", upload, UploadState.RECEIVED, UploadState.ACCEPTED,
                     batch_id=batch, kind="user", rows=1)
            txn.move("batch", batch, BatchState.OPEN, BatchState.READY)
    assert [b.number for b in new.batches(institution="alpha")] == [1, 2, 3]
    assert len(old.uploads(state=UploadState.ACCEPTED)) == 3
