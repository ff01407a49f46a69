"""Zip uploads: Canvas's member walk, AES, and the guards (each a clear rejection)."""

from __future__ import annotations

import zipfile
from pathlib import Path

from gateway.sorting.kinds import SisKind
from gateway.sorting.validation import BlockingPolicy, Code, ZipLimits, validate_zip
from tests.unit.sorting.files import write, zip_bytes

USERS = b"user_id,login_id,status\nu1,l1,active\n"
COURSES = b"course_id,short_name,long_name,status\nc1,C1,Course 1,active\n"


def codes(findings: object) -> list[Code]:
    return [f.code for f in findings]  # type: ignore[attr-defined]


def test_members_walked_skipped_and_warned_like_canvas(tmp_path: Path) -> None:
    data = zip_bytes({"users.csv": USERS, "nested/courses.CSV": COURSES, "readme.txt": b"hi",
                      "__MACOSX/._users.csv": b"\x00\x05", ".hidden.csv": b'x,"',
                      "sub/.git/config": b"x", "Desktop DB": b"x", "desktop.ini": b"x"})
    verdict = validate_zip(write(tmp_path, "b.zip", data), "batch.zip")
    assert [(m.name, m.kind) for m in verdict.members] == [
        ("nested/courses.CSV", SisKind.COURSE), ("users.csv", SisKind.USER)]
    assert [(f.code, f.message) for f in verdict.findings] == [
        (Code.UNKNOWN_FILE_TYPE, "readme.txt: Skipping unknown file type")]
    assert not verdict.failure_class


def test_aes_zip_opens_with_the_password_only(tmp_path: Path) -> None:
    path = write(tmp_path, "a.zip", zip_bytes({"users.csv": USERS}, password=b"s3cret"))
    opened = validate_zip(path, "a.zip", b"s3cret")
    assert [m.rows for m in opened.members] == [1]
    assert opened.members[0].ids is not None
    assert len(list(opened.members[0].ids.rows())) == 1  # the member can be read again
    locked = validate_zip(path, "a.zip")
    assert codes(locked.findings) == [Code.ZIP_ENCRYPTED]
    assert "users.csv is encrypted and no zip password is configured" in \
        locked.findings[0].message
    wrong = validate_zip(path, "a.zip", b"nope")
    assert codes(wrong.members[0].findings) == [Code.ZIP_ENCRYPTED]
    assert wrong.blocked(BlockingPolicy())


def test_zip_slip_is_refused_before_anything_is_read(tmp_path: Path) -> None:
    path = tmp_path / "s.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("../../etc/users.csv", USERS)
        archive.writestr("/abs.csv", USERS)
    verdict = validate_zip(path, "s.zip")
    assert codes(verdict.findings) == [Code.ZIP_UNSAFE_PATH, Code.ZIP_UNSAFE_PATH]
    assert "'../../etc/users.csv'" in verdict.findings[0].message
    assert verdict.members == ()


def test_zip_bombs_are_refused_by_ratio_and_by_size(tmp_path: Path) -> None:
    bomb = write(tmp_path, "b.zip", zip_bytes({"users.csv": USERS + b"\n" * 400_000}))
    assert codes(validate_zip(bomb, "b.zip").findings) == [Code.ZIP_TOO_LARGE]
    small = write(tmp_path, "s.zip", zip_bytes({"users.csv": USERS}))
    capped = validate_zip(small, "s.zip", limits=ZipLimits(max_total_bytes=10))
    assert codes(capped.findings) == [Code.ZIP_TOO_LARGE]
    many = write(tmp_path, "m.zip", zip_bytes({f"{i}.csv": USERS for i in range(5)}))
    assert codes(validate_zip(many, "m.zip", limits=ZipLimits(max_members=4)).findings) == [
        Code.ZIP_TOO_LARGE]


def test_corrupt_zips_are_canvas_failures(tmp_path: Path) -> None:
    not_zip = validate_zip(write(tmp_path, "x.zip", USERS), "x.zip")
    assert codes(not_zip.findings) == [Code.ZIP_CORRUPT]
    assert not_zip.failure_class
    data = bytearray(zip_bytes({"users.csv": USERS * 50}))
    start = data.index(b"users.csv") + len(b"users.csv") + 5
    data[start:start + 20] = b"\x00" * 20  # damage the compressed member
    damaged = validate_zip(write(tmp_path, "d.zip", bytes(data)), "d.zip")
    assert codes(damaged.members[0].findings) == [Code.ZIP_CORRUPT]


def test_member_findings_are_stored_with_the_member_name(tmp_path: Path) -> None:
    data = zip_bytes({"users.csv": b"user_id,login_id,status\n,l1,active\n"})
    verdict = validate_zip(write(tmp_path, "z.zip", data), "z.zip")
    [record] = verdict.records(BlockingPolicy())
    assert (record.file, record.row, record.message, record.blocking) == (
        "users.csv", 2, "users.csv: No user_id given for a user", False)
