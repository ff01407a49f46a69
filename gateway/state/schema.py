"""The store's schema: its steps (append only), and what a transaction may write.

Both adapters run the same steps: written in SQLite's column types, which the PostgreSQL
adapter maps to its own (``gateway.state.postgres``); data steps use SQL both accept.
"""

from __future__ import annotations

import json
from typing import Any

from gateway.state.states import (
    BATCH_TRANSITIONS,
    EXPORT_RUN_TRANSITIONS,
    NOTICE_TRANSITIONS,
    UPLOAD_TRANSITIONS,
    BatchState,
    ExportRunState,
    NoticeState,
    UploadState,
)

MIGRATIONS: tuple[str, ...] = ("""
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    institution TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    recoveries INTEGER NOT NULL DEFAULT 0,
    submitted_at REAL, import_id INTEGER, posted_at REAL, finished_at REAL,
    canvas_state TEXT, canvas_json TEXT, reason TEXT
);
CREATE INDEX IF NOT EXISTS batches_by_institution ON batches (institution, state, id);
CREATE TABLE IF NOT EXISTS uploads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    institution TEXT NOT NULL,
    filename TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    state TEXT NOT NULL,
    kind TEXT, rows INTEGER, problem TEXT,
    batch_id INTEGER REFERENCES batches(id),
    received_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS uploads_by_state ON uploads (institution, state, id);
CREATE TABLE IF NOT EXISTS notices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    institution TEXT NOT NULL,
    batch_id INTEGER REFERENCES batches(id),
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    created_at REAL NOT NULL,
    sent_at REAL, last_error TEXT
);
CREATE INDEX IF NOT EXISTS notices_due ON notices (state, next_attempt_at);
CREATE TABLE IF NOT EXISTS transitions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    entity TEXT NOT NULL, entity_id INTEGER NOT NULL,
    from_state TEXT, to_state TEXT NOT NULL,
    at REAL NOT NULL, reason TEXT
);
""", """
ALTER TABLE batches ADD COLUMN alerted_at REAL;
ALTER TABLE batches ADD COLUMN errors_csv TEXT;
""", """
ALTER TABLE notices ADD COLUMN batch_state TEXT;
ALTER TABLE notices ADD COLUMN reason TEXT;
ALTER TABLE batches ADD COLUMN trouble_since REAL;
""", """
CREATE TABLE IF NOT EXISTS findings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    upload_id INTEGER NOT NULL REFERENCES uploads(id),
    row INTEGER, column_name TEXT,
    message TEXT NOT NULL, fix TEXT NOT NULL,
    blocking INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS findings_by_upload ON findings (upload_id, id);
CREATE TABLE IF NOT EXISTS ops_alerts (
    institution TEXT PRIMARY KEY,
    last_at REAL NOT NULL,
    suppressed INTEGER NOT NULL DEFAULT 0
);
""", """
CREATE TABLE IF NOT EXISTS institution_holds (
    institution TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    held_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS transitions_by_record ON transitions (entity, entity_id);
CREATE INDEX IF NOT EXISTS transitions_by_target ON transitions (entity, to_state);
""", """
ALTER TABLE batches ADD COLUMN options TEXT;
ALTER TABLE batches ADD COLUMN row_counts TEXT;
""", """
ALTER TABLE uploads ADD COLUMN folder TEXT;
""", """
CREATE INDEX IF NOT EXISTS uploads_by_batch ON uploads (batch_id, id);
""", """
ALTER TABLE batches ADD COLUMN guard_ack INTEGER NOT NULL DEFAULT 0;
""", """
ALTER TABLE batches ADD COLUMN identity_json TEXT;
ALTER TABLE batches ADD COLUMN post_settles_at REAL;
ALTER TABLE batches ADD COLUMN reconcile_json TEXT;
ALTER TABLE batches ADD COLUMN terminal_seen_at REAL;
CREATE TABLE IF NOT EXISTS marks (
    name TEXT PRIMARY KEY,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS canvas_imports (
    institution TEXT NOT NULL,
    canvas TEXT NOT NULL,
    import_id INTEGER NOT NULL,
    batch_id INTEGER NOT NULL REFERENCES batches(id),
    attempt INTEGER NOT NULL,
    recorded_at REAL NOT NULL,
    PRIMARY KEY (institution, canvas, import_id)
);
INSERT INTO canvas_imports (institution, canvas, import_id, batch_id, attempt, recorded_at)
    SELECT institution, '', import_id, id, attempts, updated_at FROM batches
    WHERE import_id IS NOT NULL ON CONFLICT DO NOTHING;
""", """
ALTER TABLE batches ADD COLUMN number INTEGER;
UPDATE batches SET number = id;
CREATE UNIQUE INDEX IF NOT EXISTS batches_by_number ON batches (institution, number);
ALTER TABLE notices ADD COLUMN token TEXT;
CREATE TABLE IF NOT EXISTS discards (
    id INTEGER PRIMARY KEY,
    institution TEXT NOT NULL,
    filename TEXT NOT NULL,
    folder TEXT,
    size INTEGER NOT NULL,
    reason TEXT NOT NULL,
    discarded_at REAL NOT NULL,
    batch_id INTEGER REFERENCES batches(id)
);
CREATE INDEX IF NOT EXISTS discards_by_institution ON discards (institution, batch_id, id);
""", """
ALTER TABLE notices ADD COLUMN prepare_failures INTEGER NOT NULL DEFAULT 0;
""", """
CREATE TABLE IF NOT EXISTS hooks (
    name TEXT PRIMARY KEY,
    cursor INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS hook_deliveries (
    hook TEXT NOT NULL,
    notice_id INTEGER NOT NULL REFERENCES notices(id),
    event TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    created_at REAL NOT NULL,
    sent_at REAL,
    last_error TEXT,
    PRIMARY KEY (hook, notice_id)
);
CREATE INDEX IF NOT EXISTS hook_deliveries_due ON hook_deliveries (state, next_attempt_at);
""", """
CREATE TABLE IF NOT EXISTS export_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    institution TEXT NOT NULL,
    export TEXT NOT NULL,
    report TEXT NOT NULL,
    slot TEXT NOT NULL,
    trigger TEXT NOT NULL,
    state TEXT NOT NULL,
    parameters TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    trouble_since REAL,
    starting_at REAL,
    report_id INTEGER,
    canvas_state TEXT,
    file_name TEXT,
    size INTEGER,
    sha256 TEXT,
    published_at REAL,
    reason TEXT,
    UNIQUE (institution, export, slot)
);
CREATE INDEX IF NOT EXISTS export_runs_by_state ON export_runs (state, next_attempt_at);
ALTER TABLE notices ADD COLUMN export_run_id INTEGER REFERENCES export_runs(id);
""", """
CREATE TABLE IF NOT EXISTS waiting_totals (
    institution TEXT PRIMARY KEY,
    uploads INTEGER NOT NULL,
    bytes INTEGER NOT NULL
);
INSERT INTO waiting_totals (institution, uploads, bytes)
    SELECT institution, count(*), sum(size) FROM uploads WHERE state = 'received'
    GROUP BY institution;
CREATE INDEX IF NOT EXISTS uploads_by_name ON uploads (institution, state, filename, id);
""", """
ALTER TABLE batches ADD COLUMN purged_at REAL;
CREATE INDEX IF NOT EXISTS batches_unpurged ON batches (id) WHERE purged_at IS NULL;
CREATE INDEX IF NOT EXISTS batches_by_state ON batches (state, id);
""", """
ALTER TABLE uploads ADD COLUMN payload TEXT;
CREATE INDEX IF NOT EXISTS uploads_by_payload ON uploads (payload) WHERE payload IS NOT NULL;
""", """
CREATE TABLE IF NOT EXISTS delivery_marks (
    institution TEXT NOT NULL PRIMARY KEY,
    released_through INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS upload_refusals (
    upload_id INTEGER NOT NULL PRIMARY KEY,
    institution TEXT NOT NULL,
    problem TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS upload_refusals_by_institution ON upload_refusals (institution);
""", """
CREATE TABLE IF NOT EXISTS open_uploads (
    node TEXT NOT NULL,
    token TEXT NOT NULL,
    institution TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (node, token)
);
CREATE INDEX IF NOT EXISTS open_uploads_by_institution ON open_uploads (institution, expires_at);
""", """
CREATE TABLE IF NOT EXISTS login_failures (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    address TEXT NOT NULL,
    node TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_by_address ON login_failures (address, at);
CREATE INDEX IF NOT EXISTS login_failures_by_time ON login_failures (at);
CREATE TABLE IF NOT EXISTS address_bans (
    address TEXT NOT NULL PRIMARY KEY,
    banned_until REAL NOT NULL,
    bans INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS address_bans_by_expiry ON address_bans (banned_until);
CREATE TABLE IF NOT EXISTS live_sessions (
    node TEXT NOT NULL,
    token TEXT NOT NULL,
    institution TEXT NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (node, token)
);
CREATE INDEX IF NOT EXISTS live_sessions_by_institution ON live_sessions (institution, expires_at);
""", """
CREATE INDEX IF NOT EXISTS uploads_by_arrival ON uploads (institution, received_at);
CREATE TABLE IF NOT EXISTS hidden_uploads (
    upload_id INTEGER NOT NULL PRIMARY KEY,
    institution TEXT NOT NULL,
    hidden_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS hidden_uploads_by_time ON hidden_uploads (hidden_at);
""", """
CREATE TABLE IF NOT EXISTS nodes (
    name TEXT PRIMARY KEY,
    started_at REAL NOT NULL,
    heartbeat_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS leases (
    institution TEXT PRIMARY KEY,
    owner TEXT,
    epoch INTEGER NOT NULL,
    expires_at REAL NOT NULL
);
""", """
CREATE TABLE IF NOT EXISTS metric_counters (
    family TEXT NOT NULL,
    institution TEXT NOT NULL,
    export TEXT NOT NULL DEFAULT '',
    label TEXT NOT NULL DEFAULT '',
    value REAL NOT NULL,
    PRIMARY KEY (family, institution, export, label)
);
INSERT INTO metric_counters (family, institution, value)
    SELECT 'uploads', institution, COUNT(*) FROM uploads GROUP BY institution;
INSERT INTO metric_counters (family, institution, value)
    SELECT 'upload_bytes', institution, SUM(size) FROM uploads GROUP BY institution;
INSERT INTO metric_counters (family, institution, value)
    SELECT 'last_upload', institution, MAX(received_at) FROM uploads GROUP BY institution;
INSERT INTO metric_counters (family, institution, label, value)
    SELECT 'batches_finished', institution, state, COUNT(*) FROM batches
    WHERE state IN ('imported', 'imported_with_messages', 'rejected', 'skipped')
    GROUP BY institution, state;
INSERT INTO metric_counters (family, institution, label, value)
    SELECT 'imports', b.institution, t.to_state, COUNT(*) FROM transitions t
    JOIN batches b ON b.id = t.entity_id WHERE t.entity = 'batch'
    AND t.to_state IN ('imported', 'imported_with_messages', 'failed')
    GROUP BY b.institution, t.to_state;
INSERT INTO metric_counters (family, institution, value)
    SELECT 'last_success', institution, MAX(finished_at) FROM batches
    WHERE state IN ('imported', 'imported_with_messages') AND finished_at IS NOT NULL
    GROUP BY institution;
INSERT INTO metric_counters (family, institution, label, value)
    WITH observed (family, institution, seconds) AS (
        SELECT 'upload_to_post', b.institution, b.posted_at - MIN(u.received_at)
        FROM batches b JOIN uploads u ON u.batch_id = b.id WHERE b.posted_at IS NOT NULL
        GROUP BY b.id, b.institution, b.posted_at
        UNION ALL
        SELECT 'post_to_finish', institution, finished_at - posted_at FROM batches
        WHERE posted_at IS NOT NULL AND finished_at >= posted_at
    ), bounds (family, label, upper) AS (VALUES
        ('upload_to_post', '5.0', 5), ('upload_to_post', '15.0', 15),
        ('upload_to_post', '30.0', 30), ('upload_to_post', '60.0', 60),
        ('upload_to_post', '120.0', 120), ('upload_to_post', '300.0', 300),
        ('upload_to_post', '600.0', 600), ('upload_to_post', '1800.0', 1800),
        ('upload_to_post', '3600.0', 3600), ('upload_to_post', '7200.0', 7200),
        ('upload_to_post', '21600.0', 21600), ('upload_to_post', '86400.0', 86400),
        ('upload_to_post', '+Inf', 1e308),
        ('post_to_finish', '1.0', 1), ('post_to_finish', '5.0', 5),
        ('post_to_finish', '15.0', 15), ('post_to_finish', '30.0', 30),
        ('post_to_finish', '60.0', 60), ('post_to_finish', '120.0', 120),
        ('post_to_finish', '300.0', 300), ('post_to_finish', '600.0', 600),
        ('post_to_finish', '1800.0', 1800), ('post_to_finish', '3600.0', 3600),
        ('post_to_finish', '7200.0', 7200), ('post_to_finish', '14400.0', 14400),
        ('post_to_finish', '+Inf', 1e308)
    )
    SELECT family, institution, bucket, COUNT(*) FROM (
        SELECT o.family, o.institution, (SELECT b.label FROM bounds b WHERE b.family = o.family
            AND b.upper >= o.seconds ORDER BY b.upper LIMIT 1) AS bucket FROM observed o
    ) AS bucketed GROUP BY family, institution, bucket
    UNION ALL
    SELECT family, institution, 'sum', SUM(CASE WHEN seconds > 0 THEN seconds ELSE 0 END)
    FROM observed GROUP BY family, institution;
INSERT INTO metric_counters (family, institution, export, label, value)
    SELECT 'export_runs_ended', institution, export, state, COUNT(*) FROM export_runs
    WHERE state IN ('published', 'failed') GROUP BY institution, export, state;
INSERT INTO metric_counters (family, institution, export, value)
    SELECT 'export_last_published', institution, export, MAX(published_at) FROM export_runs
    WHERE published_at IS NOT NULL GROUP BY institution, export;
""", """
CREATE INDEX IF NOT EXISTS uploads_by_state_only ON uploads (state, id);
""")
"""Schema steps; the ``schema_version`` table counts those applied (``PRAGMA user_version``
before it existed).  Append only, and additive: a node one version behind must still run on
the schema one step ahead (rolling upgrades).  A step that adds running totals fills them
from the history once, in the step itself (under the migration's lock): ``waiting_totals``,
and ``metric_counters`` (``gateway.state.counters``; its histogram bounds are written out as
they were then, since a step never changes; the scrape reads any bound stored)."""

TABLES: dict[str, tuple[str, dict[Any, frozenset[Any]]]] = {
    "upload": ("uploads", UPLOAD_TRANSITIONS),
    "batch": ("batches", BATCH_TRANSITIONS),
    "notice": ("notices", NOTICE_TRANSITIONS),
    "export_run": ("export_runs", EXPORT_RUN_TRANSITIONS),
}

WRITABLE_COLUMNS = frozenset({
    "kind", "rows", "problem", "batch_id", "next_attempt_at", "attempts", "recoveries",
    "submitted_at", "import_id", "posted_at", "finished_at", "canvas_state", "canvas_json",
    "reason", "sent_at", "last_error", "alerted_at", "errors_csv", "trouble_since",
    "guard_ack", "identity_json", "post_settles_at", "reconcile_json", "terminal_seen_at",
    "prepare_failures", "starting_at", "report_id", "file_name", "size", "sha256",
    "published_at", "purged_at",
})

State = UploadState | BatchState | NoticeState | ExportRunState


def column_value(value: Any) -> Any:
    """A field as stored: dicts and lists as JSON text, the rest as given."""
    return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else value
