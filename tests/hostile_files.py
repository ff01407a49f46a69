"""Files a hostile or careless sender makes: the damaged zips that once stalled an
institution, and seeded mutators that derive many more zips and CSVs from good ones.

Every builder returns bytes; ``ZIP_PASSWORD`` opens the AES zips.
"""

from __future__ import annotations

import io
import random
import struct
import zipfile
from collections.abc import Callable, Iterator

from tests.unit.sorting.files import zip_bytes

ZIP_PASSWORD = b"zip-secret"
USERS = b"user_id,login_id,status\n" + b"".join(
    b"u%d,login%d,active\n" % (n, n) for n in range(60))
COURSES = b"course_id,short_name,long_name,status\nC1,C1,Course one,active\n"


def plain_zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    """An ordinary zip of ``members``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def aes_zip(members: dict[str, bytes]) -> bytes:
    """A WinZip AES-256 zip of ``members`` under ``ZIP_PASSWORD``."""
    return zip_bytes(members, ZIP_PASSWORD)


def damaged_lzma() -> bytes:
    """A member compressed with LZMA whose compressed data is damaged."""
    data = bytearray(plain_zip({"users.csv": USERS}, zipfile.ZIP_LZMA))
    start = 30 + len("users.csv") + 12  # past the local header and LZMA's own header
    for index in range(start, start + 24):
        data[index] ^= 0x5A
    return bytes(data)


def nul_named() -> bytes:
    """A member stored as ``"\\0hidden.csv"``: read back with an empty name."""
    data = bytearray(plain_zip({"Xhidden.csv": USERS}))
    for _ in range(2):  # the local header and the central directory
        data[data.index(b"Xhidden.csv")] = 0
    return bytes(data)


def _aes_extra(data: bytes | bytearray, start: int = 0) -> int:
    """Offset of the next AES extra field (header id 0x9901) from ``start``."""
    return bytes(data).index(b"\x01\x99", start)


def aes_strength(strength: int = 7) -> bytes:
    """An AES zip whose strength byte (1-3 are defined) says ``strength``."""
    data = bytearray(aes_zip({"users.csv": USERS}))
    local = _aes_extra(data)
    central = _aes_extra(data, local + 4)
    for at in (local, central):
        data[at + 8] = strength  # id(2) size(2) version(2) vendor(2) strength(1)
    return bytes(data)


def aes_extra_overrun() -> bytes:
    """An AES zip whose local header's extra length runs past the end of the file."""
    data = bytearray(aes_zip({"users.csv": USERS}))
    struct.pack_into("<H", data, 28, 60_000)
    return bytes(data)


def aes_flag_cleared() -> bytes:
    """An AES zip whose 'encrypted' flag is cleared in both headers."""
    data = bytearray(aes_zip({"users.csv": USERS}))
    data[6] &= 0xFE
    central = bytes(data).index(b"PK\x01\x02")
    data[central + 8] &= 0xFE
    return bytes(data)


STALLERS: dict[str, Callable[[], bytes]] = {
    "damaged-lzma.zip": damaged_lzma,
    "nul-named.zip": nul_named,
    "aes-strength-7.zip": aes_strength,
    "aes-extra-overrun.zip": aes_extra_overrun,
    "aes-flag-cleared.zip": aes_flag_cleared,
}
"""The zips that stalled an institution before (issue: hostile input, finding 1)."""

EMPTY_DELIVERIES: dict[str, Callable[[], bytes]] = {
    "empty.zip": lambda: plain_zip({}),
    "folders-only.zip": lambda: plain_zip({"export/": b"", "export/2026/": b""}),
    "dotfiles-only.zip": lambda: plain_zip({".users.csv": USERS, "__MACOSX/._users.csv": b"x",
                                            ".DS_Store": b"\0\0"}),
}
"""Zips with no CSV Canvas would import (finding 12)."""


def seeds() -> list[bytes]:
    """Good zips the mutator starts from: deflated, stored, LZMA, bzip2 and AES."""
    members = {"users.csv": USERS, "courses.csv": COURSES}
    return [plain_zip(members), plain_zip(members, zipfile.ZIP_STORED),
            plain_zip(members, zipfile.ZIP_LZMA), plain_zip(members, zipfile.ZIP_BZIP2),
            aes_zip(members)]


def mutants(count: int, seed: int) -> Iterator[bytes]:
    """``count`` mutated zips, the same for the same ``seed``: bytes flipped, header
    fields overwritten with edge values, truncations and duplicated spans."""
    chooser = random.Random(seed)
    bases = seeds()
    for _ in range(count):
        data = bytearray(chooser.choice(bases))
        for _ in range(chooser.randint(1, 4)):
            _mutate(data, chooser)
        yield bytes(data)


def _mutate(data: bytearray, chooser: random.Random) -> None:
    if not data:
        return
    at = chooser.randrange(len(data))
    match chooser.randrange(5):
        case 0:
            data[at] ^= 1 << chooser.randrange(8)
        case 1:  # a 16-bit header field set to an edge value
            value = chooser.choice((0, 1, 7, 0x7FFF, 0xFFFF))
            if at + 2 <= len(data):
                struct.pack_into("<H", data, at, value)
        case 2:
            del data[at:]
        case 3:
            span = data[at:at + chooser.randint(1, 64)]
            data[at:at] = span
        case _:
            signature = chooser.choice((b"PK\x03\x04", b"PK\x01\x02", b"\x01\x99"))
            found = bytes(data).find(signature)
            if found >= 0:
                offset = found + chooser.randrange(4, 30)
                if offset < len(data):
                    data[offset] = chooser.randrange(256)


CSV_SEEDS = (
    USERS,
    b"course_id,user_id,role,status,section_id\r\nC1,u1,student,active,S1\r\n"
    b"C1,u2,StudentEnrollment,deleted,\r\n",
    b'term_id,name,status,start_date,end_date\nT1,"Fall, 2026",active,2026-08-20,'
    b'2026-12-20\n',
    COURSES,
)
CSV_PIECES = (b",", b'"', b"\n", b"\r", b"\r\n", b"\x00", b"\xff", b"\xc3", b"\xe2\x80\xa8",
              b"=cmd|' /C calc'!A0", b"deleted", b"2026-02-30", b" ", "\ufeff".encode())
"""What the CSV mutator splices in: separators, quotes, line ends, NUL, broken UTF-8, a
line separator, a spreadsheet formula, values Canvas rules look at."""


def csv_mutants(count: int, seed: int) -> Iterator[bytes]:
    """``count`` mutated CSVs, the same for the same ``seed``: pieces spliced in, spans
    cut or repeated, the header damaged, the file truncated."""
    chooser = random.Random(seed)
    for _ in range(count):
        data = bytearray(chooser.choice(CSV_SEEDS))
        for _ in range(chooser.randint(1, 5)):
            at = chooser.randrange(len(data) + 1)
            match chooser.randrange(4):
                case 0:
                    data[at:at] = chooser.choice(CSV_PIECES)
                case 1:
                    del data[at:at + chooser.randint(1, 8)]
                case 2:
                    data[at:at] = data[at:at + chooser.randint(1, 40)] * chooser.randint(1, 3)
                case _:
                    del data[at:]
        yield bytes(data)
