"""The one place a Custody and its Shelf are built from settings: the local spool and the
SFTP homes, unless object storage is configured (``[cluster.objects]``: cluster mode)."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.settings import read_secret
from gateway.state.custody import Custody
from gateway.state.local_custody import LocalCustody
from gateway.state.local_shelf import LocalShelf
from gateway.state.objects_config import ObjectStoreSettings
from gateway.state.shelf import Shelf
from gateway.state.spool import Spool

MIB = 1 << 20


def build_custody(spool: Spool, objects: ObjectStoreSettings | None = None, *,
                  environ: Mapping[str, str] | None = None) -> Custody:
    """The custody of a data volume's payloads: its local spool, or the configured bucket
    (credentials read now; raises ConfigError naming the missing variable or file)."""
    if objects is None:
        return LocalCustody(spool)
    import boto3  # only cluster mode pays for importing boto3
    from botocore.config import Config

    from gateway.state.s3_custody import S3Custody

    key, secret = _credentials(objects, environ)
    client = boto3.session.Session().client(
        "s3", endpoint_url=objects.endpoint_url, region_name=objects.region,
        aws_access_key_id=key, aws_secret_access_key=secret,
        config=Config(s3={"addressing_style": objects.addressing_style},
                      retries={"mode": "standard", "max_attempts": 5},
                      connect_timeout=10, read_timeout=60))
    return S3Custody(client, bucket=objects.bucket, prefix=objects.prefix,
                     scratch=spool.root / "spool" / "scratch",
                     multipart_threshold=objects.multipart_threshold_mib * MIB,
                     part_size=objects.part_size_mib * MIB,
                     secrets_to_hide=tuple(value for value in (key, secret) if value))


def orphan_grace_seconds(objects: ObjectStoreSettings | None) -> float:
    """How old a payload without a record must be before recovery sets it aside: at once
    on one machine (nothing else writes during recovery), after the configured grace when
    other nodes may be between their put and their record."""
    return 0.0 if objects is None else objects.orphan_grace_seconds


def _credentials(objects: ObjectStoreSettings, environ: Mapping[str, str] | None
                 ) -> tuple[str | None, str | None]:
    if not (objects.access_key_id_env or objects.access_key_id_file):
        return None, None  # the default AWS chain (AWS_* variables, an instance role)
    key = read_secret(env=objects.access_key_id_env, file=objects.access_key_id_file,
                      what="[cluster.objects] access key id", environ=environ)
    secret = read_secret(env=objects.secret_access_key_env,
                         file=objects.secret_access_key_file,
                         what="[cluster.objects] secret access key", environ=environ)
    return key.get_secret_value(), secret.get_secret_value()


def build_shelf(spool: Spool, custody: Custody) -> Shelf:
    """What institutions read, kept beside the payloads: in the SFTP homes of the data
    volume with the local custody, in the same bucket with the S3 one (cluster mode)."""
    if isinstance(custody, LocalCustody):
        return LocalShelf(spool)
    from gateway.state.s3_custody import S3Custody
    from gateway.state.s3_shelf import S3Shelf

    if not isinstance(custody, S3Custody):
        raise TypeError(f"no shelf goes with a {type(custody).__name__}")
    return S3Shelf(custody)
