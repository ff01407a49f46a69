"""The sorter end to end: upload folders carry Canvas import options, the mass-change guard
holds a truncated batch-mode delivery for an operator, and AES zips reach Canvas decrypted."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pyzipper

from gateway.sandbox.server import CanvasSandbox
from gateway.state.states import BatchState
from tests.integration.gateway_process import REPO, Account, GatewayProcess, wait_for
from tests.integration.sftp_clients import openssh_batch

TERMS = "term_id,name,status\nT1,Fall,active\n"


def _courses(count: int) -> str:
    rows = "".join(f"C{n},C{n},Course {n},T1,active\n" for n in range(count))
    return "course_id,short_name,long_name,term_id,status\n" + rows


def _put(gateway: GatewayProcess, account: Account, files: dict[str, str | bytes],
         folder: str, tmp_path: Path) -> None:
    commands = []
    if folder != "inbox":
        commands += [f"-mkdir {part}" for part in _parents(folder)]
    for name, content in files.items():
        local = tmp_path / name
        local.write_bytes(content.encode() if isinstance(content, str) else content)
        commands.append(f'put "{local}" {folder}/{name}')
    done = openssh_batch(gateway.sftp_port, account, commands)
    assert done.returncode == 0, done.stderr


def _parents(folder: str) -> list[str]:
    parts = folder.split("/")
    return ["/".join(parts[:n]) for n in range(2, len(parts) + 1)]


def _states(gateway: GatewayProcess) -> list[BatchState]:
    return [b.state for b in gateway.store().batches()]


def test_batch_folder_imports_in_batch_mode_and_a_truncated_export_is_held(
        gateway: GatewayProcess, sandbox: CanvasSandbox, alpha: Account,
        tmp_path: Path) -> None:
    gateway.start()
    _put(gateway, alpha, {"terms.csv": TERMS}, "inbox", tmp_path)
    wait_for(lambda: _states(gateway) == [BatchState.IMPORTED], 30, "the term import")
    _put(gateway, alpha, {"courses.csv": _courses(10)}, "inbox/batch/T1", tmp_path)
    wait_for(lambda: _states(gateway) == [BatchState.IMPORTED] * 2, 30, "batch mode import")
    posted = sandbox.imports("1")[-1]
    assert posted["batch_mode"] is True
    assert posted["batch_mode_term_id"] is not None

    # The next export of the term lost most of its courses: Canvas would delete them.
    _put(gateway, alpha, {"courses.csv": _courses(3)}, "inbox/batch/T1", tmp_path)
    held = wait_for(lambda: [b for b in gateway.store().batches()
                             if b.state is BatchState.HELD], 30, "the guard to hold")[0]
    assert "course: 3 rows, 10 last time" in (held.reason or "")
    assert len(sandbox.imports("1")) == 2  # nothing sent

    release = subprocess.run([sys.executable, "-m", "gateway", "release", str(held.id),
                              "--config", str(gateway.config_path)], cwd=REPO,
                             capture_output=True, text=True, check=False,
                             env={"TEST_CANVAS_TOKEN": gateway.token, "PATH": "/usr/bin"})
    assert release.returncode == 0, release.stderr
    wait_for(lambda: gateway.store().batch(held.id).state is BatchState.IMPORTED, 30,
             "the released batch to import")
    assert sandbox.imports("1")[-1]["data"]["counts"]["batch_courses_deleted"] == 7


def test_aes_zip_is_validated_and_sent_decrypted(
        tmp_path: Path, sandbox: CanvasSandbox, mailbox: tuple[object, int],
        alpha: Account) -> None:
    gateway = GatewayProcess(root=tmp_path, sandbox_url=sandbox.base_url,
                             smtp_port=mailbox[1], accounts=[alpha],
                             env={"ZIP_PW": "open sesame"},
                             intake_options={"alpha": [
                                 'sorting = { zip_password_env = "ZIP_PW" }']})
    buffer = io.BytesIO()
    users = b"user_id,login_id,status\nu1,l1,active\n"
    with pyzipper.AESZipFile(buffer, "w", compression=pyzipper.ZIP_DEFLATED,
                             encryption=pyzipper.WZ_AES) as archive:
        archive.setpassword(b"open sesame")
        archive.writestr("export/users.csv", users)
        archive.writestr("__MACOSX/._users.csv", b"junk")
    try:
        gateway.start()
        _put(gateway, alpha, {"nightly.zip": buffer.getvalue()}, "inbox", tmp_path)
        wait_for(lambda: _states(gateway) == [BatchState.IMPORTED], 30, "the zip import")
    finally:
        gateway.kill()
    [payload] = sandbox.payloads("1")
    with zipfile.ZipFile(io.BytesIO(payload)) as sent:  # plain zip: Canvas can open it
        assert sent.namelist() == ["b000001-a1-users.csv"]  # flat, as Canvas names files
        assert sent.read("b000001-a1-users.csv") == users
