"""Batching rules and the batch zip: quiet period, unique member names, stable bytes, merge."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from gateway.sorting.batching import (
    is_quiet,
    merge_csvs,
    path_source,
    write_batch_zip,
)
from gateway.sorting.identity import MEMBER_NAME_MAX, attempt_prefix, bare_name, prefixed_names
from gateway.state.records import UploadRecord
from gateway.state.states import UploadState


def _upload(upload_id: int, name: str, received_at: float = 0.0) -> UploadRecord:
    return UploadRecord(id=upload_id, institution="alpha", filename=name, size=1,
                        sha256="0" * 64, state=UploadState.RECEIVED, kind=None, rows=None,
                        problem=None, batch_id=None, received_at=received_at)


def test_quiet_only_after_the_newest_upload_settles() -> None:
    pending = [_upload(1, "a.csv", 100.0), _upload(2, "b.csv", 104.0)]
    assert not is_quiet(pending, 105.0, 3.0)
    assert is_quiet(pending, 107.0, 3.0)
    assert not is_quiet([], 1000.0, 3.0)


@given(st.lists(st.sampled_from(["users.csv", "Users.csv", "users", "a.b.csv", "users-2.csv",
                                  "sis/users.csv", "b000001-a3-users.csv"]), max_size=12))
def test_member_names_are_unique_flat_and_keep_the_first_name(names: list[str]) -> None:
    prefix = attempt_prefix(7, 2)
    members = prefixed_names(names, prefix)
    assert len({m.lower() for m in members}) == len(names)
    assert all(m.startswith("b000007-a2-") and "/" not in m for m in members)
    if names:
        first = names[0].rsplit("/", 1)[-1].removeprefix("b000001-a3-")
        assert members[0] == prefix + first


def test_batch_zip_is_deterministic_and_holds_the_bytes(tmp_path: Path) -> None:
    sources = []
    for index, body in enumerate([b"user_id,login_id,status\nu,l,active\n", b"x" * 100_000]):
        path = tmp_path / f"src{index}"
        path.write_bytes(body)
        sources.append((f"file{index}.csv", [path_source(path)]))
    write_batch_zip(sources, tmp_path / "one.zip")
    write_batch_zip(sources, tmp_path / "two.zip")
    assert (tmp_path / "one.zip").read_bytes() == (tmp_path / "two.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "one.zip") as archive:
        assert archive.namelist() == ["file0.csv", "file1.csv"]
        assert archive.read("file1.csv") == b"x" * 100_000


def test_csvs_of_one_kind_merge_under_the_union_header_in_arrival_order(
        tmp_path: Path) -> None:
    first = tmp_path / "a.csv"
    first.write_bytes(b"\xef\xbb\xbfuser_id,login_id,status\r\nu1,l1,active\r\n\r\n")
    second = tmp_path / "b.csv"
    second.write_text('User_ID,Status,Login_ID,email\nu2,active,l2,"a@b.edu"\n'
                      'u1,deleted,l1,\n')
    out = io.BytesIO()
    merge_csvs([path_source(first), path_source(second)], out)
    assert out.getvalue().decode() == (
        "user_id,login_id,status,email\r\n"
        "u1,l1,active,\r\n"
        "u2,l2,active,a@b.edu\r\n"
        "u1,l1,deleted,\r\n")


def test_a_repeated_column_keeps_its_first_value_as_canvas_reads_it(tmp_path: Path) -> None:
    first = tmp_path / "a.csv"
    first.write_text("user_id,login_id,status,status\nu1,l1,active,deleted\n")
    second = tmp_path / "b.csv"
    second.write_text("user_id,login_id,status\nu2,l2,active\n,,\n")
    out = io.BytesIO()
    merge_csvs([path_source(first), path_source(second)], out)
    assert out.getvalue().decode() == (
        "user_id,login_id,status\r\nu1,l1,active\r\nu2,l2,active\r\n,,\r\n")


def test_member_names_from_windows_paths_are_clean_base_names() -> None:
    [name] = prefixed_names(["a\\..\\..\\evil-users.csv"], attempt_prefix(3, 1))
    assert name == "b000003-a1-evil-users.csv"


# Upload and member names as long as SFTP takes (255 bytes), several alike: the prefix must
# not push the name Canvas extracts to disk past NAME_MAX.
_LONG = st.builds(lambda character, count, extension: character * count + extension,
                  st.sampled_from(["u", "ü", "€", "😀"]), st.integers(1, 255),
                  st.sampled_from([".csv", "", ".CSV", "." + "x" * 40]))


@given(st.lists(_LONG.filter(lambda name: len(name.encode()) <= 255), max_size=6),
       st.integers(1, 12))
def test_member_names_fit_canvas_whatever_the_upload_name(names: list[str],
                                                           attempt: int) -> None:
    prefix = attempt_prefix(123_456, attempt)

    members = prefixed_names(names, prefix)

    assert len({m.lower() for m in members}) == len(names)
    for name, member in zip(names, members, strict=True):
        assert len(member.encode()) <= MEMBER_NAME_MAX
        assert member.startswith(prefix)
        assert bare_name(member)[:1] == name[:1]
        if name.lower().endswith(".csv"):
            assert member.lower().endswith(".csv")
        alone = [n.lower() for n in names].count(name.lower()) == 1
        if len((prefix + name).encode()) <= MEMBER_NAME_MAX and alone:
            assert member == prefix + name
