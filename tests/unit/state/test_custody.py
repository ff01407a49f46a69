"""The custody contract, on both backends: the local spool and a real S3 server."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from gateway.state import s3_custody as s3_custody_module
from gateway.state.custody import (
    Area,
    Custody,
    CustodyError,
    PayloadExistsError,
    PayloadKey,
    PayloadMissingError,
)
from gateway.state.local_custody import LocalCustody
from gateway.state.s3_custody import S3Custody
from gateway.state.spool import Spool
from tests.conftest import s3_custody
from tests.s3_server import S3Server

ZIP = PayloadKey.batch_zip(7)


def _read(custody: Custody, key: PayloadKey) -> bytes:
    with custody.open(key) as reader:
        return reader.read()


def test_put_bytes_then_read_them_every_way(custody: Custody) -> None:
    custody.put(ZIP, b"PK zip bytes")

    assert _read(custody, ZIP) == b"PK zip bytes"
    assert b"".join(custody.stream(ZIP)) == b"PK zip bytes"
    assert custody.size(ZIP) == len(b"PK zip bytes")
    with custody.local_path(ZIP) as path, open(path, "rb") as handle:
        handle.seek(3)  # a seekable local file, for zip reading and validation
        assert handle.read() == b"zip bytes"
    assert "00000007.zip" in custody.locate(ZIP)


def test_a_file_source_is_handed_over(custody: Custody, tmp_path: Path) -> None:
    key = PayloadKey.received("abc123")
    with custody.scratch(key) as written:
        written.write_bytes(b"user_id\n")
        custody.put(key, written)
        assert not written.exists()

    assert _read(custody, key) == b"user_id\n"


def test_put_is_create_only_unless_replacing(custody: Custody) -> None:
    custody.put(ZIP, b"first")

    with pytest.raises(PayloadExistsError) as refused:
        custody.put(ZIP, b"second")
    assert "batches/00000007.zip" in str(refused.value)
    assert _read(custody, ZIP) == b"first"

    custody.put(ZIP, b"second", replace=True)
    assert _read(custody, ZIP) == b"second"


def test_a_retried_create_only_put_whose_first_attempt_landed_succeeds(
        spool: Spool, request: pytest.FixtureRequest) -> None:
    # botocore retries a PutObject whose answer was lost; the retry meets the object the
    # first attempt stored (412). Those same bytes there: done. Other bytes: refused.
    server: S3Server = request.getfixturevalue("s3_server")
    custody = s3_custody(server, spool.root / "scratch")
    key = PayloadKey.received("retried")
    custody.put(key, b"user_id,login_id\nu1,l1\n")
    custody.put(key, b"user_id,login_id\nu1,l1\n")  # as if the first answer was lost
    with pytest.raises(PayloadExistsError):
        custody.put(key, b"user_id,login_id\nu2,l2\n")
    assert _read(custody, key) == b"user_id,login_id\nu1,l1\n"


def test_a_missing_payload_is_named_in_the_error(custody: Custody) -> None:
    missing = PayloadKey.upload(99)

    with pytest.raises(PayloadMissingError) as error:
        _read(custody, missing)
    assert "uploads/00000099" in str(error.value)
    with pytest.raises(PayloadMissingError), custody.local_path(missing):
        pass
    with pytest.raises(PayloadMissingError):
        custody.move(missing, PayloadKey.quarantined("upload-00000099"))
    assert custody.size(missing) is None
    assert custody.stat(missing) is None
    assert custody.delete(missing) is False


def test_move_copy_and_delete(custody: Custody) -> None:
    upload = PayloadKey.upload(1)
    custody.put(upload, b"a,b\n")
    archived = PayloadKey.archived("alpha", 1, "received/01-users.csv")

    custody.copy(upload, archived)
    custody.copy(upload, archived)  # again: the same, nothing added
    assert _read(custody, archived) == b"a,b\n"
    assert list(custody.keys(Area.ARCHIVE)) == [archived]

    custody.move(upload, PayloadKey.quarantined("upload-00000001"))
    assert custody.size(upload) is None
    assert _read(custody, PayloadKey.quarantined("upload-00000001")) == b"a,b\n"

    assert custody.delete(archived) is True
    assert list(custody.keys(Area.ARCHIVE)) == []


def test_keys_are_listed_by_area_and_prefix_in_name_order(custody: Custody) -> None:
    for key in (PayloadKey.upload(2), PayloadKey.upload(1), PayloadKey.batch_zip(1),
                PayloadKey.archived("alpha", 1, "history.json"),
                PayloadKey.archived("alpha", 1, "received/01-x.csv"),
                PayloadKey.archived("alpha", 2, "history.json")):
        custody.put(key, b"x")

    assert list(custody.keys(Area.UPLOADS)) == [PayloadKey.upload(1), PayloadKey.upload(2)]
    assert [key.name for key in custody.keys(Area.ARCHIVE, "alpha/batch-000001/")] == [
        "alpha/batch-000001/history.json", "alpha/batch-000001/received/01-x.csv"]
    assert list(custody.keys(Area.QUARANTINE)) == []


def _big_custody(custody: Custody, spool: Spool, request: pytest.FixtureRequest) -> Custody:
    """The same backend with a 5 MiB multipart threshold (S3's smallest part)."""
    if isinstance(custody, S3Custody):
        server: S3Server = request.getfixturevalue("s3_server")
        return s3_custody(server, spool.root / "scratch", multipart_threshold=5 << 20,
                          part_size=5 << 20)
    return custody


def test_a_big_file_goes_in_parts_and_reads_back_whole(
        custody: Custody, spool: Spool, request: pytest.FixtureRequest) -> None:
    custody = _big_custody(custody, spool, request)
    key = PayloadKey.received("big")
    data = os.urandom(1 << 20) * 12 + b"tail"  # 12 MiB and a bit: three parts
    with custody.scratch(key) as written:
        written.write_bytes(data)
        custody.put(key, written)

    assert custody.size(key) == len(data)
    digest = hashlib.sha256()
    for chunk in custody.stream(key):
        assert len(chunk) <= 1 << 20  # streamed, never held whole
        digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
    with custody.scratch(key) as again:
        again.write_bytes(data)
        with pytest.raises(PayloadExistsError):
            custody.put(key, again)  # create-only holds for multipart uploads too
        assert again.exists()  # not handed over: the caller removes it


def test_a_file_of_more_parts_than_s3_takes_goes_in_bigger_parts(
        spool: Spool, request: pytest.FixtureRequest,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # S3's limit is 10,000 parts; here 2, so 12 MiB at 5 MiB a part must grow the parts.
    monkeypatch.setattr(s3_custody_module, "MAX_PARTS", 2)
    server: S3Server = request.getfixturevalue("s3_server")
    custody = s3_custody(server, spool.root / "scratch", multipart_threshold=5 << 20,
                         part_size=5 << 20)
    key = PayloadKey.received("many-parts")
    data = os.urandom(1 << 20) * 12 + b"tail"
    with custody.scratch(key) as written:
        written.write_bytes(data)
        custody.put(key, written)
    assert custody.size(key) == len(data)  # whole, not the first two parts
    assert hashlib.sha256(b"".join(custody.stream(key))).digest() == \
        hashlib.sha256(data).digest()


def test_sweep_removes_unfinished_writes_after_the_grace(
        custody: Custody, spool: Spool, s3_server: S3Server) -> None:
    if isinstance(custody, LocalCustody):
        temp = custody.path_of(PayloadKey.upload(1)).with_name(".00000001.abc.tmp")
        temp.write_bytes(b"half")
        assert custody.sweep(3600) == 0
        assert custody.sweep(0) == 1
        assert not temp.exists()
        return
    assert isinstance(custody, S3Custody)
    client = s3_server.client()
    name = custody.locate(PayloadKey.upload(1)).removeprefix(f"s3://{s3_server.bucket}/")
    client.create_multipart_upload(Bucket=s3_server.bucket, Key=name)
    assert custody.sweep(3600) == 0
    assert custody.sweep(0) == 1
    assert custody.sweep(0) == 0
    assert custody.size(PayloadKey.upload(1)) is None


def test_check_passes_on_a_usable_store(custody: Custody) -> None:
    custody.check()


def test_check_names_a_missing_bucket(s3_server: S3Server, tmp_path: Path) -> None:
    custody = S3Custody(s3_server.client(), bucket="no-such-bucket-here", prefix="p",
                        scratch=tmp_path)
    with pytest.raises(CustodyError, match="NoSuchBucket: the bucket does not exist"):
        custody.check()


def test_check_refuses_a_server_that_ignores_create_only(
        s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client = s3_server.client()
    real_put = client.put_object

    def ignoring(**arguments: Any) -> Any:  # as a server without If-None-Match support
        arguments.pop("IfNoneMatch", None)
        return real_put(**arguments)

    monkeypatch.setattr(client, "put_object", ignoring)
    custody = S3Custody(client, bucket=s3_server.bucket, prefix="p", scratch=tmp_path)
    with pytest.raises(CustodyError, match="ignores If-None-Match"):
        custody.check()


def test_s3_errors_name_key_and_bucket_never_the_credentials(
        s3_server: S3Server, tmp_path: Path) -> None:
    wrong = S3Server(s3_server.endpoint_url, s3_server.bucket, s3_server.access_key,
                     "not-the-secret-but-still-secret")
    custody = S3Custody(wrong.client(), bucket=wrong.bucket, prefix="p", scratch=tmp_path,
                        secrets_to_hide=(wrong.access_key, wrong.secret_key))

    with pytest.raises(CustodyError) as error:
        custody.put(ZIP, b"x")
    text = str(error.value)
    assert f"s3://{s3_server.bucket}/p/" in text
    assert "batches/00000007.zip" in text
    assert wrong.secret_key not in text
    assert wrong.access_key not in text

    missing = S3Custody(s3_server.client(), bucket="no-such-bucket-here", prefix="",
                        scratch=tmp_path)
    with pytest.raises(CustodyError) as unusable:
        missing.check()
    assert "no-such-bucket-here" in str(unusable.value)


@pytest.mark.parametrize("name", ["", "a//b", "../x", ".hidden", "a/.tmp", "a\x00b"])
def test_a_payload_name_cannot_escape_or_hide(name: str) -> None:
    with pytest.raises(ValueError, match="not a payload name"):
        PayloadKey(Area.UPLOADS, name)
