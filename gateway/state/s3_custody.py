"""Payloads as objects in an S3-compatible bucket: the custody of cluster mode.

A payload ``<area>/<name>`` is the object ``<prefix><area>/<name>``.  Writes are create-only
with ``If-None-Match: *`` (a second writer of the same key gets 412 and PayloadExistsError);
a server that ignores the header (an older one) overwrites instead, which the gateway never
relies on: its payload names are unique by construction.  SeaweedFS (tested, 4.x) honours the
header on PutObject and on CompleteMultipartUpload.

Files from ``multipart_threshold`` up go as a multipart upload done here, one part in memory
at a time, because boto3's transfer manager cannot send ``If-None-Match`` on the completion;
an upload cut short leaves an unfinished multipart upload that ``sweep`` aborts.  There are
no temp objects: a PutObject or a multipart completion publishes its key whole, at once, so
the unfinished multipart uploads and the local scratch copies are all a sweep has to
remove.  Reads stream (``open``) or go to a local scratch copy (``local_path``) that is
removed afterwards.
Every failure is a CustodyError naming the key and the bucket, with the access key and
secret redacted from the server's words.
"""

from __future__ import annotations

import hashlib
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError

from gateway.state.custody import (
    Area,
    CustodyError,
    PayloadExistsError,
    PayloadKey,
    PayloadMissingError,
    PayloadStat,
    chunks_of,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})
_TAKEN = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict"})
_CHUNK = 1 << 20
MAX_PARTS = 10_000
"""S3's most parts in one multipart upload."""


class S3Custody:
    """Payloads in ``bucket`` under ``prefix`` (see the module docstring).

    ``scratch`` is a local folder for ``local_path`` copies and ``scratch`` files;
    ``secrets_to_hide`` the credentials, removed from any error text."""

    def __init__(self, client: S3Client, *, bucket: str, prefix: str, scratch: Path,
                 multipart_threshold: int = 64 << 20, part_size: int = 16 << 20,
                 secrets_to_hide: tuple[str, ...] = ()) -> None:
        self._client = client
        self._bucket = bucket
        self._prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._scratch = scratch
        self._threshold = max(multipart_threshold, part_size)
        self._part_size = max(part_size, 5 << 20)  # S3's smallest part (but the last)
        self._hide = tuple(secret for secret in secrets_to_hide if secret)
        self._copying = TransferConfig(multipart_threshold=self._threshold,
                                       multipart_chunksize=self._part_size)

    @property
    def place(self) -> str:
        """``s3://bucket/prefix``."""
        return f"s3://{self._bucket}/{self._prefix}"

    def locate(self, key: PayloadKey) -> str:
        """The object's ``s3://`` URL."""
        return f"s3://{self._bucket}/{self._object(key)}"

    def _object(self, key: PayloadKey) -> str:
        return f"{self._prefix}{key.area}/{key.name}"

    # -- writing ---------------------------------------------------------------------------

    def put(self, key: PayloadKey, source: Path | bytes, *, replace: bool = False) -> None:
        """One PutObject, or a multipart upload for a big file; the file is removed after.

        A create-only PutObject refused as taken (412) is taken as done when the object
        there holds exactly these bytes (its ETag is their MD5): botocore retries a put
        whose answer was lost, and the first attempt stored it.  Anything else there is a
        real refusal."""
        size = len(source) if isinstance(source, bytes) else source.stat().st_size
        try:
            self._put(key, source, size, replace=replace)
        except PayloadExistsError:
            if size >= self._threshold or not self._holds(key, source):
                raise
        if isinstance(source, Path):
            source.unlink()

    def _holds(self, key: PayloadKey, source: Path | bytes) -> bool:
        """Whether the object at ``key`` is ``source``'s bytes, by a single put's ETag."""
        with self._failing(key):
            head = self._client.head_object(Bucket=self._bucket, Key=self._object(key))
        if isinstance(source, Path):
            with open(source, "rb") as file:
                digest = hashlib.file_digest(file, lambda: hashlib.md5(usedforsecurity=False))
        else:
            digest = hashlib.md5(source, usedforsecurity=False)
        return str(head.get("ETag", "")).strip('"') == digest.hexdigest()

    def _put(self, key: PayloadKey, source: Path | bytes, size: int, *, replace: bool) -> None:
        condition: dict[str, Any] = {} if replace else {"IfNoneMatch": "*"}
        with self._failing(key):
            if isinstance(source, bytes):
                self._client.put_object(Bucket=self._bucket, Key=self._object(key),
                                        Body=source, **condition)
            elif size < self._threshold:
                with open(source, "rb") as body:
                    self._client.put_object(Bucket=self._bucket, Key=self._object(key),
                                            Body=body, **condition)
            else:
                self._put_in_parts(key, source, condition)

    def _put_in_parts(self, key: PayloadKey, source: Path, condition: dict[str, Any]) -> None:
        name = self._object(key)
        upload = self._client.create_multipart_upload(Bucket=self._bucket, Key=name)
        upload_id = upload["UploadId"]
        # S3 takes at most 10,000 parts: a file bigger than that many parts of the
        # configured size goes in bigger parts, never truncated.
        part_size = max(self._part_size, -(-source.stat().st_size // MAX_PARTS))
        try:
            parts = []
            with open(source, "rb") as body:
                for number in range(1, MAX_PARTS + 1):
                    chunk = body.read(part_size)
                    if not chunk and number > 1:
                        break
                    sent = self._client.upload_part(Bucket=self._bucket, Key=name,
                                                    UploadId=upload_id, PartNumber=number,
                                                    Body=chunk)
                    parts.append({"ETag": sent["ETag"], "PartNumber": number})
                if body.read(1):  # the file grew while it was read: refuse, never cut
                    raise CustodyError(key, self.place, "the file grew while it was put")
            self._client.complete_multipart_upload(
                Bucket=self._bucket, Key=name, UploadId=upload_id,
                MultipartUpload={"Parts": cast(Any, parts)}, **condition)
        except BaseException:
            # Best effort: what is left is an unfinished upload that sweep() aborts.
            with suppress(BotoCoreError, ClientError):
                self._client.abort_multipart_upload(Bucket=self._bucket, Key=name,
                                                    UploadId=upload_id)
            raise

    @contextmanager
    def scratch(self, key: PayloadKey) -> Iterator[Path]:
        """A fresh file name in the local scratch folder."""
        self._scratch.mkdir(parents=True, exist_ok=True)
        path = self._scratch / f".{secrets.token_hex(8)}.tmp"
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)

    def move(self, key: PayloadKey, to: PayloadKey) -> None:
        """A server-side copy, then the delete (a crash between leaves both)."""
        self.copy(key, to)
        self.delete(key)

    def copy(self, key: PayloadKey, to: PayloadKey) -> None:
        """A server-side copy (multipart for big objects), replacing ``to``."""
        if key == to:
            return
        with self._failing(key):
            self._client.copy({"Bucket": self._bucket, "Key": self._object(key)},
                              self._bucket, self._object(to), Config=self._copying)

    def delete(self, key: PayloadKey) -> bool:
        """DeleteObject; True if the object was there just before."""
        existed = self.stat(key) is not None
        with self._failing(key):
            self._client.delete_object(Bucket=self._bucket, Key=self._object(key))
        return existed

    # -- reading ---------------------------------------------------------------------------

    def open(self, key: PayloadKey) -> BinaryIO:
        """GetObject's streamed body (read it in chunks; close it)."""
        with self._failing(key):
            answer = self._client.get_object(Bucket=self._bucket, Key=self._object(key))
        return cast(BinaryIO, answer["Body"])

    def stream(self, key: PayloadKey) -> Iterator[bytes]:
        """The object's bytes, a megabyte at a time."""
        reader = self.open(key)
        with self._failing(key):
            yield from chunks_of(reader, _CHUNK)

    @contextmanager
    def local_path(self, key: PayloadKey) -> Iterator[Path]:
        """A scratch copy, streamed to disk, removed on exit."""
        with self.scratch(key) as path:
            reader = self.open(key)
            with self._failing(key), reader, open(path, "wb") as copy:
                shutil.copyfileobj(reader, copy, _CHUNK)
            yield path

    def stat(self, key: PayloadKey) -> PayloadStat | None:
        """HeadObject's size and time; None on 404."""
        try:
            with self._failing(key):
                head = self._client.head_object(Bucket=self._bucket, Key=self._object(key))
        except PayloadMissingError:
            return None
        return PayloadStat(head["ContentLength"], head["LastModified"].timestamp(),
                           str(head.get("ETag", "")))

    def read_range(self, key: PayloadKey, offset: int, size: int, version: str = "") -> bytes:
        """The ``size`` bytes from ``offset`` (fewer at the end): one ranged GetObject.
        With ``version`` (an ETag from ``stat``), PayloadExistsError if the object has
        been replaced since (412): a reader never mixes two versions."""
        condition: dict[str, Any] = {"IfMatch": version} if version else {}
        with self._failing(key):
            answer = self._client.get_object(
                Bucket=self._bucket, Key=self._object(key),
                Range=f"bytes={offset}-{offset + size - 1}", **condition)
            with answer["Body"] as body:
                return body.read()

    def children(self, area: Area, prefix: str) -> tuple[list[tuple[PayloadKey, PayloadStat]],
                                                          list[str]]:
        """One level of the area below ``prefix`` (which ends in ``/``): the payloads
        directly in it with their stats, and the names of the folders in it (ListObjectsV2
        with a ``/`` delimiter; a folder marker, see ``mark_folder``, is not a payload)."""
        top = f"{self._prefix}{area}/"
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self._bucket, Prefix=top + prefix, Delimiter="/")
        files: list[tuple[PayloadKey, PayloadStat]] = []
        folders: list[str] = []
        with self._failing(None):
            for page in pages:
                for item in page.get("Contents", []):
                    with suppress(ValueError):  # a marker or a stray name: not a payload
                        files.append((PayloadKey(area, item["Key"][len(top):]), PayloadStat(
                            item["Size"], item["LastModified"].timestamp(),
                            str(item.get("ETag", "")))))
                folders += [common["Prefix"][len(top + prefix):].rstrip("/")
                            for common in page.get("CommonPrefixes", [])]
        return files, folders

    def mark_folder(self, area: Area, prefix: str) -> None:
        """Make the folder ``prefix`` (ending in ``/``) exist while it holds nothing: an
        empty object named after it, as S3 consoles make folders."""
        with self._failing(None):
            self._client.put_object(Bucket=self._bucket, Key=f"{self._prefix}{area}/{prefix}",
                                    Body=b"")

    def size(self, key: PayloadKey) -> int | None:
        """The object's size; None when there is none."""
        found = self.stat(key)
        return None if found is None else found.size

    def keys(self, area: Area, prefix: str = "") -> Iterator[PayloadKey]:
        """ListObjectsV2 under ``<prefix><area>/<prefix>``, in key order."""
        top = f"{self._prefix}{area}/"
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self._bucket, Prefix=top + prefix)
        with self._failing(None):
            for page in pages:
                for item in page.get("Contents", []):
                    try:
                        yield PayloadKey(area, item["Key"][len(top):])
                    except ValueError:
                        continue  # not a payload name (a stray object): not ours to list

    # -- upkeep ----------------------------------------------------------------------------

    def sweep(self, grace_seconds: float) -> int:
        """Abort the multipart uploads under the prefix started more than the grace ago,
        and remove local scratch files as old."""
        cutoff = time.time() - grace_seconds
        aborted = 0
        if self._scratch.is_dir():
            for leftover in self._scratch.glob(".*.tmp"):
                try:
                    old = leftover.stat().st_mtime <= cutoff
                except FileNotFoundError:  # its reader finished and removed it meanwhile
                    continue
                if old:
                    leftover.unlink(missing_ok=True)
                    aborted += 1
        for area in Area:  # only the gateway's areas: a shared bucket holds others' uploads
            pages = self._client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self._bucket, Prefix=f"{self._prefix}{area}/")
            with self._failing(None):
                for page in pages:
                    for upload in page.get("Uploads", []):
                        if upload["Initiated"].timestamp() > cutoff:
                            continue
                        self._client.abort_multipart_upload(
                            Bucket=self._bucket, Key=upload["Key"],
                            UploadId=upload["UploadId"])
                        aborted += 1
        return aborted

    def check(self) -> None:
        """HeadBucket, then a probe object put create-only twice (the second must be
        refused: receiving relies on it) and removed.  Raises CustodyError saying what
        is wrong."""
        probe = f"{self._prefix}.check-{secrets.token_hex(6)}"
        with self._failing(None):
            try:
                self._client.head_bucket(Bucket=self._bucket)
            except ClientError as error:  # HEAD has no body: a bare 404 is the bucket's
                if error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                    raise CustodyError(None, self.place, "NoSuchBucket: the bucket does not "
                                       "exist (create it, or fix [cluster.objects] bucket)"
                                       ) from None
                raise
            self._client.put_object(Bucket=self._bucket, Key=probe, Body=b"",
                                    IfNoneMatch="*")
            try:
                self._client.put_object(Bucket=self._bucket, Key=probe, Body=b"x",
                                        IfNoneMatch="*")
            except ClientError as error:
                if self._refused_as_taken(error):
                    return
                raise
            finally:
                self._client.delete_object(Bucket=self._bucket, Key=probe)
        raise CustodyError(None, self.place, "the server ignores If-None-Match on PUT: a "
                           "create-only put could overwrite; use a server that honours it "
                           "(AWS S3, SeaweedFS 4, MinIO 2024 or later)")

    @staticmethod
    def _refused_as_taken(error: ClientError) -> bool:
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return code in _TAKEN or status == 412

    @contextmanager
    def _failing(self, key: PayloadKey | None) -> Iterator[None]:
        """Turn botocore's errors into custody errors naming the key and the bucket."""
        try:
            yield
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code == "NoSuchBucket":
                raise CustodyError(key, self.place, "NoSuchBucket: the bucket does not "
                                   "exist (create it, or fix [cluster.objects] bucket)") from None
            if code in _MISSING or (status == 404 and key is not None):
                raise PayloadMissingError(key, self.place, "no such payload") from None
            if code in _TAKEN or status == 412:
                raise PayloadExistsError(key, self.place,
                                         "a payload is already stored there") from None
            message = str(error.response.get("Error", {}).get("Message", ""))
            raise CustodyError(key, self.place,
                               self._redacted(f"{code or status}: {message}")) from None
        except BotoCoreError as error:
            raise CustodyError(key, self.place,
                               self._redacted(f"{type(error).__name__}: {error}")) from None

    def _redacted(self, text: str) -> str:
        for secret in self._hide:
            text = text.replace(secret, "[redacted]")
        return text
