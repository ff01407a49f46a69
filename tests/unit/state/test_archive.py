"""The archive keeps every upload whatever its name: SFTP takes names as long as the disk does,
and the archive's own prefix and temp names must not push them over NAME_MAX."""

from __future__ import annotations

import json
import os
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from gateway.state.archive import ARCHIVED_NAME_MAX, archive_batch, archived_name
from gateway.state.custody import Area, Custody, PayloadKey, archive_prefix
from gateway.state.local_custody import LocalCustody
from gateway.state.spool import (
    NAME_MAX,
    TEMP_SUFFIX,
    Spool,
    publish_bytes,
    shortened,
    temp_path_for,
)
from gateway.state.states import UploadState
from gateway.state.store import Store

LONGEST_ASCII = "u" * (NAME_MAX - 4) + ".csv"
LONGEST_UTF8 = "€" * 83 + "ab.csv"  # 3 bytes a character: 255 bytes in 89 characters
# Any name an SFTP client may give: no slash, no NUL, at most NAME_MAX bytes; and names
# that take (nearly) all of NAME_MAX, which random text seldom reaches.
_CHARACTERS = st.characters(exclude_characters="/\x00", exclude_categories=["Cs"])
SFTP_NAMES = st.one_of(
    st.text(_CHARACTERS, min_size=1).filter(lambda name: len(name.encode()) <= NAME_MAX),
    st.builds(lambda character, suffix: shortened(character * NAME_MAX,
                                                  NAME_MAX - len(suffix.encode())) + suffix,
              _CHARACTERS, st.sampled_from(["", ".csv", ".zip", "." + "x" * 30, ".€"])))


def _archived_batch(store: Store, custody: Custody, names: list[str]) -> int:
    with store.transaction() as txn:
        batch_id = txn.create_batch("alpha")
        for name in names:
            upload_id = txn.record_upload("alpha", name, 4, "0" * 64)
            txn.move("upload", upload_id, UploadState.RECEIVED, UploadState.ACCEPTED,
                     batch_id=batch_id)
            custody.put(PayloadKey.upload(upload_id), name.encode()[:4])
    archive_batch(custody, store.batch(batch_id), store.uploads(batch_id=batch_id),
                  [], {"batch-000001.txt": b"report"})
    return batch_id


def _archived(custody: Custody, batch_id: int, name: str) -> bytes:
    with custody.open(PayloadKey.archived("alpha", batch_id, name)) as kept:
        return kept.read()


def _received(custody: Custody, batch_id: int) -> list[str]:
    """The archived uploads' names (``received/...``), in name order."""
    prefix = archive_prefix("alpha", batch_id)
    return [key.name.removeprefix(prefix)
            for key in custody.keys(Area.ARCHIVE, f"{prefix}received/")]


def test_names_as_long_as_sftp_takes_are_archived_with_their_whole_name_in_the_manifest(
        store: Store, spool: Spool, custody: Custody) -> None:
    names = ["users.csv", LONGEST_ASCII, LONGEST_UTF8]
    assert [len(name.encode()) for name in names[1:]] == [NAME_MAX, NAME_MAX]

    batch_id = _archived_batch(store, custody, names)

    manifest = json.loads(_archived(custody, batch_id, "received.json"))
    assert [entry["name"] for entry in manifest] == names
    assert manifest[0]["archived_as"] == "received/01-users.csv"
    for entry, name in zip(manifest, names, strict=True):
        assert _archived(custody, batch_id, entry["archived_as"]) == name.encode()[:4]
        assert len(os.fsencode(Path(entry["archived_as"]).name)) <= ARCHIVED_NAME_MAX
    assert _received(custody, batch_id) == sorted(entry["archived_as"] for entry in manifest)
    if isinstance(custody, LocalCustody):  # no temp file left behind in the folder
        folder = spool.root / "archive" / "alpha" / f"batch-{batch_id:06d}" / "received"
        assert sorted(path.name for path in folder.iterdir()) == sorted(
            Path(entry["archived_as"]).name for entry in manifest)
    assert manifest[1]["archived_as"].endswith(".csv")
    assert manifest[1]["archived_as"].startswith("received/02-uuu")


def test_archiving_again_repairs_in_place_under_the_same_names(store: Store,
                                                               custody: Custody) -> None:
    batch_id = _archived_batch(store, custody, [LONGEST_ASCII])
    before = _received(custody, batch_id)

    archive_batch(custody, store.batch(batch_id), store.uploads(batch_id=batch_id), [], {})

    assert _received(custody, batch_id) == before


@given(SFTP_NAMES, st.integers(min_value=1, max_value=999))
def test_archived_names_fit_and_short_ones_stay_as_they_are(name: str, position: int) -> None:
    stored = archived_name(position, name)

    assert len(os.fsencode(stored)) <= ARCHIVED_NAME_MAX
    assert stored.startswith(f"{position:02d}-")
    assert "/" not in stored
    if len(f"{position:02d}-{name}".encode()) <= ARCHIVED_NAME_MAX:
        assert stored == f"{position:02d}-{name}"


@given(SFTP_NAMES)
def test_temp_names_fit_whatever_the_final_name(name: str) -> None:
    temp = temp_path_for(Path("/data") / name)

    assert len(os.fsencode(temp.name)) <= NAME_MAX
    assert temp.name.startswith(".")
    assert temp.name.endswith(TEMP_SUFFIX)
    assert temp.parent == Path("/data")


def test_a_file_named_with_all_of_name_max_is_published(tmp_path: Path) -> None:
    for name in (LONGEST_ASCII, LONGEST_UTF8):
        publish_bytes(tmp_path / name, b"x")

        assert (tmp_path / name).read_bytes() == b"x"
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        [LONGEST_ASCII, LONGEST_UTF8])
