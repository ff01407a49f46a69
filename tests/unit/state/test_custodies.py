"""Building the custody from settings: the spool by default, the bucket with
`[cluster.objects]`, credentials only from variables or files, and errors that say what
to fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway.settings import ConfigError
from gateway.state.custodies import build_custody, orphan_grace_seconds
from gateway.state.custody import PayloadKey
from gateway.state.local_custody import LocalCustody
from gateway.state.objects_config import ObjectStoreSettings
from gateway.state.s3_custody import S3Custody
from gateway.state.spool import Spool
from tests.s3_server import S3Server


def _objects(server: S3Server, **keys: object) -> ObjectStoreSettings:
    return ObjectStoreSettings.model_validate({
        "bucket": server.bucket, "endpoint_url": server.endpoint_url, "prefix": "built",
        "access_key_id_env": "S3_KEY", "secret_access_key_env": "S3_SECRET", **keys})


def test_without_objects_payloads_stay_in_the_spool(spool: Spool) -> None:
    assert isinstance(build_custody(spool), LocalCustody)
    assert orphan_grace_seconds(None) == 0.0


def test_the_bucket_is_used_with_keys_from_variables_or_files(
        spool: Spool, s3_server: S3Server, tmp_path: Path) -> None:
    environ = {"S3_KEY": s3_server.access_key, "S3_SECRET": s3_server.secret_key}
    custody = build_custody(spool, _objects(s3_server), environ=environ)
    assert isinstance(custody, S3Custody)
    custody.check()
    custody.put(PayloadKey.batch_zip(1), b"zip")
    assert custody.locate(PayloadKey.batch_zip(1)) == (
        f"s3://{s3_server.bucket}/built/batches/00000001.zip")

    (tmp_path / "key").write_text(s3_server.access_key + "\n")
    (tmp_path / "secret").write_text(s3_server.secret_key + "\n")
    from_files = build_custody(spool, _objects(
        s3_server, access_key_id_env=None, secret_access_key_env=None,
        access_key_id_file=tmp_path / "key", secret_access_key_file=tmp_path / "secret"))
    assert from_files.size(PayloadKey.batch_zip(1)) == 3


def test_a_missing_credential_names_the_variable_not_a_value(
        spool: Spool, s3_server: S3Server) -> None:
    with pytest.raises(ConfigError, match="S3_SECRET is not set"):
        build_custody(spool, _objects(s3_server), environ={"S3_KEY": "AKIAEXAMPLE"})


@pytest.mark.parametrize(("keys", "fix"), [
    ({"bucket": "Bad_Bucket"}, "S3 bucket name"),
    ({"endpoint_url": "http://s3.example.edu"}, "must use https://"),
    ({"endpoint_url": "s3.example.edu"}, "http(s)://"),
    ({"prefix": "a/../b"}, "plain key prefix"),
    ({"secret_access_key_env": None}, "set both"),
    ({"part_size_mib": 1}, "greater than or equal to 5"),
    ({"orphan_grace_seconds": 1}, "greater than or equal to 60"),
    ({"secret_access_key": "x"}, "Extra inputs are not permitted"),
])
def test_bad_object_settings_say_what_to_fix(s3_server: S3Server, keys: dict[str, object],
                                              fix: str) -> None:
    with pytest.raises(ValidationError, match=fix.replace("(", r"\(").replace(")", r"\)")):
        _objects(s3_server, **keys)
