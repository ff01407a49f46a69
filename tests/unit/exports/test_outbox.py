"""Publishing into the outbox (atomic, read-only files, idempotent) and retention."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from gateway.exports.outbox import prune, publish


def held(tmp_path: Path, data: bytes) -> Path:
    """A downloaded file in the spool, as the run holds it before publishing."""
    path = tmp_path / "spool" / f"held-{data.hex()}"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    return path


def test_publish_is_atomic_read_only_and_repeatable(tmp_path: Path) -> None:
    final = publish(tmp_path, "grades", "20270115-080000Z-grade_export_csv.csv",
                    held(tmp_path, b"a,b\n"))
    assert final == tmp_path / "outbox" / "grades" / "20270115-080000Z-grade_export_csv.csv"
    assert final.read_bytes() == b"a,b\n"
    assert stat.S_IMODE(final.stat().st_mode) == 0o444
    # after a crash: the same file again
    again = publish(tmp_path, "grades", final.name, held(tmp_path, b"a,b\n"))
    assert again.read_bytes() == b"a,b\n"
    assert [p.name for p in final.parent.iterdir()] == [final.name]  # no temp left behind


def test_prune_removes_only_published_files_past_retention(tmp_path: Path) -> None:
    old = publish(tmp_path, "grades", "old.csv", held(tmp_path, b"1"))
    new = publish(tmp_path, "grades", "new.csv", held(tmp_path, b"2"))
    temp = old.parent / ".new.csv.abc.tmp"
    temp.write_bytes(b"being written")
    os.utime(old, (1000.0, 1000.0))
    os.utime(temp, (1000.0, 1000.0))
    assert prune(tmp_path, "grades", older_than=2000.0) == ["old.csv"]
    assert sorted(p.name for p in old.parent.iterdir()) == [".new.csv.abc.tmp", new.name]
    assert prune(tmp_path, "missing", older_than=2000.0) == []
