"""Client paths resolve to the home's two folders or are refused with a reason."""

from __future__ import annotations

import asyncssh
import pytest

from gateway.intake.places import (
    InboxFile,
    Place,
    canonical,
    file_in,
    inbox_file,
    inbox_subfolder,
    locate,
)


@pytest.mark.parametrize(("path", "place"), [
    (b"", Place(None, None)), (b"/", Place(None, None)), (b".", Place(None, None)),
    (b"inbox", Place("inbox", None)), (b"/inbox/", Place("inbox", None)),
    (b"/inbox/users.csv", Place("inbox", "users.csv")),
    (b"./inbox//users.csv", Place("inbox", "users.csv")),
    (b"reports/batch-000001.txt", Place("reports", "batch-000001.txt")),
])
def test_paths_inside_the_home(path: bytes, place: Place) -> None:
    assert locate(path) == place


@pytest.mark.parametrize(("path", "error"), [
    (b"/..", asyncssh.SFTPPermissionDenied), (b"inbox/../../etc", asyncssh.SFTPPermissionDenied),
    (b"/etc/passwd", asyncssh.SFTPNoSuchFile), (b"/inbox/a/b", asyncssh.SFTPNoSuchFile),
    (b"/inbox/a\x00b", asyncssh.SFTPInvalidFilename),
    (b"/inbox/a\nb", asyncssh.SFTPInvalidFilename),
    (b"/inbox/\xff", asyncssh.SFTPInvalidFilename),
    (b"/inbox/" + b"x" * 256, asyncssh.SFTPInvalidFilename),
])
def test_escapes_and_bad_names_are_refused(path: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        locate(path)


def test_realpath_is_clamped_at_the_home() -> None:
    assert canonical(b"/../../..") == b"/"
    assert canonical(b"inbox/..") == b"/"
    assert canonical(b"inbox") == b"/inbox"


def test_file_in_says_where_the_action_is_possible() -> None:
    assert file_in(Place("inbox", "a.csv"), "inbox", "upload into /inbox") == "a.csv"
    with pytest.raises(asyncssh.SFTPPermissionDenied, match="upload into /inbox"):
        file_in(Place("reports", "a.csv"), "inbox", "upload into /inbox")
    with pytest.raises(asyncssh.SFTPFileIsADirectory):
        file_in(Place("inbox", None), "inbox", "upload into /inbox")


@pytest.mark.parametrize(("path", "place"), [
    (b"/inbox/batch", Place("inbox", None, "batch")),
    (b"inbox/diff/", Place("inbox", None, "diff")),
    (b"/inbox/batch/2026-fall", Place("inbox", None, "batch/2026-fall")),
    (b"/inbox/diff/nightly sis (2)", Place("inbox", None, "diff/nightly sis (2)")),
    (b"/inbox/batch/2026-fall/users.csv", Place("inbox", "users.csv", "batch/2026-fall")),
    (b"inbox/./diff//nightly/.users.csv.part", Place("inbox", ".users.csv.part", "diff/nightly")),
    (("/inbox/diff/" + "é" * 128).encode(), Place("inbox", None, "diff/" + "é" * 128)),
])
def test_upload_folders_inside_the_inbox(path: bytes, place: Place) -> None:
    assert locate(path) == place


@pytest.mark.parametrize(("path", "error", "message"), [
    (b"/inbox/batch/../x", asyncssh.SFTPPermissionDenied, r"'\.\.' is not allowed"),
    (b"/inbox/batch/a/b/c", asyncssh.SFTPNoSuchFile, r"no deeper than /inbox/batch/<term"),
    (b"/inbox/other/x.csv", asyncssh.SFTPNoSuchFile, r"/inbox/diff/<identifier>/"),
    (b"/reports/batch/x", asyncssh.SFTPNoSuchFile, r"only /inbox .* exist here"),
    (b"/inbox/diff/a\x07b/x.csv", asyncssh.SFTPInvalidFilename, "control characters"),
    (b"/inbox/diff/a\xe2\x80\x8bb", asyncssh.SFTPInvalidFilename, "not printable"),
    (b"/inbox/batch/.2026", asyncssh.SFTPInvalidFilename, "starts with a dot"),
    (b"/inbox/diff/" + b"n" * 129, asyncssh.SFTPInvalidFilename, "longer than 128"),
    (b"/inbox/batch/users.CSV", asyncssh.SFTPInvalidFilename, "is a file name, not a folder"),
    (b"/inbox/diff/x/" + b"y" * 256, asyncssh.SFTPInvalidFilename, "limited to 255 bytes"),
])
def test_malformed_upload_folders_are_refused(path: bytes, error: type[Exception],
                                              message: str) -> None:
    with pytest.raises(error, match=message):
        locate(path)


def test_inbox_files_and_subfolders() -> None:
    assert inbox_file(Place("inbox", "a.csv", "diff/x"), "upload") == InboxFile("diff/x", "a.csv")
    assert inbox_file(Place("inbox", "a.csv"), "upload").display == "/inbox/a.csv"
    assert InboxFile("batch/t", "a.csv").display == "/inbox/batch/t/a.csv"
    with pytest.raises(asyncssh.SFTPFileIsADirectory, match="/inbox/batch/t is a folder"):
        inbox_file(Place("inbox", None, "batch/t"), "upload")
    assert inbox_subfolder(Place("inbox", None, "batch")) == "batch"
    assert inbox_subfolder(Place("inbox", None, "batch/t")) == "batch/t"
    assert inbox_subfolder(Place("inbox", None)) is None
    assert inbox_subfolder(Place("inbox", "a.csv", "batch/t")) is None
