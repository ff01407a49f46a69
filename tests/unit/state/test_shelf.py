"""The shelf contract (what institutions read over SFTP), on both backends: the SFTP homes
of the data volume and a real S3 server."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from gateway.state.custody import Area, Custody
from gateway.state.local_shelf import LocalShelf
from gateway.state.s3_custody import S3Custody
from gateway.state.s3_shelf import READ_AHEAD, S3Shelf
from gateway.state.shelf import OUTBOX, REPORTS, Shelf, export_folder, read_whole
from gateway.state.spool import Spool
from tests.conftest import s3_custody
from tests.s3_server import S3Server

DAILY = export_folder("daily")


def test_published_bytes_are_listed_stated_read_and_replaced(shelf: Shelf) -> None:
    shelf.publish_bytes("alpha", REPORTS, "status.json", b'{"format": 1}\n')
    shelf.publish_bytes("alpha", REPORTS, "batch-000001.receipt.txt", b"receipt")

    assert [(e.name, e.size) for e in shelf.files("alpha", REPORTS)] == [
        ("batch-000001.receipt.txt", 7), ("status.json", 14)]
    found = shelf.stat("alpha", REPORTS, "status.json")
    assert found is not None
    assert found.size == 14
    assert abs(found.modified_at - time.time()) < 60
    shelf.publish_bytes("alpha", REPORTS, "status.json", b'{"format": 1, "queue": 2}\n')
    assert read_whole(shelf, "alpha", REPORTS, "status.json") == b'{"format": 1, "queue": 2}\n'
    assert shelf.files("beta", REPORTS) == []  # institutions never see each other's


def test_missing_files_and_folders_say_so(shelf: Shelf) -> None:
    assert shelf.stat("alpha", REPORTS, "nothing.txt") is None
    assert read_whole(shelf, "alpha", REPORTS, "nothing.txt") is None
    with pytest.raises(FileNotFoundError):
        shelf.open("alpha", REPORTS, "nothing.txt")
    with pytest.raises(FileNotFoundError):
        shelf.files("alpha", export_folder("never-made"))
    assert shelf.remove("alpha", REPORTS, "nothing.txt") is False
    assert shelf.files("alpha", REPORTS) == []
    assert shelf.folders("alpha", OUTBOX) == []


def test_export_folders_exist_once_made_or_published_to(shelf: Shelf, tmp_path: Path) -> None:
    shelf.make_folder("alpha", DAILY)
    shelf.make_folder("alpha", DAILY)  # idempotent
    assert [e.name for e in shelf.folders("alpha", OUTBOX)] == ["daily"]
    assert shelf.files("alpha", DAILY) == []

    source = tmp_path / "held"
    source.write_bytes(b"id,name\n1,x\n")
    shelf.publish_file("alpha", export_folder("weekly"), "20260101-000000Z-users.csv", source)
    assert source.read_bytes() == b"id,name\n1,x\n"  # left for the caller
    assert [e.name for e in shelf.folders("alpha", OUTBOX)] == ["daily", "weekly"]
    assert [e.name for e in shelf.files("alpha", export_folder("weekly"))] == [
        "20260101-000000Z-users.csv"]
    assert shelf.files("alpha", OUTBOX) == []  # folders only


def test_reads_at_any_offset_from_several_threads(shelf: Shelf) -> None:
    data = os.urandom(3 * READ_AHEAD + 12345)
    shelf.publish_bytes("alpha", REPORTS, "big.json", data)
    reader = shelf.open("alpha", REPORTS, "big.json")
    assert reader.entry.size == len(data)
    pieces: dict[int, bytes] = {}
    offsets = list(range(0, len(data), 32768))

    def read(mine: list[int]) -> None:
        for offset in mine:
            pieces[offset] = reader.read(offset, 32768)

    threads = [threading.Thread(target=read, args=(offsets[n::4],)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert b"".join(pieces[offset] for offset in offsets) == data
    assert reader.read(len(data) - 5, 100) == data[-5:]
    assert reader.read(len(data), 100) == b""
    reader.close()
    reader.close()


def test_a_read_returns_a_bounded_piece_whatever_length_is_asked(shelf: Shelf) -> None:
    """SFTP lets a client ask for up to 4 GiB in one read; the answer is a short read of
    at most a window, so one request cannot pull a whole export into memory."""
    data = os.urandom(3 * READ_AHEAD)
    shelf.publish_bytes("alpha", REPORTS, "big.json", data)
    reader = shelf.open("alpha", REPORTS, "big.json")
    piece = reader.read(10, 2**32 - 1)
    assert piece == data[10:10 + len(piece)]
    assert 0 < len(piece) <= READ_AHEAD
    reader.close()


def test_a_file_removed_while_listed_is_left_out(spool: Spool,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Retention or a prune may remove a report while a client lists /reports: the others
    are listed all the same."""
    shelf = LocalShelf(spool)
    for name in ("a.txt", "b.txt"):
        shelf.publish_bytes("alpha", REPORTS, name, b"x")
    scandir = os.scandir

    class Removing:
        """os.scandir, removing a.txt once its entries are read (before their stat)."""

        def __init__(self, path: Path) -> None:
            self._scan = scandir(path)
            self._path = path

        def __enter__(self) -> Removing:
            return self

        def __exit__(self, *exc: object) -> None:
            self._scan.close()

        def __iter__(self) -> object:
            entries = list(self._scan)
            (Path(self._path) / "a.txt").unlink()
            return iter(entries)

    monkeypatch.setattr("gateway.state.local_shelf.os.scandir", Removing)
    assert [entry.name for entry in shelf.files("alpha", REPORTS)] == ["b.txt"]


def test_prune_removes_only_what_is_old(shelf: Shelf, tmp_path: Path) -> None:
    source = tmp_path / "held"
    source.write_bytes(b"x")
    shelf.publish_file("alpha", DAILY, "a.csv", source)
    shelf.publish_file("alpha", DAILY, "b.csv", source)
    assert shelf.prune("alpha", DAILY, older_than=time.time() - 3600) == []
    assert sorted(shelf.prune("alpha", DAILY, older_than=time.time() + 3600)) == [
        "a.csv", "b.csv"]
    assert shelf.files("alpha", DAILY) == []  # the folder stays
    assert shelf.prune("alpha", export_folder("never-made"), older_than=time.time()) == []


def test_remove_and_locate(shelf: Shelf, custody: Custody) -> None:
    shelf.publish_bytes("alpha", REPORTS, "r.txt", b"report")
    where = shelf.locate("alpha", REPORTS, "r.txt")
    assert where.endswith("alpha/reports/r.txt")
    assert where.startswith("s3://") == (not isinstance(shelf, LocalShelf))
    assert shelf.remove("alpha", REPORTS, "r.txt") is True
    assert shelf.stat("alpha", REPORTS, "r.txt") is None
    assert list(custody.keys(Area.HOMES, "alpha/reports/")) == []


def test_local_files_are_where_vendors_always_found_them(spool: Spool, tmp_path: Path) -> None:
    shelf = LocalShelf(spool)
    shelf.publish_bytes("alpha", REPORTS, "status.json", b"{}")
    source = tmp_path / "held"
    source.write_bytes(b"x")
    shelf.publish_file("alpha", DAILY, "a.csv", source)
    assert (spool.reports("alpha") / "status.json").read_bytes() == b"{}"
    assert (spool.outbox("alpha") / "daily" / "a.csv").stat().st_mode & 0o777 == 0o444
    (spool.reports("alpha") / ".status.json.abc.tmp").write_bytes(b"half")  # a writer's
    os.symlink("/etc/passwd", spool.reports("alpha") / "link")
    assert [e.name for e in shelf.files("alpha", REPORTS)] == ["status.json"]
    assert shelf.stat("alpha", REPORTS, "link") is None


def test_s3_objects_are_under_homes(s3_server: S3Server, tmp_path: Path) -> None:
    custody = s3_custody(s3_server, tmp_path / "scratch")
    shelf = S3Shelf(custody)
    shelf.publish_bytes("alpha", REPORTS, "status.json", b"{}")
    assert shelf.locate("alpha", REPORTS, "status.json") == \
        f"{custody.place}homes/alpha/reports/status.json"
    source = tmp_path / "big"
    source.write_bytes(os.urandom(6 << 20))
    small_parts = S3Custody(s3_server.client(), bucket=s3_server.bucket,
                            prefix=custody.place.split("/", 3)[3], scratch=tmp_path / "s",
                            multipart_threshold=5 << 20, part_size=5 << 20)
    S3Shelf(small_parts).publish_file("alpha", DAILY, "big.zip", source)  # multipart
    assert read_whole(shelf, "alpha", DAILY, "big.zip") == source.read_bytes()


def test_s3_reader_refuses_a_file_replaced_while_read(s3_server: S3Server,
                                                       tmp_path: Path) -> None:
    shelf = S3Shelf(s3_custody(s3_server, tmp_path / "scratch"))
    shelf.publish_bytes("alpha", REPORTS, "status.json", b"a" * (READ_AHEAD + 10))
    reader = shelf.open("alpha", REPORTS, "status.json")
    assert reader.read(0, 10) == b"a" * 10
    shelf.publish_bytes("alpha", REPORTS, "status.json", b"b" * (READ_AHEAD + 10))
    with pytest.raises(FileNotFoundError, match="replaced or removed"):
        reader.read(READ_AHEAD, 10)


def test_s3_reads_fetch_a_window_at_a_time(s3_server: S3Server, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # SFTP clients read 32 KiB at a time, out of order: about one GET per megabyte.
    custody = s3_custody(s3_server, tmp_path / "scratch")
    shelf = S3Shelf(custody)
    data = os.urandom(3 * READ_AHEAD + 1000)
    shelf.publish_bytes("alpha", REPORTS, "big.json", data)
    gets: list[tuple[int, int]] = []
    real = custody.read_range

    def counted(key: object, offset: int, size: int, version: str = "") -> bytes:
        gets.append((offset, size))
        return real(key, offset, size, version)  # type: ignore[arg-type]

    monkeypatch.setattr(custody, "read_range", counted)
    reader = shelf.open("alpha", REPORTS, "big.json")
    offsets = list(range(0, len(data), 32768))
    shuffled = [o for pair in zip(offsets[1::2], offsets[0::2], strict=False) for o in pair]
    pieces = {offset: reader.read(offset, 32768) for offset in shuffled + offsets[-1:]}
    assert b"".join(pieces[offset] for offset in offsets) == data
    assert [offset for offset, _ in gets] == [0, READ_AHEAD, 2 * READ_AHEAD, 3 * READ_AHEAD]
    assert max(size for _, size in gets) == READ_AHEAD
