"""Checks across a batch's files: ids repeated between files, references outside the batch."""

from __future__ import annotations

from pathlib import Path

from gateway.sorting.validation import Code, FileVerdict, check_batch
from tests.unit.sorting.files import check

USERS = b"user_id,login_id,status\n"
ENROLLMENTS = b"course_id,user_id,role,status\n"


def verdict(tmp_path: Path, name: str, data: bytes) -> FileVerdict:
    return check(tmp_path, data, name)


def test_references_are_checked_only_against_kinds_the_batch_supplies(tmp_path: Path) -> None:
    users = verdict(tmp_path, "users.csv", USERS + b"U1,l1,active\n")
    enrollments = verdict(tmp_path, "enrollments.csv", ENROLLMENTS +
                          b"C1,U1,student,active\nC1, U2 ,student,active\nC2,U2,student,active\n"
                          b"C2,U3,student,active\n")
    findings = check_batch([users, enrollments], examples=1)
    assert [(f.code, f.file, f.row, f.column, f.message) for f in findings] == [
        (Code.UNKNOWN_REFERENCE, "enrollments.csv", 3, "user_id",
         "user_id U2 is in none of this batch's user files"),
        (Code.UNKNOWN_REFERENCE, "enrollments.csv", None, "user_id",
         "1 more like this: each is in none of this batch's user files")]
    assert check_batch([enrollments]) == []  # no users file: Canvas is expected to have them


def test_ids_repeated_in_a_later_file_of_the_same_kind(tmp_path: Path) -> None:
    first = verdict(tmp_path, "users.csv", USERS + b"U1,l1,active\nU2,l2,active\n")
    second = verdict(tmp_path, "users-2.csv", USERS + b"U3,l3,active\nU2,l9,active\n")
    [finding] = check_batch([first, second])
    assert (finding.code, finding.file, finding.row, finding.message) == (
        Code.DUPLICATE_ID, "users-2.csv", 3,
        "user_id U2 is also in users.csv; Canvas applies both, users-2.csv last")


def test_accounts_may_refer_to_parents_in_the_same_file(tmp_path: Path) -> None:
    accounts = verdict(tmp_path, "accounts.csv",
                       b"account_id,parent_account_id,name,status\nA1,,Top,active\n"
                       b"A2,A1,Sub,active\nA3,A9,Lost,active\n")
    [finding] = check_batch([accounts])
    assert (finding.row, finding.column) == (4, "parent_account_id")


def test_failed_files_take_no_part(tmp_path: Path) -> None:
    broken = verdict(tmp_path, "users.csv", USERS + b'U1,"l1,active\n')
    enrollments = verdict(tmp_path, "e.csv", ENROLLMENTS + b"C1,U1,student,active\n")
    assert broken.ids is None
    assert check_batch([broken, enrollments]) == []
