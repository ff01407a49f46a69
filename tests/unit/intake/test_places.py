"""Client paths resolve to the home's two folders or are refused with a reason."""

from __future__ import annotations

import asyncssh
import pytest

from gateway.intake.places import Place, canonical, file_in, locate


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
