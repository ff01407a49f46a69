"""CSV parsed the way Ruby's CSV library (which Canvas uses) parses it, streaming.

Python's `csv` module is lenient: it accepts a stray quote inside an unquoted field and text
after a closing quote, both of which make Ruby raise `CSV::MalformedCSVError` and Canvas
report `Malformed CSV`.  The gateway must fail exactly the files Canvas fails, so it follows
Ruby's rules:

- the row separator is the first `\\r\\n`, `\\n` or `\\r` in the text (quotes are not
  considered), `\\n` when there is none;
- a field that starts with `"` is quoted: `""` inside it is a literal quote, and the closing
  quote must be followed by `,`, the row separator or the end of the text;
- an unquoted field may not contain `"`, `\\r` or `\\n` (other than as the row separator);
- an empty line is a blank row and is skipped (Ruby's `skip_blanks`); a row of only commas
  is not blank.

Speed: a block of lines with no quote and no stray line-end character, or whose quotes
are all simple (a quoted field holds no quote and no line end), is split flat at C speed
(``blocks``).  Another block whose every line is a complete, well-formed Ruby record (one
C-level regex match over the block says so) goes through the C `csv` module, which gives
the same fields for such text.  Only the other blocks go through the strict tokenizer, line
by line, together with the following lines while a quoted field is open (an odd number of
quotes so far).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from itertools import chain

from gateway.sorting.validation.blocks import Block, Layout, split_plain, split_simply_quoted

_FIRST_LINE_END = re.compile(r"\r\n?|\n")
_STRAY = {"\n": "\r", "\r": "\n"}
# One field as Ruby accepts it, with no line end anywhere: quoted ("" a literal quote) or
# unquoted (no quote).  Possessive and atomic, so matching is linear in the text.
_FIELD = r'(?>"(?:[^"\r\n]++|"")*+"|[^",\r\n]*+)'
_RECORD = rf"{_FIELD}(?:,{_FIELD})*+"
# Lines of a block joined by "\n" (any separator: the lines hold no line end of their own).
_WELL_FORMED_BLOCK = re.compile(rf"{_RECORD}(?:\n{_RECORD})*+")
csv.field_size_limit(1 << 30)  # the record limit (RecordTooLongError) bounds fields first


class MalformedCsvError(ValueError):
    """The text is not CSV that Ruby's strict parser accepts.

    ``line`` is the 1-based physical line; ``row`` the 1-based row as Canvas numbers rows
    (header = 1, blank lines skipped, a quoted line end does not start a row), 0 when the
    error was raised outside :func:`read_batches`.
    """

    def __init__(self, reason: str, line: int = 0, row: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line
        self.row = row


class RecordTooLongError(ValueError):
    """One record (a line, or lines joined by an open quoted field) exceeds the limit."""

    def __init__(self, line: int, limit: int) -> None:
        super().__init__(f"a record starting at line {line} exceeds {limit} characters")
        self.line = line
        self.limit = limit


def detect_row_separator(text: str) -> str:
    """Return the row separator Ruby's CSV would pick for text that starts with ``text``."""
    match = _FIRST_LINE_END.search(text)
    return match.group(0) if match else "\n"


def parse_rows(text: str) -> list[list[str]]:
    """Return the rows of `text` as lists of raw (unstripped) field strings.

    Blank lines are skipped.  Raises MalformedCsvError on any quoting error.
    """
    source = io.StringIO(text, newline="")  # "": no newline translation on read
    return [row for batch in read_batches(source.read, detect_row_separator(text))
            for row in batch]


def read_batches(read: Callable[[int], str], separator: str,
                 max_record: int = 0) -> Iterator[list[list[str]]]:
    """Yield the rows (cells) of the text ``read(size)`` returns, a block at a time
    (``read_blocks``' blocks as rows)."""
    for block in read_blocks(read, separator, max_record):
        yield block.rows()


def read_blocks(read: Callable[[int], str], separator: str,
                max_record: int = 0) -> Iterator[Block]:
    """Yield the rows (cells) of the text ``read(size)`` returns, a Block at a time.

    Blank lines are skipped.  ``max_record`` > 0 bounds the characters of one record (a
    line, or the lines an open quoted field spans), so an unbalanced quote or a missing line
    end cannot pull a whole file into memory.
    Raises MalformedCsvError (with the physical line) or RecordTooLongError.
    """
    records = _Records(separator, max_record)
    carry = ""
    while chunk := read(BLOCK):
        text = carry + chunk if carry else chunk
        end = text.rfind(separator)
        if end < 0:
            carry = records.check_length(text)
            continue
        # A lone "\r" at the end of a "\r\n" text stays in the carry: rfind skipped it.
        carry = text[end + len(separator):]
        yield records.block(text[:end])
    if carry or records.pending:
        yield records.block(carry or None)
    records.finish()


BLOCK = 1 << 16


class _Records:
    """Turns blocks of complete lines into rows; keeps an open quoted field across blocks."""

    def __init__(self, separator: str, max_record: int) -> None:
        self.separator = separator
        self.max_record = max_record
        self.layout = Layout(separator, max_record, self.plain)
        self.line = 0  # physical lines consumed
        self.rows = 0  # records (rows) produced: the row number of a malformed record
        self.pending: list[str] = []
        self.pending_size = self.quotes = self.start = 0

    def check_length(self, text: str) -> str:
        if self.max_record and len(text) > self.max_record:
            raise RecordTooLongError(self.line + 1, self.max_record)
        return text

    def block(self, text: str | None) -> Block:
        """The rows of ``text``: complete lines (the last one without its separator);
        None: no more lines (the end of the file, an open quoted field pending)."""
        lines = text.split(self.separator) if text is not None else []
        text = text or ""
        if not self.pending and self.plain(text):
            if self.max_record and max(map(len, lines), default=0) > self.max_record:
                longest = next(i for i, line in enumerate(lines) if len(line) > self.max_record)
                raise RecordTooLongError(self.line + longest + 1, self.max_record)
            self.line += len(lines)
            plain = split_plain(text, lines, self.separator)
            self.rows += plain.count  # once per block: nothing added per row
            return plain
        simple = None if self.pending else split_simply_quoted(text, lines, self.layout)
        if simple is not None:
            self.line += len(lines)
            self.rows += simple.count
            return simple
        if not self.pending and self._well_formed(lines):
            self.line += len(lines)
            parsed = [row for row in csv.reader(lines, strict=True) if row]
            self.rows += len(parsed)
            widths = set(map(len, parsed))
            if len(widths) == 1:
                return Block(flat=list(chain.from_iterable(parsed)), width=widths.pop())
            return Block(parsed)
        rows: list[list[str]] = []
        try:
            for line in lines:
                self.line += 1
                self._line(line, rows)
        except MalformedCsvError as error:
            error.row = self.rows + len(rows) + 1
            raise
        self.rows += len(rows)
        return Block(rows)

    def plain(self, text: str) -> bool:
        """No quote and no stray line-end character in these lines."""
        if '"' in text:
            return False
        if self.separator == "\r\n":
            pairs = text.count("\r\n")
            return text.count("\r") == pairs and text.count("\n") == pairs
        return _STRAY[self.separator] not in text

    def _well_formed(self, lines: list[str]) -> bool:
        """Every line is a complete record Ruby accepts, within the record limit: the C
        ``csv`` reader then gives Ruby's fields (blank lines come out empty, and are
        dropped like Ruby's ``skip_blanks``)."""
        if self.max_record and max(map(len, lines), default=0) > self.max_record:
            return False  # the exact path names the line
        joined = "\n".join(lines)
        if "\r" in joined or joined.count("\n") != len(lines) - 1:
            return False  # a line end inside a line: a quoted one, or a stray one
        return _WELL_FORMED_BLOCK.fullmatch(joined) is not None

    def _line(self, line: str, rows: list[list[str]]) -> None:
        text = line + self.separator
        if self.pending:
            self.pending.append(text)
            self.pending_size += len(text)
            self.quotes += line.count('"')
            if self.max_record and self.pending_size > self.max_record:
                raise RecordTooLongError(self.start, self.max_record)
            if self.quotes % 2 == 0:
                rows.extend(_strict(self.pending, self.separator, self.start))
                self.pending = []
            return
        self.quotes = line.count('"')
        if self.quotes % 2 == 0:
            rows.extend(_strict([text], self.separator, self.line))
        else:
            self.pending, self.pending_size, self.start = [text], len(text), self.line

    def finish(self) -> None:
        if self.pending:
            raise MalformedCsvError("Unclosed quoted field", self.start, self.rows + 1)


def _strict(lines: list[str], separator: str, first_line: int) -> list[list[str]]:
    """Parse one record's text with the strict tokenizer; number errors by physical line."""
    text = "".join(lines)
    reader = _Reader(text, separator)
    try:
        rows = reader.read_all()
    except MalformedCsvError as error:
        line = first_line + text.count(separator, 0, reader.position)
        raise MalformedCsvError(error.reason, line) from None
    return rows


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
