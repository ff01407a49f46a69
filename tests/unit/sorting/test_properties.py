"""Property tests: no bytes and no zip make the validator crash, and every verdict either
names a kind or carries a failure-class finding.  ``validate_upload`` turns an exception of
its checks into ``check_failed``: these properties assert it never has to."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.sorting.validation import ValidationOptions, validate_upload, validate_zip
from gateway.sorting.validation.findings import Code
from gateway.sorting.validation.rubycsv import MalformedCsvError, parse_rows

HEADERS = [b"user_id,login_id,status\n", b"course_id,user_id,role,status\r\n",
           b"term_id,name,status,start_date\n", b"old_id,new_id,type\n", b""]
CSV_BYTES = st.one_of(
    st.binary(max_size=400),
    st.tuples(st.sampled_from(HEADERS),
              st.lists(st.sampled_from([b",", b'"', b"\n", b"\r", b"a", b" ", b"\xff",
                                        b"\x00", b"active", b"\xc3\xa9", b"2024-13-01"]),
                       max_size=60)).map(lambda t: t[0] + b"".join(t[1])),
)
SMALL = ValidationOptions(record_limit=200, max_findings=20)
FAST = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@FAST
@given(data=CSV_BYTES)
def test_any_bytes_give_a_kind_or_a_failure_class_finding(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "upload.csv"
    path.write_bytes(data)
    verdict = validate_upload(path, "upload.csv", options=SMALL)
    assert all(f.code is not Code.CHECK_FAILED for f in verdict.findings)
    assert verdict.failure_class or getattr(verdict, "kind", None) is not None


@FAST
@given(members=st.dictionaries(
    st.sampled_from(["users.csv", "a/b.csv", "../x.csv", ".h.csv", "r.txt", "d/"]),
    CSV_BYTES, max_size=4))
def test_any_zip_gives_verdicts_without_crashing(tmp_path: Path,
                                                 members: dict[str, bytes]) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    path = tmp_path / "upload.zip"
    path.write_bytes(buffer.getvalue())
    verdict = validate_zip(path, "upload.zip", options=SMALL)
    for member in verdict.members:
        assert member.failure_class or member.kind is not None


@FAST
@given(data=st.binary(max_size=300))
def test_truncated_or_random_zips_never_crash(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "upload.zip"
    path.write_bytes(b"PK\x03\x04" + data)
    assert validate_zip(path, "upload.zip").failure_class


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet='ab,"\r\n ', max_size=60))
def test_block_reader_agrees_with_the_strict_tokenizer(text: str) -> None:
    from gateway.sorting.validation.rubycsv import _Reader, detect_row_separator

    try:
        expected: list[list[str]] | None = _Reader(text, detect_row_separator(text)).read_all()
    except MalformedCsvError:
        expected = None
    try:
        found: list[list[str]] | None = parse_rows(text)
    except MalformedCsvError:
        found = None
    assert found == expected
