"""What makes one POST attempt of a batch recognisable in Canvas, and only that.

Canvas has no idempotency key and never shows the uploaded zip's name.  What a SIS import
does show (canvas-lms `lib/api/v1/sis_import.rb`, `app/models/sis_batch.rb`) is the API user
who created it (`user`), its `created_at`, the options it was posted with and, once processing
has begun, `csv_attachments`: one File per CSV extracted from the zip, named by the member's
base name (`lib/sis/csv/import_refactored.rb` `create_batch_attachment`; a users file with
password columns as `<name>_filtered.csv`).  So every member of the zip sent for attempt
``a`` of batch ``b`` is named ``b<b:06d>-a<a>-<file>.csv``: a started import carrying such a
name is that attempt's for certain, and one carrying ``b<b:06d>-a`` with another attempt is
an earlier attempt's.

An :class:`AttemptIdentity` is recorded with the move to SUBMITTING, in the same
transaction; the reconcile judges Canvas's list against it and ``show`` displays it.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from gateway.state.spool import shortened

ATTEMPT_PREFIX = re.compile(r"\Ab\d{6,}-a\d+-")
"""Matches the batch-and-attempt prefix the gateway puts on every member name."""
_PREFIX_IN_TEXT = re.compile(r"(?<![\w.-])b\d{6,}-a\d+-")
MEMBER_NAME_MAX = 246
"""The longest member name, in bytes.  Canvas extracts the zip to disk under the member names
(NAME_MAX is 255) and names a users file's copy without passwords ``<name>_filtered.csv``
(9 bytes more); an upload's own name may take all 255 bytes before the prefix is added."""
_KEPT_EXTENSION_MAX = 16
_ZIP_STAMP = (2000, 1, 1, 0, 0, 0)


def batch_prefix(batch_id: int) -> str:
    """The start of every member name of any attempt of this batch."""
    return f"b{batch_id:06d}-a"


def attempt_prefix(batch_id: int, attempt: int) -> str:
    """The start of every member name of one attempt (``attempt`` counts from 1)."""
    return f"{batch_prefix(batch_id)}{attempt}-"


def bare_name(member: str) -> str:
    """A member's own file name: folders dropped (Canvas names attachments by base name;
    backslashes count as separators, as Windows zip tools write them) and any attempt
    prefix removed."""
    return ATTEMPT_PREFIX.sub("", PurePosixPath(member.replace("\\", "/")).name)


def attempt_of(member: str, batch_id: int) -> int | None:
    """The attempt a member name belongs to for this batch, or None when it is not one of
    this batch's names (an ``_filtered`` copy keeps the prefix, so it counts too)."""
    found = re.match(rf"\Ab{batch_id:06d}-a(\d+)-", member)
    return int(found.group(1)) if found else None


@dataclass(frozen=True)
class AttemptIdentity:
    """Everything Canvas may show that ties an import to one POST attempt.

    ``api_user_id`` is None when the token may not read its own user (Canvas's
    ``users/self`` refused): every import then counts as possibly by us.
    ``started_at`` is the gateway's clock when the attempt was committed;
    ``canvas_started_at`` Canvas's clock then (from its last answer's ``Date``), the one
    that stamps ``created_at``, or None when Canvas gave no date.
    """

    batch_id: int
    attempt: int
    api_user_id: int | None
    started_at: float
    options: Mapping[str, str] = field(default_factory=dict)
    member_names: tuple[str, ...] = ()
    canvas_started_at: float | None = None

    @property
    def prefix(self) -> str:
        """The start of every member name of this attempt (``b000015-a2-``)."""
        return attempt_prefix(self.batch_id, self.attempt)

    def to_json(self) -> dict[str, Any]:
        """The identity as stored with the batch (``identity_json``)."""
        return {"batch_id": self.batch_id, "attempt": self.attempt,
                "api_user_id": self.api_user_id, "started_at": self.started_at,
                "options": dict(self.options), "member_names": list(self.member_names),
                "canvas_started_at": self.canvas_started_at}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AttemptIdentity:
        """The identity from its stored form.  Raises KeyError or ValueError if damaged."""
        return cls(batch_id=int(data["batch_id"]), attempt=int(data["attempt"]),
                   api_user_id=(None if data.get("api_user_id") is None
                                else int(data["api_user_id"])),
                   started_at=float(data["started_at"]),
                   options={str(k): str(v) for k, v in dict(data.get("options", {})).items()},
                   member_names=tuple(str(n) for n in data.get("member_names", ())),
                   canvas_started_at=(None if data.get("canvas_started_at") is None
                                      else float(data["canvas_started_at"])))


def prefixed_names(names: Sequence[str], prefix: str) -> list[str]:
    """Flat member names under ``prefix``, unique without regard to case (``-2``, ``-3``
    added to repeats, as Canvas would otherwise extract two files onto one name)."""
    used: set[str] = set()
    result = []
    for name in names:
        stem, dot, ext = bare_name(name).rpartition(".")
        if not dot or len(ext.encode()) >= _KEPT_EXTENSION_MAX:
            stem, dot, ext = bare_name(name), "", ""
        candidate, counter = _fitted(prefix, stem, "", dot + ext), 1
        while candidate.lower() in used:
            counter += 1
            candidate = _fitted(prefix, stem, f"-{counter}", dot + ext)
        used.add(candidate.lower())
        result.append(candidate)
    return result


def _fitted(prefix: str, stem: str, counter: str, extension: str) -> str:
    """``prefix + stem + counter + extension``; when that passes MEMBER_NAME_MAX bytes, the
    stem is cut and marked with a hash of all of it, so that long names stay distinct."""
    name = f"{prefix}{stem}{counter}{extension}"
    if len(name.encode()) <= MEMBER_NAME_MAX:
        return name
    mark = "~" + hashlib.sha256(stem.encode()).hexdigest()[:12]
    room = MEMBER_NAME_MAX - len(f"{prefix}{mark}{counter}{extension}".encode())
    return f"{prefix}{shortened(stem, room)}{mark}{counter}{extension}"


def without_prefixes(text: str) -> str:
    """``text`` (a Canvas message, an errors CSV) with every member name's batch-and-attempt
    prefix taken out: the names the sender gave its files.  The prefix carries the gateway's
    own batch id, which senders never see."""
    return _PREFIX_IN_TEXT.sub("", text)


def zip_member_names(path: Path) -> list[str]:
    """The member names of a batch zip, in order."""
    with zipfile.ZipFile(path) as archive:
        return [info.filename for info in archive.infolist() if not info.is_dir()]


def rename_members(source: Path, destination: Path, prefix: str) -> list[str]:
    """Write ``source`` again as ``destination`` with every member under ``prefix``;
    returns the new names.  Contents are copied unchanged (re-compressed); the output is
    deterministic (fixed timestamps), so a crash and a second run give the same bytes."""
    with zipfile.ZipFile(source) as original, \
            zipfile.ZipFile(destination, "w", compression=zipfile.ZIP_DEFLATED) as renamed:
        infos = [info for info in original.infolist() if not info.is_dir()]
        names = prefixed_names([info.filename for info in infos], prefix)
        for info, name in zip(infos, names, strict=True):
            target = zipfile.ZipInfo(name, date_time=_ZIP_STAMP)
            target.compress_type = zipfile.ZIP_DEFLATED
            target.external_attr = 0o644 << 16
            with original.open(info) as reader, \
                    renamed.open(target, "w", force_zip64=True) as writer:
                shutil.copyfileobj(reader, writer, 1 << 20)
    return names
