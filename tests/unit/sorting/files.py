"""Small helpers to write test files and zips."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pyzipper

from gateway.sorting.validation import FileVerdict, ValidationOptions, validate_file


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def check(tmp_path: Path, data: bytes, name: str = "users.csv",
          options: ValidationOptions | None = None) -> FileVerdict:
    return validate_file(write(tmp_path, name, data), name, options)


def messages(verdict: FileVerdict) -> list[tuple[int | None, str | None, str]]:
    return [(f.row, f.column, f.message) for f in verdict.findings]


def zip_bytes(members: dict[str, bytes], password: bytes | None = None) -> bytes:
    buffer = io.BytesIO()
    if password is None:
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in members.items():
                archive.writestr(name, data)
    else:
        with pyzipper.AESZipFile(buffer, "w", compression=pyzipper.ZIP_DEFLATED,
                                 encryption=pyzipper.WZ_AES) as archive:
            archive.setpassword(password)
            for name, data in members.items():
                archive.writestr(name, data)
    return buffer.getvalue()
