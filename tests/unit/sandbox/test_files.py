"""Attachment JSON, download URLs and the errors_attachment download token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.sandbox.files import (
    DOWNLOAD_PATH,
    StoredFile,
    download_path,
    download_token,
    errors_file_name,
    file_json,
    new_uuid,
    token_allows,
)

MOMENT = datetime(2026, 11, 22, 11, 10, 26, 987654, tzinfo=UTC)
SECRET = b"k" * 32


def test_uuid_is_40_alphanumerics_and_fresh() -> None:
    uuid = new_uuid()
    assert len(uuid) == 40
    assert uuid.isalnum()
    assert new_uuid() != uuid


def test_file_json_has_canvas_keys_in_order() -> None:
    file = StoredFile(7, "users.csv", "users.csv", "text/csv", "u" * 40, MOMENT, b"abc")
    body = file_json(file, "http://h:1")
    assert list(body) == [
        "id", "uuid", "folder_id", "display_name", "filename", "upload_status",
        "content-type", "url", "size", "created_at", "updated_at", "unlock_at", "locked",
        "hidden", "lock_at", "hidden_for_user", "thumbnail_url", "modified_at", "mime_class",
        "media_entry_id", "category", "locked_for_user",
    ]  # fmt: skip
    assert body["url"] == f"http://h:1/files/7/download?download_frd=1&verifier={'u' * 40}"
    assert (body["size"], body["created_at"]) == (3, "2026-11-22T11:10:26Z")
    assert (body["mime_class"], body["category"]) == ("file", "uncategorized")
    path, _, _ = download_path(file, "v").partition("?")
    assert DOWNLOAD_PATH.fullmatch(path)


def test_errors_file_name_is_the_temp_file_name() -> None:
    name = errors_file_name(12, MOMENT)
    assert name.startswith("12_processing_warnings_and_errors2026-11-22+111026+UTC20261122-")
    assert name.endswith(".csv")


def test_download_tokens_are_signed_scoped_and_expire_after_an_hour() -> None:
    token = download_token(SECRET, 7, MOMENT)
    assert token.count(".") == 2
    assert token_allows(SECRET, token, 7, MOMENT)
    assert token_allows(SECRET, token, 7, MOMENT + timedelta(minutes=59))
    assert not token_allows(SECRET, token, 7, MOMENT + timedelta(hours=1, seconds=1))
    assert not token_allows(SECRET, token, 8, MOMENT)
    assert not token_allows(b"other" * 8, token, 7, MOMENT)
    assert not token_allows(SECRET, token[:-2] + "xx", 7, MOMENT)
    assert not token_allows(SECRET, "not-a-token", 7, MOMENT)
