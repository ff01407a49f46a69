"""`prepare`: which files become attachments, which are listed, and what sniffing reports."""

from __future__ import annotations

import zipfile

import pytest

from gateway.sandbox.unpack import (
    MALFORMED,
    NO_HEADERS,
    BatchFile,
    ZipExpansionError,
    filtered_csv,
    prepare,
)
from gateway.sorting.kinds import SisKind
from tests.integration.sandbox.calls import make_zip

USERS = b"user_id,login_id,status\nu1,l1,active\n"
COURSES = b"course_id,short_name,long_name,status\nc1,C1,Course 1,active\n"


def names(files: tuple[BatchFile, ...], *, listed: bool | None = None) -> list[str]:
    return [f.name for f in files if listed is None or f.listed is listed]


def test_every_non_empty_extracted_file_is_kept_by_base_name_in_path_order() -> None:
    prepared = prepare(
        "batch.zip",
        make_zip(
            {
                "users.csv": USERS,
                "nested/deeper/courses.csv": COURSES,
                "readme.txt": b"hello",
                "empty.csv": b"",
                "__MACOSX/._users.csv": b"\x00",
                ".hidden.csv": USERS,
                "Desktop DF": b"x",
                "unknown.csv": b"what,ever\n",
            }
        ),
    )
    assert names(prepared.files) == ["courses.csv", "readme.txt", "unknown.csv", "users.csv"]
    # Only recognised CSVs are listed (data.downloadable_attachment_ids).
    assert names(prepared.files, listed=True) == ["courses.csv", "users.csv"]
    assert [(p.file, p.message) for p in prepared.problems] == [
        ("readme.txt", "Skipping unknown file type"),
        ("unknown.csv", NO_HEADERS),
    ]
    assert [csv.kind for csv in prepared.csvs] == [SisKind.COURSE, SisKind.USER]
    assert prepared.csvs[0].name == "nested/deeper/courses.csv"  # errors name the member path


def test_a_csv_upload_is_its_own_attachment() -> None:
    prepared = prepare("Users Export.csv", USERS)
    assert prepared.files == (BatchFile("Users Export.csv", USERS, listed=True, is_upload=True),)
    assert prepare("people.csv", b"who,what\n").files == ()
    assert prepare("sis_import.xml", b"<xml/>").files == ()


def test_users_with_passwords_are_listed_as_a_filtered_copy() -> None:
    payload = b"user_id,Password,login_id,ssha_password,status\n u1 ,secret,l1,{SSHA}x,active\n"
    prepared = prepare("batch.zip", make_zip({"dir/Users.CSV": payload}))
    assert names(prepared.files) == ["Users.CSV", "Users_filtered.csv"]
    assert names(prepared.files, listed=True) == ["Users_filtered.csv"]
    assert prepared.files[1].content == b"user_id,login_id,status\nu1,l1,active\n"
    assert prepared.csvs[0].kind is SisKind.USER  # the original is what is imported
    top = prepare("users.csv", b"user_id,login_id,password,status\nu1,l1,pw,active\n")
    assert names(top.files, listed=True) == ["users_filtered.csv"]


def test_filtered_csv_drops_the_password_columns() -> None:
    header = ("user_id", "password", "login_id")
    rows = [list(header), ["u1", "p,w", "l 1 "], ["u2", "", "l2"]]
    assert filtered_csv(header, rows) == b'user_id,login_id\nu1,l 1\nu2,l2\n'


def test_malformed_after_the_header_is_listed_but_fails_after_the_sniffing() -> None:
    prepared = prepare(
        "batch.zip",
        make_zip(
            {
                "a_users.csv": USERS + b'u2,"l2,active\n',
                "b_bad_header.csv": b'a"b,c\nd,e\n',
                "c_unknown.csv": b'nothing,useful\nx,"y\n',
                "d_courses.csv": COURSES,
            }
        ),
    )
    assert names(prepared.files, listed=True) == ["a_users.csv", "d_courses.csv"]
    assert [(p.file, p.message) for p in prepared.problems] == [
        ("b_bad_header.csv", MALFORMED),
        ("c_unknown.csv", NO_HEADERS),  # Canvas reads only the first row to sniff
        ("a_users.csv", MALFORMED),  # found by the row count, after every sniff
    ]
    assert [csv.kind for csv in prepared.csvs] == [SisKind.COURSE]


def test_inline_means_at_most_49_data_rows() -> None:
    rows = b"".join(b"u%d,l%d,active\n" % (i, i) for i in range(50))
    header = b"user_id,login_id,status\n"
    assert prepare("u.csv", header + rows[: rows.index(b"u49")]).running_immediately is True
    assert prepare("u.csv", header + rows).running_immediately is False
    assert prepare("u.csv", header + rows).total_rows == 51


def test_unusable_zips_raise() -> None:
    with pytest.raises(zipfile.BadZipFile):
        prepare("x.zip", USERS)
    with pytest.raises(ZipExpansionError):
        prepare("bomb.zip", make_zip({"users.csv": b"user_id,login_id,status\n" + b"\n" * 400_000}))
