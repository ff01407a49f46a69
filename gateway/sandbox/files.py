"""Attachments a SIS import owns, as Canvas stores and shows them (Canvas File objects).

Canvas keeps every file of a batch as an Attachment whose context is the SisBatch:

- the uploaded file (never shown by the API: not in the POST answer, never in a list);
- one attachment per non-empty file extracted from an uploaded zip, named by the member's
  base name (`ImportRefactored#create_batch_attachment`), plus a `<name>_filtered.csv` copy
  of a users file that carries `password` / `ssha_password` columns (`create_filtered_csv`);
- the error file `sis_errors_attachment_<batch id>.csv`, written by `write_errors_to_file`.

`file_json` is `Api::V1::Attachment#attachment_json` with `skip_permission_checks: true`
(how `lib/api/v1/sis_import.rb` calls it).  The `url` downloads the file with a verifier:
the attachment's `uuid` for csv_attachments, a JWT valid for one hour for errors_attachment
(`sis_import_error_attachment_token`); `download_token` / `token_allows` make and check the
latter, signed with the sandbox's secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

ERRORS_CSV_TYPE = "csv"  # `Canvas::UploadedFile.new(file, "csv")`: the type is literally "csv"
CSV_TYPE = "text/csv"  # `Attachment.mimetype` of an extracted .csv
DOWNLOAD_PATH = re.compile(r"/files/(?P<id>\d+)/download/?")
TOKEN_LIFETIME = timedelta(hours=1)

_UUID_ALPHABET = string.ascii_letters + string.digits
_UUID_LENGTH = 40  # Canvas's attachment uuid: 40 alphanumeric characters
_TEMP_SUFFIX_ALPHABET = string.ascii_lowercase + string.digits


@dataclass(frozen=True)
class StoredFile:
    """One attachment: its id, the names Canvas shows, its type, uuid and exact bytes."""

    id: int
    display_name: str
    filename: str
    content_type: str
    uuid: str
    created_at: datetime
    content: bytes = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.content)


def new_uuid() -> str:
    """A fresh, unguessable attachment uuid (also the verifier of csv_attachments)."""
    return "".join(secrets.choice(_UUID_ALPHABET) for _ in range(_UUID_LENGTH))


def errors_file_name(import_id: int, now: datetime) -> str:
    """The stored `filename` of an error file: the base name of the temp file Canvas wrote.

    `temp_error_file_path` opens `Tempfile.open(["<global id>_processing_warnings_and_errors"
    + Time.zone.now.to_s, ".csv"])`; Canvas's sanitising of the stored name turns the spaces
    into `+` and drops the colons, then Tempfile appends `<date>-<pid>-<random>`.
    """
    stamp = now.strftime("%Y-%m-%d+%H%M%S+UTC")
    suffix = "".join(secrets.choice(_TEMP_SUFFIX_ALPHABET) for _ in range(7))
    tail = f"{now.strftime('%Y%m%d')}-{os.getpid()}-{suffix}"
    return f"{import_id}_processing_warnings_and_errors{stamp}{tail}.csv"


def download_path(file: StoredFile, verifier: str) -> str:
    """Path and query of a download URL (`file_download_url`; `download=1` is absorbed by
    the route, so only `download_frd` and `verifier` are in the query)."""
    return f"/files/{file.id}/download?download_frd=1&verifier={verifier}"


def file_json(file: StoredFile, base_url: str, verifier: str | None = None) -> dict[str, Any]:
    """The File object as a SIS import shows it; `verifier` defaults to the uuid."""
    created = _iso(file.created_at)
    return {
        "id": file.id,
        "uuid": file.uuid,
        "folder_id": None,  # data attachments live in no folder
        "display_name": file.display_name,
        "filename": file.filename,
        "upload_status": "success",
        "content-type": file.content_type,
        "url": base_url + download_path(file, verifier or file.uuid),
        "size": file.size,
        "created_at": created,
        "updated_at": created,
        "unlock_at": None,
        "locked": False,
        "hidden": False,
        "lock_at": None,
        "hidden_for_user": False,
        "thumbnail_url": None,  # CSV is not thumbnailable
        "modified_at": created,
        "mime_class": "file",
        "media_entry_id": None,
        "category": "uncategorized",
        "locked_for_user": False,
    }


def download_token(secret: bytes, file_id: int, now: datetime) -> str:
    """An HS256 JWT that lets its bearer download `file_id` for one hour."""
    header = _b64(json.dumps({"typ": "JWT", "alg": "HS256"}).encode())
    expires = int((now + TOKEN_LIFETIME).timestamp())
    payload = _b64(json.dumps({"attachment_id": file_id, "exp": expires}).encode())
    signature = _b64(hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    return f"{header}.{payload}.{signature}"


def token_allows(secret: bytes, token: str, file_id: int, now: datetime) -> bool:
    """Whether `token` is a valid, unexpired download token for `file_id`."""
    parts = token.split(".")
    if len(parts) != 3:
        return False
    header, payload, signature = parts
    expected = _b64(hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected, signature):
        return False
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError:
        return False
    if not isinstance(claims, dict) or claims.get("attachment_id") != file_id:
        return False
    expires = claims.get("exp")
    return isinstance(expires, int) and now.timestamp() < expires


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
