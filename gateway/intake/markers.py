"""Closing the files that are not uploads themselves: trigger files and checksum sidecars.

A trigger file (``READY``, ``*.done``) says "everything I uploaded before this is one
delivery"; its content is not kept.  A trigger releases everything the institution has
received before it, whatever folder either is in (uploads in ``/inbox`` and in upload
folders alike): the sorter keeps arrival order across folders, so a trigger uploaded last
into any folder completes the whole set.  A checksum sidecar (``users.csv.sha256``) is
checked against the latest waiting upload of that name in the sidecar's own folder: a
mismatch keeps that upload out of Canvas (the sorter rejects it in its delivery's report) and
the sidecar's close fails saying so.
Either way the marker's answer is given only after what it decided is durable.
"""

from __future__ import annotations

import logging
import os
import posixpath
import re
from collections.abc import Callable

import asyncssh

from gateway.intake.deliveries import Deliveries
from gateway.intake.naming import Sidecar
from gateway.intake.receiving import Receiver, RefusedError
from gateway.intake.uploads import UploadWriter, payload_digest
from gateway.state.records import UploadRecord
from gateway.state.states import UploadState

log = logging.getLogger(__name__)

MAX_SIDECAR_BYTES = 4096
_HEX_LENGTH = {"sha256": 64, "md5": 32}


class Markers:
    """Closes trigger files and checksum sidecars for the SFTP sessions."""

    def __init__(self, receiver: Receiver, deliveries: Deliveries) -> None:
        self._receiver = receiver
        self._deliveries = deliveries

    async def trigger(self, writer: UploadWriter) -> None:
        """Release every upload the institution has waiting, in any folder, as one delivery."""
        await self._settle(writer, self._release, writer)

    async def sidecar(self, writer: UploadWriter, sidecar: Sidecar) -> None:
        """Verify the upload ``sidecar`` names in the sidecar's folder; raise an SFTP error
        when it does not match."""
        await self._settle(writer, self._verify, writer, sidecar)

    async def _settle(self, writer: UploadWriter, work: Callable[..., None],
                      *args: object) -> None:
        """Run ``work`` on the receiving threads, answer the client, and end the writer."""
        try:
            await self._receiver.run(work, *args)
        except RefusedError as refusal:
            log.warning("marker file refused", extra={
                **writer.log_fields, "institution": writer.institution, "file": writer.name,
                "folder": writer.folder, "reason": str(refusal)})
            raise asyncssh.SFTPFailure(str(refusal)) from None
        except Exception:
            log.exception("marker file not recorded", extra={
                **writer.log_fields, "institution": writer.institution, "file": writer.name,
                "folder": writer.folder})
            raise asyncssh.SFTPFailure(
                f"{writer.name}: the gateway could not record this file (an internal error, "
                "logged for the operator); please upload it again") from None
        finally:
            await self._receiver.run(self._receiver.end, writer, received=False)
        self._receiver.on_received()  # a trigger may complete a delivery

    def _release(self, writer: UploadWriter) -> None:
        if writer.failure is not None:
            raise RefusedError(writer.failure)
        pending = self._pending(writer.institution)
        through = max((upload.id for upload in pending), default=0)
        self._deliveries.release(writer.institution, through)
        log.info("trigger file received: delivery complete", extra={
            **writer.log_fields, "institution": writer.institution, "file": writer.name,
            "folder": writer.folder, "uploads": [upload.id for upload in pending]})

    def _verify(self, writer: UploadWriter, sidecar: Sidecar) -> None:
        expected = _expected_digest(writer, sidecar)
        with self._deliveries.forming(writer.institution):
            pending = self._pending(writer.institution)
            named = [upload for upload in pending
                     if upload.filename == sidecar.target and upload.folder == writer.folder]
            if not named:
                raise RefusedError(
                    f"{writer.display}: no upload named {sidecar.target} is waiting in "
                    f"{posixpath.dirname(writer.display)} to be processed; upload "
                    f"{sidecar.target} first, then this file")
            target = named[-1]
            actual = (target.sha256 if sidecar.algorithm == "sha256" else
                      payload_digest(self._receiver.custody, target, "md5"))
            if actual == expected:
                log.info("checksum verified", extra={
                    **writer.log_fields, "institution": writer.institution,
                    "file": target.filename, "folder": writer.folder, "upload_id": target.id})
                return
            problem = (f"{target.filename}: its checksum file {writer.name} says "
                       f"{sidecar.algorithm} {expected}, but the file received has {actual}; "
                       f"upload {target.filename} and {writer.name} again")
            self._deliveries.refuse(writer.institution, target.id, problem)
        raise RefusedError(f"{problem} ({target.filename} will not be imported)")

    def _pending(self, institution: str) -> list[UploadRecord]:
        return self._receiver.store.uploads(institution=institution,
                                            state=UploadState.RECEIVED)


def _expected_digest(writer: UploadWriter, sidecar: Sidecar) -> str:
    """The digest a sidecar states: the first hex word of the right length in it (accepts
    ``sha256sum`` output, BSD ``SHA256 (f) = ...`` lines and a bare digest)."""
    if writer.failure is not None:
        raise RefusedError(writer.failure)
    if writer.size > MAX_SIDECAR_BYTES:
        raise RefusedError(f"{writer.name}: too large for a checksum file "
                      f"(at most {MAX_SIDECAR_BYTES} bytes)")
    writer.settle()
    text = os.pread(writer.fd, MAX_SIDECAR_BYTES, 0).decode("utf-8", errors="replace")
    length = _HEX_LENGTH[sidecar.algorithm]
    found = re.search(rf"(?<![0-9A-Fa-f])[0-9A-Fa-f]{{{length}}}(?![0-9A-Fa-f])", text)
    if found is None:
        raise RefusedError(f"{writer.name}: no {sidecar.algorithm} digest ({length} hex digits) "
                      f"found; write the output of `{sidecar.algorithm}sum "
                      f"{sidecar.target}` into it")
    return found.group(0).lower()
