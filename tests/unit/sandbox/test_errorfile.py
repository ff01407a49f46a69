"""The error CSV and the SisImportError JSON (§1.6)."""

from __future__ import annotations

from gateway.sandbox.errorfile import SisError, error_json, errors_csv, row_text


def test_errors_csv_is_ruby_csv() -> None:
    problems = (
        SisError(None, "Error, with a comma", failure=True),
        SisError("users.csv", 'Improper status "x" for user u1', row=7, row_info="u1,l1,x\n"),
    )
    assert errors_csv(12, problems) == (
        b"sis_import_id,file,message,row\n"
        b'12,,"Error, with a comma",\n'
        b'12,users.csv,"Improper status ""x"" for user u1",7\n'
    )


def test_row_text_and_error_json() -> None:
    assert row_text(("a", "b,c", "")) == 'a,"b,c",\n'
    problem = SisError("e.csv", "m", row=2, row_info="a\n")
    assert error_json(4, problem) == {
        "sis_import_id": 4,
        "file": "e.csv",
        "message": "m",
        "row_info": "a\n",
        "row": 2,
    }
