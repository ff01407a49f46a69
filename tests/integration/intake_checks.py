"""What SFTP intake tests check on the gateway side: which uploads were received, and that
their bytes are exactly the ones sent."""

from __future__ import annotations

import hashlib
from pathlib import Path

from gateway.state.custody import upload_key
from gateway.state.local_custody import LocalCustody
from gateway.state.records import UploadRecord
from gateway.state.spool import Spool
from tests.integration.gateway_process import GatewayProcess


def sha256_of(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def kept_file(data_dir: Path, upload: UploadRecord) -> Path:
    """The local custody's file of a received upload."""
    return LocalCustody(Spool(data_dir)).path_of(upload_key(upload))


def received(gateway: GatewayProcess) -> list[UploadRecord]:
    store = gateway.store()
    try:
        return store.uploads()
    finally:
        store.close()


def assert_received_exactly(gateway: GatewayProcess, sent: dict[str, Path]) -> None:
    """Each name in ``sent`` was received exactly once, as the exact bytes of its file, and
    nothing else was received (no temp name, no partial file)."""
    uploads = received(gateway)
    assert sorted(u.filename for u in uploads) == sorted(sent)
    for upload in uploads:
        local = sent[upload.filename]
        spooled = kept_file(gateway.data_dir, upload)
        assert upload.size == local.stat().st_size, upload.filename
        assert upload.sha256 == sha256_of(local), upload.filename
        assert sha256_of(spooled) == upload.sha256, upload.filename
    assert not any((gateway.data_dir / "spool" / "incoming").iterdir())
