"""What the intake keeps on disk: host keys, the data-dir lock (trigger marks and refusals
are in the store: tests/unit/state/test_intake_marks.py)."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path

import pytest

from gateway.instance import InstanceError, hold, release
from gateway.intake.config import SftpSettings
from gateway.intake.hostkeys import HOST_KEY_FILES, _create_private, load_host_keys
from gateway.intake.service import Intake
from gateway.state.local_custody import LocalCustody
from gateway.state.spool import Spool
from gateway.state.store import Store


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


def test_an_older_data_dirs_trigger_marks_are_imported_when_the_intake_starts(
        spool: Spool, store: Store) -> None:
    spool.deliveries.mkdir(parents=True)
    (spool.deliveries / "alpha.json").write_text(
        json.dumps({"released_through": 4, "refused": {}}))

    async def started_and_stopped() -> None:
        intake = Intake(SftpSettings(host="127.0.0.1"), spool=spool,  # never listens
                        store=store, custody=LocalCustody(spool), institutions={},
                        on_received=lambda: None)
        await intake.stop()

    asyncio.run(started_and_stopped())
    assert store.intake.marks.released_through("alpha") == 4
    assert not (spool.deliveries / "alpha.json").exists()
