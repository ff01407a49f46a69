"""The strict CSV reader accepts and rejects what Ruby's CSV (Canvas) does."""

from __future__ import annotations

import pytest

from gateway.sorting.validation.rubycsv import MalformedCsvError, detect_row_separator, parse_rows


@pytest.mark.parametrize(
    ("text", "separator"),
    [
        ("a\r\nb", "\r\n"),
        ("a\nb\r\n", "\n"),
        ("a\rb", "\r"),
        ("abc", "\n"),
        ('"x\r\n",y\n', "\r\n"),
    ],
)
def test_row_separator_is_the_first_line_end_like_ruby(text: str, separator: str) -> None:
    assert detect_row_separator(text) == separator


def test_plain_rows_with_crlf_and_trailing_newline() -> None:
    assert parse_rows("a,b\r\n1,2\r\n") == [["a", "b"], ["1", "2"]]


def test_blank_lines_are_skipped_but_comma_only_rows_are_kept() -> None:
    assert parse_rows("a,b\n\n\n1,2\n,\n") == [["a", "b"], ["1", "2"], ["", ""]]


def test_quoted_fields_keep_separators_newlines_and_doubled_quotes() -> None:
    text = 'id,note\n1,"a, ""quoted""\nline"\n2,""\n'
    assert parse_rows(text) == [["id", "note"], ["1", 'a, "quoted"\nline'], ["2", ""]]


def test_trailing_comma_gives_an_empty_last_field() -> None:
    assert parse_rows("a,b,\nc") == [["a", "b", ""], ["c"]]


def test_surrounding_whitespace_is_kept_raw() -> None:
    assert parse_rows(" a , b \n") == [[" a ", " b "]]


@pytest.mark.parametrize(
    "text",
    [
        'a,b\n1,"unclosed\n',  # unbalanced quote at the end
        'a,b\n1,x"y\n',  # quote inside an unquoted field
        'a,b\n1,"x"y\n',  # text after the closing quote
        'a,b\n1, "x"\n',  # space before the opening quote makes it unquoted
        "a,b\r\n1,x\ny\r\n",  # bare LF inside an unquoted field of a CRLF file
    ],
)
def test_malformed_text_is_rejected(text: str) -> None:
    with pytest.raises(MalformedCsvError):
        parse_rows(text)


def test_quote_error_far_down_the_file_is_still_found() -> None:
    text = "user_id,login_id,status\n" + "u,l,active\n" * 150 + 'u,"l,active\n'
    with pytest.raises(MalformedCsvError):
        parse_rows(text)
