"""Upload folders that choose a delivery's import options: ``/inbox/batch/<term_sis_id>/``
and ``/inbox/diff/<identifier>/``, with the clients vendors use, against the real gateway.

Each upload is recorded with its folder (``UploadRecord.folder``); the folders are virtual
(made and removed as no-ops, listed while something waits in them), a rename stays in its
folder, and every other folder or a malformed one is refused saying what the conventions are.
"""

from __future__ import annotations

import hashlib
import stat
from collections.abc import Callable
from pathlib import Path

import paramiko
import pytest

from gateway.state.records import UploadRecord
from tests.integration.gateway_process import REPO, GatewayProcess, wait_for
from tests.integration.intake_checks import received, sha256_of
from tests.integration.sftp_clients import lftp_run, openssh_batch, paramiko_session

USERS = REPO / "config" / "samples" / "users.csv"
COURSES = REPO / "config" / "samples" / "courses.csv"
TERM = "batch/2026-fall"
NIGHTLY = "diff/nightly-sis"


def _where(uploads: list[UploadRecord]) -> list[tuple[str, str | None, str]]:
    """Each upload's name, folder and SHA-256, in arrival order."""
    return [(upload.filename, upload.folder, upload.sha256) for upload in uploads]


def test_openssh_makes_folders_lists_them_and_uploads_into_them(
        intake: GatewayProcess) -> None:
    intake.start()
    done = openssh_batch(intake.sftp_port, intake.accounts[0], [
        "mkdir inbox/batch", f"mkdir inbox/{TERM}", f"mkdir inbox/{TERM}",  # again: no-op
        f'put "{USERS}" inbox/{TERM}/',  # a folder target: sftp stats it and appends the name
        "mkdir inbox/diff", f"mkdir inbox/{NIGHTLY}",
        f'put "{COURSES}" inbox/{NIGHTLY}/courses.csv',
        f'put "{USERS}" inbox/users.csv',
        "ls -1 inbox", "ls -1 inbox/batch", f"ls -1 inbox/{TERM}", f"ls -l inbox/{NIGHTLY}",
        f"rmdir inbox/{NIGHTLY}",  # a no-op: courses.csv waits and is processed
    ])
    assert done.returncode == 0, done.stderr
    listed = done.stdout.split()
    assert {"inbox/batch", "inbox/diff", "inbox/users.csv",
            "inbox/batch/2026-fall", f"inbox/{TERM}/users.csv"} <= set(listed)
    assert "courses.csv" in done.stdout
    assert _where(received(intake)) == [("users.csv", TERM, sha256_of(USERS)),
                                        ("courses.csv", NIGHTLY, sha256_of(COURSES)),
                                        ("users.csv", None, sha256_of(USERS))]


def test_lftp_makes_the_path_then_uploads_through_its_temp_name(intake: GatewayProcess) -> None:
    """lftp's ``mkdir -p`` sends a MKDIR for every level and ignores the refusals of all but
    the last (``/inbox`` exists); ``xfer:use-temp-file`` uploads to a dot name, then renames
    it within the folder."""
    intake.start()
    lftp_run(intake.sftp_port, intake.accounts[0], [
        f"mkdir -p inbox/{TERM}", f'put "{USERS}" -o "inbox/{TERM}/users.csv"',
        f"mkdir -p inbox/{NIGHTLY}", f'put "{COURSES}" -o "inbox/{NIGHTLY}/courses.csv"',
    ], temp=".in.*")
    assert _where(received(intake)) == [("users.csv", TERM, sha256_of(USERS)),
                                        ("courses.csv", NIGHTLY, sha256_of(COURSES))]


def test_paramiko_folders_stat_list_rename_and_remove(intake: GatewayProcess) -> None:
    intake.start()
    client, sftp = paramiko_session(intake.sftp_port, intake.accounts[0])
    try:
        sftp.mkdir(f"inbox/{TERM}")
        assert stat.S_ISDIR(sftp.stat(f"/inbox/{TERM}").st_mode or 0)
        assert stat.S_ISDIR(sftp.lstat("/inbox/diff/any-identifier").st_mode or 0)
        assert sftp.listdir("inbox") == ["batch"]  # made by this session: listed
        sftp.put(str(USERS), f"inbox/{TERM}/users.csv.tmp", confirm=True)
        assert sftp.listdir(f"inbox/{TERM}") == ["users.csv.tmp"]
        with pytest.raises(OSError, match="cannot be moved to another folder"):
            sftp.posix_rename(f"inbox/{TERM}/users.csv.tmp", "inbox/users.csv")
        with pytest.raises(OSError, match="cannot be moved to another folder"):
            sftp.rename(f"inbox/{TERM}/users.csv.tmp", f"inbox/{NIGHTLY}/users.csv")
        sftp.posix_rename(f"inbox/{TERM}/users.csv.tmp", f"inbox/{TERM}/users.csv")
        assert sftp.stat(f"inbox/{TERM}/users.csv").st_size == USERS.stat().st_size
        with pytest.raises(FileNotFoundError):
            sftp.stat("inbox/users.csv")  # the same name elsewhere is another file
        sftp.put(str(COURSES), "inbox/courses.csv.part")
        with pytest.raises(OSError, match="cannot be moved to another folder"):
            sftp.rename("inbox/courses.csv.part", f"inbox/{TERM}/courses.csv")
        sftp.remove("inbox/courses.csv.part")  # never received
        sftp.rmdir(f"inbox/{TERM}")
        assert sftp.listdir("inbox") == ["batch"]  # users.csv still waits in it
        assert sftp.listdir("inbox/batch") == ["2026-fall"]
        sftp.remove(f"inbox/{TERM}/users.csv")  # hidden from view, still processed
        assert sftp.listdir("inbox") == []
    finally:
        client.close()
    assert _where(received(intake)) == [("users.csv", TERM, sha256_of(USERS))]


REFUSALS: list[tuple[str, Callable[[paramiko.SFTPClient], object], str]] = [
    ("traversal out of a folder", lambda s: s.open("inbox/batch/../../x.csv", "w"),
     r"'\.\.' is not allowed"),
    ("a folder too deep", lambda s: s.open("inbox/batch/a/b/c", "w"), "no deeper than"),
    ("make a folder too deep", lambda s: s.mkdir("inbox/batch/a/b/c"), "no deeper than"),
    ("make a folder in an upload folder", lambda s: s.mkdir("inbox/batch/a/b"),
     r"/inbox/batch/<term_sis_id>.*/inbox/diff/<identifier>"),
    ("another subfolder", lambda s: s.open("inbox/other/x.csv", "w"),
     r"/inbox/batch/<term_sis_id>.*/inbox/diff/<identifier>"),
    ("make another subfolder", lambda s: s.mkdir("inbox/other"),
     r"/inbox/batch/<term_sis_id>.*/inbox/diff/<identifier>"),
    ("list another subfolder", lambda s: s.listdir("inbox/other"),
     r"/inbox/batch/<term_sis_id>.*/inbox/diff/<identifier>"),
    ("a control character in the folder", lambda s: s.open("inbox/batch/a\x1bb/x.csv", "w"),
     "control characters"),
    ("a line break in the folder", lambda s: s.mkdir("inbox/diff/a\nb"), "control characters"),
    ("an invisible character in the folder", lambda s: s.mkdir("inbox/diff/a\u200bb"),
     "not printable"),
    ("a hidden folder", lambda s: s.open("inbox/diff/.nightly/x.csv", "w"),
     "starts with a dot"),
    ("a folder name too long", lambda s: s.mkdir("inbox/diff/" + "n" * 129),
     "longer than 128 characters"),
    ("a file where the term goes", lambda s: s.open("inbox/batch/users.csv", "w"),
     "is a file name, not a folder"),
    ("a file into batch itself", lambda s: s.open("inbox/batch", "w"), "is a folder"),
]


@pytest.mark.parametrize(("what", "attempt", "message"), REFUSALS,
                         ids=[refusal[0] for refusal in REFUSALS])
def test_malformed_folders_are_refused_saying_why(
        intake: GatewayProcess, what: str, attempt: Callable[[paramiko.SFTPClient], object],
        message: str) -> None:
    intake.start()
    client, sftp = paramiko_session(intake.sftp_port, intake.accounts[0])
    try:
        with pytest.raises(OSError, match=message):
            attempt(sftp)
        assert sorted(sftp.listdir("/")) == ["inbox", "outbox", "reports"]
        assert sftp.listdir("inbox") == []
    finally:
        client.close()
    assert received(intake) == []


def test_triggers_release_every_folder_and_sidecars_check_their_own(
        intake: GatewayProcess, tmp_path: Path) -> None:
    """A trigger in any folder releases everything received before it; a sidecar checks the
    file of its name in its own folder, not a later one of that name elsewhere."""
    intake.intake_options = {"alpha": ['trigger_files = ["READY"]', "checksum_sidecars = true"]}
    intake.start()
    changed = USERS.read_bytes() + b"u9,l9,active\n"
    digest = hashlib.sha256(USERS.read_bytes()).hexdigest()
    commands = _puts(tmp_path, [(f"{TERM}/users.csv", USERS.read_bytes()),
                                ("users.csv", changed),
                                (f"{TERM}/users.csv.sha256", f"{digest}  users.csv\n".encode()),
                                (f"{NIGHTLY}/READY", b"")])
    done = openssh_batch(intake.sftp_port, intake.accounts[0], commands)
    assert done.returncode == 0, done.stderr
    assert "checksum verified" in intake.logs()
    assert [(u.filename, u.folder) for u in received(intake)] == [("users.csv", TERM),
                                                                 ("users.csv", None)]
    wait_for(lambda: all(u.batch_id is not None for u in received(intake)), 20,
             "both uploads to be released into batches")


def _puts(folder: Path, files: list[tuple[str, bytes]]) -> list[str]:
    """``put`` commands uploading each (inbox path, content), from local copies."""
    commands = []
    for index, (path, data) in enumerate(files):
        local = folder / f"local-{index}"
        local.write_bytes(data)
        commands.append(f'put "{local}" "inbox/{path}"')
    return commands
