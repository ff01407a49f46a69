"""The journal keeps records, blobs and meta values; the codec round-trips every field."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from gateway.sandbox.codec import record_from_doc, record_to_doc
from gateway.sandbox.errorfile import SisError
from gateway.sandbox.files import StoredFile
from gateway.sandbox.journal import MemoryJournal, SqliteJournal, open_journal
from gateway.sandbox.records import (
    BatchData,
    End,
    ImportOptions,
    Outcome,
    SisImportRecord,
    UploadedFile,
    WorkflowState,
)

MOMENT = datetime(2026, 11, 22, 11, 10, 26, 987654, tzinfo=UTC)


def full_record() -> SisImportRecord:
    csv = StoredFile(4, "users.csv", "users.csv", "text/csv", "a" * 40, MOMENT, b"user_id\n")
    errors = StoredFile(6, "sis_errors_attachment_2.csv", "2_x.csv", "csv", "b" * 40, MOMENT, b"e")
    return SisImportRecord(
        id=2,
        account_id="1",
        attachment_id=3,
        created_at=MOMENT,
        updated_at=MOMENT,
        workflow_state=WorkflowState.IMPORTED_WITH_MESSAGES,
        options=ImportOptions(batch_mode=True, batch_mode_term_id=5, change_threshold=10),
        upload=UploadedFile("b.zip", "application/zip", b"PK..."),
        user_id=9,
        started_at=MOMENT,
        ended_at=MOMENT,
        progress=100,
        data=BatchData((4,), ("user",), {"users": 1}, True, ("user",), {"total_state_changes": 0}),
        files=(csv,),
        outcome=Outcome(
            ("user",),
            ("user",),
            {"users": 1},
            (SisError("users.csv", "w", row=2, row_info="x\n"),),
            end=End.FINISHED,
            changes={"Course.created": 1},
        ),
        errors_due_at=None,
        errors_file=errors,
    )


def test_codec_round_trips_every_field() -> None:
    record = full_record()
    blobs = {3: record.upload.payload, 4: b"user_id\n", 6: b"e"}
    assert record_from_doc(record_to_doc(record), blobs) == record


def test_sqlite_journal_survives_reopening(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "data")
    doc = record_to_doc(full_record())
    journal.write(imports=[doc], blobs={3: b"PK..."}, meta={"counters": {"import": 3}})
    journal.write(imports=[{**doc, "progress": 50}], meta={"users": {}})
    journal.close()
    reopened = open_journal(tmp_path / "data")
    saved = reopened.load()
    assert [d["progress"] for d in saved.imports] == [50]
    assert saved.blobs == {3: b"PK..."}
    assert saved.meta == {"counters": {"import": 3}, "users": {}}
    reopened.close()
    assert (tmp_path / "data" / "canvas.db").is_file()


def test_memory_journal_keeps_nothing() -> None:
    journal = open_journal(None)
    assert isinstance(journal, MemoryJournal)
    journal.write(meta={"x": 1})
    assert journal.load().meta == {}
