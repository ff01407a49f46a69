"""Processing an upload yields Canvas's supplied batches, counts and messages (§4.1, §4.2)."""

from __future__ import annotations

import itertools

from gateway.sandbox.processing import COUNT_KEYS, import_upload, process_upload
from gateway.sandbox.records import Outcome, WorkflowState
from gateway.sorting.kinds import SisKind
from tests.integration.sandbox.calls import make_zip

USERS = b"user_id,login_id,status\r\nu1,l1,active\r\nu2,l2,active\r\n"
COURSES = b"course_id,short_name,long_name,status\nc1,C1,Course 1,active\n"


def run(filename: str, payload: bytes, *, skip_deletes: bool = False) -> Outcome:
    reports = itertools.count(7)
    return process_upload(
        filename, payload, skip_deletes=skip_deletes, error_report=lambda: next(reports)
    )


def test_clean_users_csv_is_imported() -> None:
    outcome = run("users.csv", USERS)
    assert outcome.supplied_batches == ("user",)
    assert outcome.completed_importers == ("user",)
    assert outcome.counts["users"] == 2
    assert outcome.errors == ()
    assert outcome.warnings == ()
    assert outcome.final_state is WorkflowState.IMPORTED
    assert outcome.final_progress == 100


def test_counts_have_every_key_zero_filled_in_canvas_order() -> None:
    counts = run("users.csv", USERS).counts
    assert list(counts) == [*COUNT_KEYS.values(), "error_count", "warning_count"]
    assert sum(counts.values()) == 2


def test_row_warnings_skip_the_row_and_make_imported_with_messages() -> None:
    payload = b"user_id,login_id,status\nu1,l1,active\n,l2,active\nu3,l3,bogus\n"
    outcome = run("users.csv", payload)
    assert outcome.warnings == (
        ("users.csv", "No user_id given for a user"),
        ("users.csv", "Improper status for user u3"),
    )
    assert outcome.counts["users"] == 1
    assert outcome.counts["warning_count"] == 2
    assert outcome.final_state is WorkflowState.IMPORTED_WITH_MESSAGES


def test_values_are_stripped_and_headers_lower_cased_with_bom() -> None:
    payload = "\ufeffUSER_ID , Login_ID,Status\n  u1 ,  , active \n".encode()
    outcome = run("users.csv", payload)
    assert outcome.warnings == (("users.csv", "No login_id given for user u1"),)


def test_blank_lines_are_skipped_and_header_only_files_are_supplied() -> None:
    assert run("users.csv", b"user_id,login_id,status\n\n\nu1,l1,active\n\n").counts["users"] == 1
    header_only = run("courses.csv", b"course_id,short_name,long_name,status\n")
    assert header_only.supplied_batches == ("course",)
    assert header_only.completed_importers == ()
    assert header_only.final_state is WorkflowState.IMPORTED


def test_empty_file_is_ignored_silently() -> None:
    outcome = run("users.csv", b"")
    assert outcome.supplied_batches == ()
    assert outcome.final_state is WorkflowState.IMPORTED


def test_skip_deletes_drops_deleted_rows_from_the_counts() -> None:
    payload = b"user_id,login_id,status\nu1,l1,active\nu2,l2,deleted\n"
    assert run("users.csv", payload, skip_deletes=True).counts["users"] == 1
    assert run("users.csv", payload).counts["users"] == 2


def test_invalid_utf8_is_a_failure() -> None:
    outcome = run("users.csv", b"user_id,login_id,status\nu1,J\xe9r\xf4me,active\n")
    assert outcome.errors == (("users.csv", "Invalid UTF-8"),)
    assert outcome.counts["error_count"] == 1
    assert outcome.supplied_batches == ()
    assert outcome.final_state is WorkflowState.FAILED_WITH_MESSAGES
    assert outcome.final_progress == 0  # a failed inline import never reaches 100


def test_unbalanced_quote_is_malformed() -> None:
    outcome = run("users.csv", b'user_id,login_id,status\nu1,"l1,active\n')
    assert outcome.errors == (("users.csv", "Malformed CSV"),)


def test_unrecognised_header_is_a_failure() -> None:
    outcome = run("people.csv", b"person,email\np1,a@b.c\n")
    assert outcome.errors == (("people.csv", "Couldn't find Canvas CSV import headers"),)
    assert outcome.final_state is WorkflowState.FAILED_WITH_MESSAGES


def test_zip_members_are_sniffed_skipped_and_run_in_importer_order() -> None:
    payload = make_zip(
        {
            "users.csv": USERS,
            "nested/courses.CSV": COURSES,
            "readme.txt": b"hello",
            "__MACOSX/._users.csv": b"\x00\x05",
            ".hidden.csv": b'garbage,"',
            "Desktop DB": b"x",
            "empty.csv": b"",
            "bad.csv": b"nothing,useful\n",
        }
    )
    outcome = run("batch.zip", payload)
    assert outcome.supplied_batches == ("course", "user")
    assert outcome.counts["courses"] == 1
    assert outcome.counts["users"] == 2
    assert outcome.warnings == (("readme.txt", "Skipping unknown file type"),)
    assert outcome.errors == (("bad.csv", "Couldn't find Canvas CSV import headers"),)
    assert outcome.final_state is WorkflowState.FAILED_WITH_MESSAGES


def test_one_bad_file_fails_the_batch_but_other_files_still_count() -> None:
    payload = make_zip({"users.csv": USERS, "broken.csv": b"\xff\xfe"})
    outcome = run("x.ZIP", payload)
    assert outcome.errors == (("broken.csv", "Invalid UTF-8"),)
    assert outcome.counts["users"] == 2


def test_a_body_that_is_not_a_zip_gets_an_error_report() -> None:
    outcome = run("sis_import.zip", USERS)
    assert outcome.errors == (
        (None, "Error while importing CSV. Please contact support. (Error report 7)"),
    )
    assert outcome.final_state is WorkflowState.FAILED_WITH_MESSAGES


def test_a_zip_expanding_over_100_times_its_size_fails() -> None:
    outcome = run(
        "bomb.zip", make_zip({"users.csv": b"user_id,login_id,status\n" + b"\n" * 400_000})
    )
    assert len(outcome.errors) == 1
    assert outcome.errors[0][1].startswith("Error while importing CSV.")


def test_other_extensions_import_nothing() -> None:
    outcome = run("sis_import.xml", b"<xml/>")
    assert outcome.supplied_batches == ()
    assert outcome.final_state is WorkflowState.IMPORTED


def test_running_immediately_follows_canvas_row_threshold() -> None:
    header = b"user_id,login_id,status\n"
    rows = [f"u{i},l{i},active\n".encode() for i in range(50)]
    assert run("users.csv", header + b"".join(rows[:49])).running_immediately is True
    assert run("users.csv", header + b"".join(rows)).running_immediately is False


def test_failed_large_import_ends_at_progress_100() -> None:
    rows = b"".join(f"u{i},l{i},active\n".encode() for i in range(60))
    payload = make_zip({"users.csv": b"user_id,login_id,status\n" + rows, "x.csv": b"a,b\n"})
    outcome = run("big.zip", payload)
    assert outcome.final_state is WorkflowState.FAILED_WITH_MESSAGES
    assert outcome.final_progress == 100


def test_row_warnings_carry_canvas_row_numbers_and_row_text() -> None:
    payload = b'user_id,login_id,status\n\nu1,"l\n1",active\n,l2,active\n'
    [problem] = run("users.csv", payload).problems
    assert (problem.file, problem.row, problem.row_info, problem.failure) == (
        "users.csv",
        3,
        ",l2,active\n",
        False,
    )
    [failure] = run("users.csv", b"\xff").problems
    assert (failure.row, failure.failure) == (None, True)


def test_applied_rows_are_the_imported_ones_in_importer_order() -> None:
    payload = make_zip(
        {"users.csv": b"user_id,login_id,status\nu1,l1,active\n,l2,active\n", "c.csv": COURSES}
    )
    applied = import_upload("b.zip", payload, skip_deletes=False, error_report=lambda: 1).applied
    assert [(a.kind, a.row.get("course_id") or a.row.get("user_id")) for a in applied] == [
        (SisKind.COURSE, "c1"),
        (SisKind.USER, "u1"),
    ]
    crashed = import_upload("b.zip", b"not a zip", skip_deletes=False, error_report=lambda: 1)
    assert crashed.applied == ()
