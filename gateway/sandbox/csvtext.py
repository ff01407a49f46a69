"""A strict CSV reader that rejects what Ruby's CSV library (which Canvas uses) rejects.

Python's `csv` module is lenient: it accepts a stray quote inside an unquoted field and text
after a closing quote, both of which make Ruby raise `CSV::MalformedCSVError` and Canvas
report `Malformed CSV`.  The sandbox must fail exactly the files Canvas fails, so it parses
with the rules below instead:

- the row separator is detected like Ruby does: the first `\\r\\n`, `\\n` or `\\r` in the text
  (quotes are not considered), `\\n` when there is none;
- a field that starts with `"` is quoted: `""` inside it is a literal quote, and the closing
  quote must be followed by `,`, the row separator or the end of the text;
- an unquoted field may not contain `"`, `\\r` or `\\n` (other than as the row separator);
- an empty line is a blank row and is skipped (Ruby's `skip_blanks`), a row of only commas
  is not blank.
"""

from __future__ import annotations

import re

_FIRST_LINE_END = re.compile(r"\r\n?|\n")


class MalformedCsvError(ValueError):
    """The text is not CSV that Ruby's strict parser accepts."""


def detect_row_separator(text: str) -> str:
    """Return the row separator Ruby's CSV would pick for this text."""
    match = _FIRST_LINE_END.search(text)
    return match.group(0) if match else "\n"


def parse_rows(text: str) -> list[list[str]]:
    """Return the rows of `text` as lists of raw (unstripped) field strings.

    Blank lines are skipped.  Raises MalformedCsvError on any quoting error.
    """
    reader = _Reader(text, detect_row_separator(text))
    return reader.read_all()


class _Reader:
    """Single-pass tokenizer over one text; `position` always points at a field start."""

    def __init__(self, text: str, row_separator: str) -> None:
        self.text = text
        self.separator = row_separator
        self.position = 0

    def read_all(self) -> list[list[str]]:
        rows: list[list[str]] = []
        while self.position < len(self.text):
            if self.text.startswith(self.separator, self.position):
                self.position += len(self.separator)  # blank line
                continue
            rows.append(self._read_row())
        return rows

    def _read_row(self) -> list[str]:
        fields: list[str] = []
        while True:
            fields.append(self._read_field())
            if self.position >= len(self.text):
                return fields
            if self.text.startswith(self.separator, self.position):
                self.position += len(self.separator)
                return fields
            # _read_field stops only at a comma, the separator or the end.
            self.position += 1

    def _read_field(self) -> str:
        if self.position < len(self.text) and self.text[self.position] == '"':
            return self._read_quoted()
        return self._read_unquoted()

    def _read_unquoted(self) -> str:
        start = self.position
        text = self.text
        while self.position < len(text):
            char = text[self.position]
            if char == ",":
                break
            if char in "\r\n":
                if text.startswith(self.separator, self.position):
                    break
                raise MalformedCsvError("Unquoted fields do not allow new line")
            if char == '"':
                raise MalformedCsvError("Illegal quoting")
            self.position += 1
        return text[start : self.position]

    def _read_quoted(self) -> str:
        text = self.text
        pieces: list[str] = []
        cursor = self.position + 1
        while True:
            quote = text.find('"', cursor)
            if quote < 0:
                raise MalformedCsvError("Unclosed quoted field")
            pieces.append(text[cursor:quote])
            if text.startswith('""', quote):
                pieces.append('"')
                cursor = quote + 2
                continue
            self.position = quote + 1
            break
        if (
            self.position < len(text)
            and text[self.position] != ","
            and not text.startswith(self.separator, self.position)
        ):
            raise MalformedCsvError("Any value after quoted field isn't allowed")
        return "".join(pieces)
