"""The bytes of one CSV, checked as they stream past: UTF-8, NUL bytes, row separator.

Canvas requires the whole file to be valid UTF-8 (a BOM is fine) and skips a file that is
not (`Invalid UTF-8`).  ``CheckedSource`` validates each chunk incrementally (C speed),
remembers where the first bad byte is (line and byte offset) and then reports end-of-file,
so the text layer above never sees an undecodable byte and memory stays one chunk deep.
A NUL byte is valid UTF-8: Canvas reads the file and only the rows holding one fail (its
database refuses the text), so the source just notes that it has passed one on
(``nul_seen``) and the row checks look for it from then on.
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from gateway.sorting.validation.findings import Code
from gateway.sorting.validation.rubycsv import detect_row_separator

CHUNK = 1 << 20


@dataclass(frozen=True)
class ByteProblem:
    """The first byte that stops the file: what, 1-based physical line, 0-based offset."""

    code: Code
    line: int
    offset: int
    detail: str


class CheckedSource(io.RawIOBase):
    """A raw stream over ``stream`` that stops at the first invalid UTF-8 byte.

    ``separator`` is the row separator Ruby would use, known from the first chunk.
    ``on_progress`` (if given) is called with the bytes read so far after each chunk.
    """

    def __init__(self, stream: BinaryIO,
                 on_progress: Callable[[int], None] | None = None) -> None:
        super().__init__()
        self._stream = stream
        self._on_progress = on_progress
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._head = stream.read(CHUNK)
        self.empty = not self._head
        # Line ends are ASCII, so a decoding problem cannot hide one from this look.
        self.separator = detect_row_separator(self._head[:CHUNK].decode("latin-1"))
        self._line_end = self.separator.encode("ascii")
        self._carry = b""  # the last byte of a chunk, for a \r\n split across two chunks
        self.lines = 0  # line ends read so far
        self.offset = 0  # bytes passed on so far
        self.problem: ByteProblem | None = None
        self.nul_seen = False  # a NUL byte has been passed on (it may still be read ahead)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self.problem is not None:
            return 0
        data = self._next(len(buffer))
        if not data:
            self._finish()
            return 0
        data = self._check(data)
        buffer[: len(data)] = data
        self.offset += len(data)
        if self._on_progress is not None:
            self._on_progress(self.offset)
        return len(data)

    def _next(self, size: int) -> bytes:
        if self._head:
            data, self._head = self._head[:size], self._head[size:]
            return data
        return self._stream.read(size)

    def _check(self, data: bytes) -> bytes:
        """Return the part of ``data`` before the first problem (all of it when clean)."""
        bad = self._first_bad(data)
        if bad is not None:
            position, code, detail = bad
            self.problem = ByteProblem(code, self._line_at(data, position) + 1,
                                       self.offset + position, detail)
            data = data[:max(position, 0)]
        self.lines += self._count_lines(data)
        return data

    def _first_bad(self, data: bytes) -> tuple[int, Code, str] | None:
        pending = len(self._decoder.getstate()[0])
        try:
            self._decoder.decode(data)
        except UnicodeDecodeError as error:
            position = error.start - pending
            value = error.object[error.start:error.start + 1].hex()
            return position, Code.INVALID_UTF8, f"byte 0x{value}: {error.reason}"
        self.nul_seen = self.nul_seen or b"\0" in data
        return None

    def _finish(self) -> None:
        pending = self._decoder.getstate()[0]
        if pending and self.problem is None:
            self.problem = ByteProblem(Code.INVALID_UTF8, self.lines + 1,
                                       self.offset - len(pending),
                                       "the file ends inside a multi-byte character")

    def _count_lines(self, data: bytes) -> int:
        count = data.count(self._line_end)
        if self._line_end == b"\r\n" and self._carry == b"\r" and data[:1] == b"\n":
            count += 1
        self._carry = data[-1:]
        return count

    def _line_at(self, data: bytes, position: int) -> int:
        """Line ends before ``position`` (which may be negative: in the carried bytes)."""
        return self.lines + data.count(self._line_end, 0, max(position, 0))


def text_lines(source: CheckedSource) -> io.TextIOWrapper:
    """The decoded text of ``source`` (BOM dropped), line ends untranslated."""
    buffered = io.BufferedReader(source, CHUNK)
    # Undecodable bytes never reach this layer; "replace" only guards the cut-off tail.
    return io.TextIOWrapper(buffered, encoding="utf-8-sig", errors="replace",
                            newline="")
