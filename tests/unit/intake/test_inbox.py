"""The virtual inbox: each upload folder shows its own files; folders show while something
waits in them or this session made them."""

from __future__ import annotations

from gateway.intake.inbox import Entry, listing, subfolders, view
from gateway.state.records import UploadRecord
from gateway.state.states import UploadState


def _upload(upload_id: int, name: str, folder: str | None) -> UploadRecord:
    return UploadRecord(id=upload_id, institution="alpha", filename=name, size=upload_id,
                        sha256="0" * 64, state=UploadState.RECEIVED, kind=None, rows=None,
                        problem=None, batch_id=None, received_at=1.0, folder=folder)


def test_the_same_name_in_two_folders_is_two_entries() -> None:
    shown = view([_upload(1, "users.csv", None), _upload(2, "users.csv", "batch/fall")],
                 [], [Entry("users.csv.part", 0, 2.0, folder="batch/fall")], set())
    assert sorted(shown) == ["/inbox/batch/fall/users.csv", "/inbox/batch/fall/users.csv.part",
                             "/inbox/users.csv"]
    assert shown["/inbox/batch/fall/users.csv"].upload_id == 2


def test_each_folder_lists_its_subfolders_then_its_files() -> None:
    entries = [Entry("users.csv", 1, 1.0, 1), Entry("a.csv", 1, 1.0, 2, "batch/fall"),
               Entry("b.csv", 1, 1.0, 3, "diff/nightly")]
    made = {"batch/spring", "diff"}
    assert subfolders(None, entries, made) == ["batch", "diff"]
    assert subfolders("batch", entries, made) == ["fall", "spring"]
    assert subfolders("diff", entries, made) == ["nightly"]
    assert subfolders("batch/fall", entries, made) == []
    assert [name.filename for name in listing(None, entries, made)] == [
        b"batch", b"diff", b"users.csv"]
    assert [name.filename for name in listing("batch/fall", entries, made)] == [b"a.csv"]
    assert [name.filename for name in listing("batch", entries, set())] == [b"fall"]
    assert listing("batch/spring", entries, made) == []
