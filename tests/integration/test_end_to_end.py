"""SFTP in → batch → Canvas → report out, with every part real and on loopback."""

from __future__ import annotations

import email
import email.policy
import io
import signal
import subprocess
import zipfile
from email.message import EmailMessage
from pathlib import Path

from gateway.sandbox.server import CanvasSandbox
from gateway.state.states import BatchState, UploadState
from tests.integration.gateway_process import REPO, Account, GatewayProcess, wait_for
from tests.integration.mail_server import Collector
from tests.integration.sftp_clients import (
    OPENSSH_OPTIONS,
    openssh_batch,
    openssh_put,
    paramiko_put,
    paramiko_session,
)

SAMPLES = REPO / "config" / "samples"


def _parsed(mailbox: tuple[Collector, int]) -> list[EmailMessage]:
    return [email.message_from_bytes(m.content, policy=email.policy.default)
            for m in mailbox[0].messages]


def _mails(mailbox: tuple[Collector, int], prefix: str, count: int = 1,
           timeout: float = 30.0) -> list[EmailMessage]:
    """Wait for ``count`` mails whose subject starts with ``prefix``; return them."""
    def found() -> list[EmailMessage]:
        mails = [m for m in _parsed(mailbox) if str(m["Subject"]).startswith(prefix)]
        return mails if len(mails) >= count else []
    return wait_for(found, timeout, f"{count} mail(s) starting {prefix}")


def _parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    return text.get_content(), html.get_content()


def test_openssh_upload_reaches_canvas_once_with_the_exact_bytes_and_reports(
        deployed: GatewayProcess, sandbox: CanvasSandbox, mailbox: tuple[Collector, int],
        alpha: Account, tmp_path: Path) -> None:
    gateway = deployed
    gateway.start()
    files = [SAMPLES / "users.csv", SAMPLES / "courses.csv"]
    openssh_put(gateway.sftp_port, alpha, files)

    [report] = _mails(mailbox, "[Imported]")
    [receipt] = _mails(mailbox, "[Accepted]")
    assert "users.csv" in _parts(receipt)[0]
    [imported] = sandbox.imports("1")
    [payload] = sandbox.payloads("1")
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        assert {name: archive.read(name) for name in archive.namelist()} == {
            f"b000001-a1-{path.name}": path.read_bytes() for path in files}
    assert imported["workflow_state"] == "imported"
    # Canvas lists the extracted CSVs by those names: how the gateway knows its import.
    assert sorted(a["filename"] for a in imported["csv_attachments"]) == [
        "b000001-a1-courses.csv", "b000001-a1-users.csv"]
    assert sorted(imported["data"]["supplied_batches"]) == ["course", "user"]

    subject = str(report["Subject"])
    assert subject.startswith("[Imported]")
    text, html = _parts(report)
    for part in (text, html):
        assert str(imported["id"]) in part
        assert "users.csv" in part
        assert "courses.csv" in part
    assert report["To"] == "registrar@alpha.example"

    # The same report is readable over SFTP in /reports.
    fetched = tmp_path / "fetched.txt"
    done = openssh_batch(gateway.sftp_port, alpha,
                         [f'get reports/batch-000001.result.txt "{fetched}"'])
    assert done.returncode == 0, done.stderr
    assert str(imported["id"]) in fetched.read_text()
    assert gateway.stop() == 0


def test_paramiko_upload_with_row_warnings_is_reported_with_canvas_messages(
        deployed: GatewayProcess, sandbox: CanvasSandbox, mailbox: tuple[Collector, int],
        alpha: Account) -> None:
    gateway = deployed  # on one machine, and as a cluster node: Canvas's errors CSV in S3
    gateway.start()
    paramiko_put(gateway.sftp_port, alpha, SAMPLES / "users-with-warnings.csv",
                 "inbox/users.csv")

    [report] = _mails(mailbox, "[Imported with warnings]")
    [imported] = sandbox.imports("1")
    assert imported["workflow_state"] == "imported_with_messages"
    assert str(report["Subject"]).startswith("[Imported with warnings]")
    text, _ = _parts(report)
    assert "No login_id given for user u1004" in text
    assert str(imported["id"]) in text
    [errors] = [part for part in report.iter_attachments()
                if part.get_filename() == "canvas-errors-batch-000001.csv"]
    assert f"{imported['id']}," in errors.get_content()  # Canvas's own rows, attached


def test_unrecognised_file_is_rejected_without_reaching_canvas(
        gateway: GatewayProcess, sandbox: CanvasSandbox, mailbox: tuple[Collector, int],
        alpha: Account, tmp_path: Path) -> None:
    bad = tmp_path / "people.csv"
    bad.write_text("person,email\np1,p1@example.edu\n")
    gateway.start()
    openssh_put(gateway.sftp_port, alpha, [bad])

    [report] = _mails(mailbox, "[Rejected]")
    assert len(_parsed(mailbox)) == 1  # a rejected delivery has no receipt: one mail
    text, _ = _parts(report)
    assert "people.csv" in text
    assert "Couldn't find Canvas CSV import headers" in text
    assert sandbox.imports("1") == []
    # Ops are copied only on failures and holds, not on a sender's rejected file.
    assert "ops@test.example" not in str(report.get("Cc", ""))


def test_client_dropping_mid_upload_never_produces_a_received_file(
        gateway: GatewayProcess, sandbox: CanvasSandbox, alpha: Account) -> None:
    gateway.start()
    client, sftp = paramiko_session(gateway.sftp_port, alpha)
    handle = sftp.open("inbox/users.csv", "wb")
    handle.write(b"user_id,login_id,status\nu1,l1,act")
    handle.flush()
    client.get_transport().close()  # type: ignore[union-attr]  # gone without a CLOSE

    incoming = gateway.data_dir / "spool" / "incoming"
    wait_for(lambda: not any(incoming.iterdir()), 10, "the partial upload to be discarded")
    store = gateway.store()
    assert store.uploads() == []
    assert sandbox.imports("1") == []


def test_openssh_client_killed_mid_transfer_leaves_nothing(
        gateway: GatewayProcess, sandbox: CanvasSandbox, alpha: Account,
        tmp_path: Path) -> None:
    big = tmp_path / "users.csv"
    with open(big, "wb") as handle:
        handle.write(b"user_id,login_id,status\n")
        row = b"u0000000,login0000000,active\n"
        handle.write(row * (400 * 1024 * 1024 // len(row)))
    gateway.start()
    client = subprocess.Popen(
        ["sftp", "-b", "-", "-P", str(gateway.sftp_port), "-i", str(alpha.key_file),
         *OPENSSH_OPTIONS, "alpha@127.0.0.1"], stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert client.stdin is not None
    client.stdin.write(f'put "{big}" inbox/\n'.encode())
    client.stdin.close()
    incoming = gateway.data_dir / "spool" / "incoming"
    wait_for(lambda: any(p.stat().st_size > 1_000_000 for p in incoming.iterdir()), 60,
             "the upload to be under way")
    client.send_signal(signal.SIGKILL)
    client.wait(10)

    wait_for(lambda: not any(incoming.iterdir()), 20, "the partial upload to be discarded")
    assert gateway.store().uploads() == []
    assert not (gateway.data_dir / "sftp" / "alpha" / "inbox" / "users.csv").exists()
    assert sandbox.imports("1") == []


def test_two_deliveries_are_imported_in_upload_order(
        gateway: GatewayProcess, sandbox: CanvasSandbox, mailbox: tuple[Collector, int],
        alpha: Account) -> None:
    gateway.start()
    openssh_put(gateway.sftp_port, alpha, [SAMPLES / "users.csv"])
    wait_for(lambda: gateway.store().batches(), 10, "the first batch")
    paramiko_put(gateway.sftp_port, alpha, SAMPLES / "enrollments.csv",
                 "inbox/enrollments.csv")

    _mails(mailbox, "[Imported]", 2)
    imports = sandbox.imports("1")
    assert [i["data"]["supplied_batches"] for i in imports] == [["user"], ["enrollment"]]
    store = gateway.store()
    assert [b.state for b in store.batches()] == [BatchState.IMPORTED, BatchState.IMPORTED]
    assert [b.import_id for b in store.batches()] == [i["id"] for i in imports]
    assert all(u.state is UploadState.ACCEPTED for u in store.uploads())
