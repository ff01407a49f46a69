"""SisImport JSON for a request: the record plus what depends on who asks and when.

`sis_import_json` adds the creator's `user` (looked up by id, so imports of users whose
token is no longer configured still show them) and signs a fresh one-hour download token
for `errors_attachment.url`, as `sis_import_error_attachment_token` does on every request.
"""

from __future__ import annotations

from typing import Any

from gateway.sandbox.files import download_token
from gateway.sandbox.records import SisImportRecord, to_json
from gateway.sandbox.store import ImportStore, utc_now
from gateway.sandbox.users import Directory, user_json


class ImportViews:
    """Renders import records for one sandbox."""

    def __init__(self, store: ImportStore, directory: Directory) -> None:
        self._secret = store.download_secret
        self._directory = directory

    def render(self, record: SisImportRecord, base_url: str) -> dict[str, Any]:
        """The SisImport object as the API returns it to an account admin."""
        user = self._directory.user(record.user_id)
        verifier = None
        if record.errors_file is not None:
            verifier = download_token(self._secret, record.errors_file.id, utc_now())
        return to_json(
            record,
            base_url,
            user=user_json(user) if user is not None else None,
            errors_verifier=verifier,
        )

    @property
    def directory(self) -> Directory:
        return self._directory

    @property
    def secret(self) -> bytes:
        return self._secret
