"""Publishing into the outbox on the local shelf (atomic, read-only files, idempotent) and
retention: the files stay where vendors always found them."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from gateway.state.local_shelf import LocalShelf
from gateway.state.shelf import export_folder
from gateway.state.spool import Spool

GRADES = export_folder("grades")


def held(tmp_path: Path, data: bytes) -> Path:
    """A downloaded file in the spool, as the run holds it before publishing."""
    path = tmp_path / "spool" / f"held-{data.hex()}"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    return path


def test_publish_is_atomic_read_only_and_repeatable(tmp_path: Path) -> None:
    shelf = LocalShelf(Spool(tmp_path))
    name = "20270115-080000Z-grade_export_csv.csv"
    shelf.publish_file("alpha", GRADES, name, held(tmp_path, b"a,b\n"))
    final = tmp_path / "sftp" / "alpha" / "outbox" / "grades" / name
    assert final.read_bytes() == b"a,b\n"
    assert stat.S_IMODE(final.stat().st_mode) == 0o444
    # after a crash: the same file again
    shelf.publish_file("alpha", GRADES, name, held(tmp_path, b"a,b\n"))
    assert final.read_bytes() == b"a,b\n"
    assert [p.name for p in final.parent.iterdir()] == [final.name]  # no temp left behind


def test_prune_removes_only_published_files_past_retention(tmp_path: Path) -> None:
    shelf = LocalShelf(Spool(tmp_path))
    shelf.publish_file("alpha", GRADES, "old.csv", held(tmp_path, b"1"))
    shelf.publish_file("alpha", GRADES, "new.csv", held(tmp_path, b"2"))
    folder = shelf.folder("alpha", GRADES)
    temp = folder / ".new.csv.abc.tmp"
    temp.write_bytes(b"being written")
    os.utime(folder / "old.csv", (1000.0, 1000.0))
    os.utime(temp, (1000.0, 1000.0))
    assert shelf.prune("alpha", GRADES, older_than=2000.0) == ["old.csv"]
    assert sorted(p.name for p in folder.iterdir()) == [".new.csv.abc.tmp", "new.csv"]
    assert shelf.prune("alpha", export_folder("missing"), older_than=2000.0) == []
