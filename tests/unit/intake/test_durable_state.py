"""What the intake keeps on disk: trigger marks and refusals, host keys, the data-dir lock."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from gateway.instance import InstanceError, hold, release
from gateway.intake.deliveries import Deliveries
from gateway.intake.hostkeys import HOST_KEY_FILES, _create_private, load_host_keys


def _deliveries(folder: Path, trigger_mode: bool = True) -> Deliveries:
    return Deliveries(folder, trigger_mode=lambda name: trigger_mode,
                      uploads_open=lambda name: 0)


def test_trigger_marks_and_refusals_survive_a_restart(tmp_path: Path) -> None:
    first = _deliveries(tmp_path)
    assert first.released_through("alpha") == 0
    first.release("alpha", 7)
    first.release("alpha", 3)  # marks never move back
    with first.forming("alpha"):
        first.refuse("alpha", 5, "bad checksum", pending={5, 6})
        first.refuse("alpha", 6, "bad too", pending={6})  # 5 left RECEIVED: forgotten
    again = _deliveries(tmp_path)
    assert again.released_through("alpha") == 7
    assert again.refused("alpha") == {6: "bad too"}
    assert _deliveries(tmp_path, trigger_mode=False).released_through("alpha") is None


def test_host_keys_are_made_once_private_and_reused(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # Private from the first byte: no chmod afterwards (a umask of 0 would expose it).
    monkeypatch.setattr(Path, "chmod", lambda self, mode: None)
    monkeypatch.setattr(os, "chmod", lambda path, mode: None)
    old = os.umask(0)
    try:
        keys = load_host_keys(tmp_path)
    finally:
        os.umask(old)
    for filename in HOST_KEY_FILES.values():
        assert stat.S_IMODE((tmp_path / filename).stat().st_mode) == 0o600
    assert [k.public_data for k in load_host_keys(tmp_path)] == [k.public_data for k in keys]


def test_a_host_key_written_first_by_another_process_wins(tmp_path: Path) -> None:
    path = tmp_path / "ssh_host_ed25519_key"
    assert _create_private(path, b"first")
    assert not _create_private(path, b"second")
    assert path.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left


def test_one_gateway_per_data_dir(tmp_path: Path) -> None:
    fd = hold(tmp_path)
    try:
        assert (tmp_path / "gateway.pid").read_text().strip() == str(os.getpid())
        with pytest.raises(InstanceError, match="already running"):
            hold(tmp_path)
    finally:
        release(tmp_path, fd)
    release(tmp_path, hold(tmp_path))  # free again once released
