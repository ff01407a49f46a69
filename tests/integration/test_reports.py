"""Reports as senders get them, through a real SMTP server (aiosmtpd) on loopback, and an
outbox that survives mail outages and restarts."""

from __future__ import annotations

import csv
import email
import email.policy
import io
import json
import zipfile
from email.message import EmailMessage
from pathlib import Path

from pydantic import SecretStr

from gateway.institutions import CanvasTarget, Institution
from gateway.reporting.mailer import MailDirectory
from gateway.reporting.notifier import Delivery, Notifier
from gateway.reporting.render import ReportRenderer
from gateway.sandbox.server import CanvasSandbox
from gateway.settings import MailSettings
from gateway.sorting.identity import MEMBER_NAME_MAX
from gateway.state.custody import PayloadKey
from gateway.state.local_custody import LocalCustody
from gateway.state.records import FindingRecord
from gateway.state.retention import Retention
from gateway.state.spool import Spool
from gateway.state.states import BatchState, NoticeState, UploadState
from gateway.state.store import Store
from tests.integration.gateway_process import REPO, Account, GatewayProcess, wait_for
from tests.integration.mail_server import Collector, smtp_server
from tests.integration.sandbox.calls import make_zip
from tests.integration.sftp_clients import openssh_put, paramiko_put
from tests.spooled import spooled

SAMPLES = REPO / "config" / "samples"


def _messages(collector: Collector) -> list[EmailMessage]:
    return [email.message_from_bytes(m.content, policy=email.policy.default)
            for m in collector.messages]


def _attachments(message: EmailMessage) -> dict[str, bytes]:
    found = {}
    for part in message.iter_attachments():
        name = part.get_filename()
        assert name is not None
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        found[name] = payload
    return found


def test_warnings_report_carries_canvas_errors_csv_and_archive(
        gateway: GatewayProcess, sandbox: CanvasSandbox, mailbox: tuple[Collector, int],
        alpha: Account) -> None:
    gateway.start()
    openssh_put(gateway.sftp_port, alpha, [SAMPLES / "users-with-warnings.csv"])
    result = wait_for(lambda: [m for m in _messages(mailbox[0])
                               if str(m["Subject"]).startswith("[Imported with warnings]")],
                      30, "the result mail")[0]
    assert result.get_content_type() == "multipart/mixed"
    body = result.get_body(("plain",))
    assert body is not None
    # The gateway's own validation saw the same rows: its findings come first, then Canvas's.
    assert "Attached: findings-batch-000001.csv, canvas-errors-batch-000001.csv" in \
        body.get_content()
    findings = _attachments(result)["findings-batch-000001.csv"].decode("utf-8-sig")
    assert "No login_id given for user u1004" in findings
    errors = _attachments(result)["canvas-errors-batch-000001.csv"].decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(errors)))
    assert {"sis_import_id", "file", "message", "row"} <= set(rows[0])
    assert any("No login_id given for user u1004" in row["message"] for row in rows)
    # Named as the sender named the file, not as the member Canvas imported.
    assert {row["file"] for row in rows} == {"users-with-warnings.csv"}

    archive = gateway.data_dir / "archive" / "alpha" / "batch-000001"
    wait_for((archive / "history.json").exists, 10, "the archive")
    assert (archive / "received" / "01-users-with-warnings.csv").read_bytes() == \
        (SAMPLES / "users-with-warnings.csv").read_bytes()
    assert (archive / "sent-to-canvas.zip").read_bytes() == sandbox.payloads("1")[0]
    assert json.loads((archive / "canvas-import.json").read_text())["workflow_state"] == \
        "imported_with_messages"
    kept = (archive / "canvas-errors.csv").read_text()  # as Canvas sent it
    assert "b000001-a1-users-with-warnings.csv" in kept
    [first, *_] = csv.DictReader(io.StringIO(kept))
    assert first["message"] == rows[0]["message"]
    assert "Imported with warnings" in (archive / "batch-000001.result.txt").read_text()
    history = json.loads((archive / "history.json").read_text())
    assert [step["to"] for step in history] == [
        "open", "ready", "submitting", "importing", "imported_with_messages"]

    status = json.loads((gateway.data_dir / "sftp" / "alpha" / "reports" /
                         "status.json").read_text())
    assert status["last_success"]["batch"] == 1
    assert status["held"] == []
    assert gateway.stop() == 0


def test_every_report_arrives_exactly_once_across_a_mail_outage_and_a_restart(
        tmp_path: Path, sandbox: CanvasSandbox, alpha: Account) -> None:
    collector = Collector()
    with smtp_server(collector) as port:
        pass  # the port is known, nothing listens on it now: mail is down
    gateway = GatewayProcess(root=tmp_path, sandbox_url=sandbox.base_url, smtp_port=port,
                             accounts=[alpha])
    gateway.write_config()
    text = gateway.config_path.read_text().replace(
        "[mail]", "[mail]\nretry_initial_seconds = 0.5\nretry_max_seconds = 1.0")
    gateway.config_path.write_text(text)
    try:
        gateway.start()
        openssh_put(gateway.sftp_port, alpha, [SAMPLES / "users.csv"])
        wait_for(lambda: [b.state for b in gateway.store().batches()] ==
                 [BatchState.IMPORTED], 30, "the first import")
        openssh_put(gateway.sftp_port, alpha, [SAMPLES / "courses.csv"])
        wait_for(lambda: len(gateway.store().batches()) == 2 and
                 gateway.store().batches()[1].state is not BatchState.OPEN, 10,
                 "the second batch to be sealed (its receipt queued)")
        gateway.kill()
        pending = [n for n in gateway.store().notices() if n.state is NoticeState.PENDING]
        assert len(pending) >= 3  # receipts and results, all waiting for mail
        assert all(n.last_error for n in pending if n.attempts)

        with smtp_server(collector, port=port):
            gateway.start()
            wait_for(lambda: all(b.state is BatchState.IMPORTED
                                 for b in gateway.store().batches()), 30, "both imports")
            wait_for(lambda: len(collector.messages) >= 4, 30, "all four reports")
            assert gateway.stop() == 0
    finally:
        if gateway.process is not None:
            gateway.kill()
    subjects = sorted(str(m["Subject"]).split(":")[0] for m in _messages(collector))
    assert subjects == ["[Accepted] alpha batch-000001", "[Accepted] alpha batch-000002",
                        "[Imported] alpha batch-000001", "[Imported] alpha batch-000002"]
    ids = [m["Message-ID"] for m in _messages(collector)]
    assert len(set(ids)) == 4


def _notifier(tmp_path: Path, ops_interval: float = 900.0,
              report_to: tuple[str, ...] = ()) -> tuple[Notifier, Store, Spool]:
    spool = Spool(tmp_path)
    spool.create(["alpha"])
    store = Store(spool.database)
    settings = MailSettings(ops=["ops@example.edu"], ops_alert_interval_seconds=ops_interval)
    alpha = Institution(name="alpha", username="alpha", password_hash=None,
                        authorized_keys=(), report_to=report_to, report_cc=(),
                        canvas=CanvasTarget("https://canvas.example.edu", "1", SecretStr("t")))
    notifier = Notifier(store=store, spool=spool, custody=LocalCustody(spool),
                        institutions=lambda: {"alpha": alpha},
                        renderers=lambda _: ReportRenderer(),
                        delivery=Delivery(MailDirectory(spool.mail), settings))
    return notifier, store, spool


def _rejected_with_findings(store: Store, count: int) -> int:
    with store.transaction() as txn:
        upload = txn.record_upload("alpha", "users.csv", 10, "0" * 64)
        batch = txn.create_batch("alpha")
        txn.move("upload", upload, UploadState.RECEIVED, UploadState.REJECTED, batch_id=batch)
        for row in range(2, count + 2):
            txn.add_finding(upload, FindingRecord("users.csv", row, "status",
                                                  f"Improper status for user u{row}",
                                                  "use active, suspended or deleted",
                                                  blocking=row == 2))
        txn.move("batch", batch, BatchState.OPEN, BatchState.REJECTED, reason="blocked")
        txn.add_notice("batch_report", "alpha", batch, batch_state=BatchState.REJECTED,
                       reason="blocked")
    return batch


def test_findings_are_listed_first_n_inline_and_all_in_the_csv(tmp_path: Path) -> None:
    notifier, store, spool = _notifier(tmp_path, report_to=("reg@alpha.edu",))
    _rejected_with_findings(store, 40)
    notifier.step()
    [eml] = spool.mail.glob("*.eml")
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    plain = text.get_content()
    assert "Validation findings (40)" in plain
    assert "users.csv, row 2, column status [rejects this file]: Improper status for user u2" \
        in plain
    assert "... and 15 more" in plain
    assert "Improper status for user u41" not in plain
    assert "Improper status for user u26" in html.get_content()
    findings = _attachments(message)["findings-batch-000001.csv"].decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(findings)))
    assert len(rows) == 40
    assert rows[0] == {"file": "users.csv", "row": "2", "column": "status",
                       "message": "Improper status for user u2",
                       "fix": "use active, suspended or deleted", "rejects_file": "yes"}


def test_ops_copies_are_rate_limited_per_institution(tmp_path: Path) -> None:
    notifier, store, spool = _notifier(tmp_path, ops_interval=3600.0)
    for _ in range(2):
        with store.transaction() as txn:
            batch = txn.create_batch("alpha")
            txn.move("batch", batch, BatchState.OPEN, BatchState.HELD, reason="401")
            txn.add_notice("batch_report", "alpha", batch, batch_state=BatchState.HELD,
                           reason="401")
    notifier.step()
    copied = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
              for p in sorted(spool.mail.glob("*.eml"))]
    # No institution recipients here, and the second ops copy falls within the interval.
    assert [m["To"] for m in copied] == ["ops@example.edu"]
    assert all(n.state is NoticeState.SENT for n in store.notices())


def test_retention_purges_old_finished_batches_but_keeps_held_ones(tmp_path: Path) -> None:
    _, store, spool = _notifier(tmp_path)
    with store.transaction() as txn:
        old = txn.create_batch("alpha")
        txn.move("batch", old, BatchState.OPEN, BatchState.REJECTED, finished_at=txn.now)
        held = txn.create_batch("alpha")
        txn.move("batch", held, BatchState.OPEN, BatchState.HELD)
    for batch in (old, held):
        spooled(spool, PayloadKey.batch_zip(batch)).write_bytes(b"PK")
    reports = spool.reports("alpha")
    for name in ("batch-000001.txt", "batch-000001.receipt.json", "batch-000001.result.txt"):
        (reports / name).write_text("old report")  # from before the stages, and both stages
    store.clock = lambda: 1e12  # far in the future: everything is past retention
    Retention(store=store, spool=spool, custody=LocalCustody(spool), retention_days=1).step()
    assert not spooled(spool, PayloadKey.batch_zip(old)).exists()
    assert not list(reports.glob("batch-000001*"))
    assert spooled(spool, PayloadKey.batch_zip(held)).exists()
    assert store.batch(old).state is BatchState.REJECTED  # the record stays


def test_a_delivery_near_the_quota_is_warned_in_its_receipt(
        tmp_path: Path, sandbox: CanvasSandbox, mailbox: tuple[Collector, int],
        alpha: Account) -> None:
    gateway = GatewayProcess(root=tmp_path, sandbox_url=sandbox.base_url,
                             smtp_port=mailbox[1], accounts=[alpha],
                             intake_options={"alpha": ["max_pending_bytes = 1000"]})
    users = tmp_path / "users.csv"
    rows = "".join(f"u{n:04d},login{n:04d},active\n" for n in range(36))
    users.write_text("user_id,login_id,status\n" + rows)
    assert 800 <= users.stat().st_size <= 1000
    try:
        gateway.start()
        openssh_put(gateway.sftp_port, alpha, [users])
        receipt = wait_for(lambda: [m for m in _messages(mailbox[0])
                                    if str(m["Subject"]).startswith("[Accepted]")],
                           30, "the receipt")[0]
    finally:
        gateway.kill()
    text = receipt.get_body(("plain",))
    assert text is not None
    assert "max_pending_bytes" in text.get_content()


# -- names (issue 11, items 5, 7 and 8): whatever name SFTP accepts ends in a sent report,
# an archive holding the file, report lines that stay lines, and spreadsheet-safe findings.

def _result_mail(collector: Collector) -> EmailMessage:
    """The result mail of the first batch (not its receipt)."""
    return wait_for(lambda: [m for m in _messages(collector)
                             if str(m["Subject"]).startswith("[Imported")], 30,
                    "the result mail")[0]


def _plain_text(message: EmailMessage) -> str:
    """The text part with its SMTP line ends (CRLF) as LF."""
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content()).replace("\r\n", "\n")


def test_a_name_of_all_255_bytes_is_reported_mailed_and_archived(
        gateway: GatewayProcess, mailbox: tuple[Collector, int], alpha: Account) -> None:
    name = "users-" + "ü" * 120 + "x" * 5 + ".csv"
    assert len(name.encode()) == 255  # the most SFTP (and the disk) takes
    gateway.start()
    paramiko_put(gateway.sftp_port, alpha, SAMPLES / "users.csv", f"inbox/{name}")

    result = _result_mail(mailbox[0])

    assert name in str(result["Subject"])
    assert f"  1. {name}\n" in _plain_text(result)
    report = gateway.data_dir / "sftp" / "alpha" / "reports" / "batch-000001.result.txt"
    assert f"  1. {name}\n" in report.read_text()
    archive = gateway.data_dir / "archive" / "alpha" / "batch-000001"
    wait_for((archive / "history.json").exists, 10, "the archive")
    manifest = json.loads((archive / "received.json").read_text())
    assert [entry["name"] for entry in manifest] == [name]
    assert (archive / manifest[0]["archived_as"]).read_bytes() == \
        (SAMPLES / "users.csv").read_bytes()
    with zipfile.ZipFile(archive / "sent-to-canvas.zip") as sent:
        [member] = sent.namelist()  # Canvas extracts it to disk: prefixed, it must still fit
    assert len(member.encode()) <= MEMBER_NAME_MAX
    assert member.startswith("b000001-a1-users-üüü")
    assert member.endswith(".csv")
    wait_for(lambda: all(n.state is NoticeState.SENT for n in gateway.store().notices()), 10,
             "every notice sent")
    assert not [n.last_error for n in gateway.store().notices() if n.last_error]
    assert gateway.stop() == 0


def test_member_names_with_line_breaks_stay_on_their_line_in_text_reports(
        gateway: GatewayProcess, mailbox: tuple[Collector, int], alpha: Account,
        tmp_path: Path) -> None:
    forged = "users\r\nOutcome:     Imported\r\n.csv"
    roster = tmp_path / "roster.zip"
    roster.write_bytes(make_zip({forged: (SAMPLES / "users-with-warnings.csv").read_bytes(),
                                 "read\nNext step\n.txt": b"notes"}))
    gateway.start()
    openssh_put(gateway.sftp_port, alpha, [roster])

    plain = _plain_text(_result_mail(mailbox[0]))

    report = (gateway.data_dir / "sftp" / "alpha" / "reports" /
              "batch-000001.result.txt").read_text()
    for text in (plain, report):
        lines = [line.strip() for line in text.splitlines()]
        # Only the report's own lines start so, however they are indented.
        assert [line for line in lines if line.startswith("Outcome:")] == [
            "Outcome:     Imported with warnings"]
        assert lines.count("Next step") == 1
        assert not [line for line in lines if line.startswith((".csv", ".txt"))]
        assert "users\\r\\nOutcome:     Imported\\r\\n.csv: No login_id given for user u1004" \
            in text
        assert "read\\nNext step\\n.txt: Skipping unknown file type" in text
    assert gateway.stop() == 0


def test_findings_csv_cells_that_a_spreadsheet_would_run_start_with_a_quote(
        gateway: GatewayProcess, mailbox: tuple[Collector, int], alpha: Account,
        tmp_path: Path) -> None:
    upload = "=cmd|' -C calc'!A0.zip"  # no slash: SFTP names cannot hold one
    users = b"user_id,login_id,status\n=cmd|' /C calc'!A0,@x,active\nu2,-l2,+1+1\n"
    local = tmp_path / "payload.zip"
    local.write_bytes(make_zip({"@SUM(1+1)*cmd.csv": users, "-2+3.txt": b"notes"}))
    gateway.start()
    paramiko_put(gateway.sftp_port, alpha, local, f"inbox/{upload}")

    findings = _attachments(_result_mail(mailbox[0]))["findings-batch-000001.csv"]

    rows = list(csv.reader(io.StringIO(findings.decode("utf-8-sig"), newline="")))
    cells = [cell for row in rows for cell in row]
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert {row[0] for row in rows[1:]} == {"'" + upload}
    messages = [row[3] for row in rows[1:]]
    assert "'-2+3.txt: Skipping unknown file type" in messages
    assert "'@SUM(1+1)*cmd.csv: Improper status for user u2" in messages
    # What went to Canvas is the institution's data, unchanged.
    archive = gateway.data_dir / "archive" / "alpha" / "batch-000001"
    wait_for((archive / "sent-to-canvas.zip").exists, 10, "the archive")
    with zipfile.ZipFile(archive / "sent-to-canvas.zip") as sent:
        assert [sent.read(info) for info in sent.infolist()] == [users]
    assert gateway.stop() == 0


# -- issue 14: what a delivery's receipt and result say, parsed as mail clients parse them.

def _mails_by_subject(collector: Collector, count: int) -> list[EmailMessage]:
    """The first ``count`` mails, once that many have arrived (in arrival order)."""
    return wait_for(lambda: _messages(collector) if len(collector.messages) >= count
                    else [], 30, f"{count} report mail(s)")[:count]


def _bodies(message: EmailMessage) -> tuple[str, str]:
    """The text and HTML parts of a report (multipart/alternative inside any mixed)."""
    assert message.get_content_type() in ("multipart/alternative", "multipart/mixed")
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None
    assert html is not None
    return str(text.get_content()).replace("\r\n", "\n"), str(html.get_content())


def _canvas_words_absent(*bodies: str) -> None:
    for body in bodies:
        for internal in ("imported_with_messages", "error_count", "warning_count",
                         "blocks the batch"):
            assert internal not in body


def _report_names(gateway: GatewayProcess) -> list[str]:
    return sorted(p.name for p in (gateway.data_dir / "sftp" / "alpha" / "reports").iterdir()
                  if not p.name.startswith("."))


def test_a_clean_delivery_gets_a_receipt_and_a_result_naming_each_file_imported(
        gateway: GatewayProcess, sandbox: CanvasSandbox, mailbox: tuple[Collector, int],
        alpha: Account) -> None:
    gateway.start()
    openssh_put(gateway.sftp_port, alpha, [SAMPLES / "users.csv", SAMPLES / "courses.csv"])

    receipt, result = _mails_by_subject(mailbox[0], 2)

    [imported] = sandbox.imports("1")
    print(f"clean: {receipt['Subject']}\nclean: {result['Subject']}")
    assert receipt["Subject"] == "[Accepted] alpha batch-000001: users.csv accepted; " \
                                 "courses.csv accepted"
    assert result["Subject"] == (f"[Imported] alpha batch-000001: users.csv imported; "
                                 f"courses.csv imported; Canvas import {imported['id']}")
    text, html = _bodies(receipt)
    assert "  Not sent yet: the batch goes to Canvas when its turn comes.\n" in text
    assert "Not sent to Canvas" not in text + html
    text, html = _bodies(result)
    assert text.count("     Status:  imported\n") == 2
    assert "Next step\n  Nothing to do." in text
    assert "  State:     imported\n" in text
    assert "  Counts:\n    courses: 2\n    users: 3\n\n" in text  # Canvas order, no zeros
    assert ">imported</td>" in html
    _canvas_words_absent(text, html)
    wait_for(lambda: len(_report_names(gateway)) == 7, 10, "both reports in /reports")
    assert _report_names(gateway) == [
        f"batch-000001.{stage}.{suffix}" for stage in ("receipt", "result")
        for suffix in ("html", "json", "txt")] + ["status.json"]
    assert gateway.stop() == 0


def test_a_mixed_delivery_reads_as_partly_imported_and_says_to_upload_the_rejected_file(
        gateway: GatewayProcess, sandbox: CanvasSandbox, mailbox: tuple[Collector, int],
        alpha: Account, tmp_path: Path) -> None:
    malformed = tmp_path / "users-malformed.csv"
    malformed.write_text('user_id,login_id,status\nu1,"l1"x,active\n')
    warned = tmp_path / "courses-with-warnings.csv"
    warned.write_text("course_id,short_name,long_name,status\nc1,M1,Maths,active\n"
                      "c2,M2,Physics,bogus\n")
    gateway.start()
    openssh_put(gateway.sftp_port, alpha, [malformed, warned])

    receipt, result = _mails_by_subject(mailbox[0], 2)

    [imported] = sandbox.imports("1")
    print(f"mixed: {receipt['Subject']}\nmixed: {result['Subject']}")
    assert receipt["Subject"] == (
        "[Partly accepted: 1 of 2 files rejected] alpha batch-000001: users-malformed.csv "
        "rejected: not sent; courses-with-warnings.csv accepted")
    assert result["Subject"] == (
        "[Partly imported: 1 of 2 files rejected] alpha batch-000001: users-malformed.csv "
        "rejected: not sent; courses-with-warnings.csv imported with warnings; "
        f"Canvas import {imported['id']}")
    for message in (receipt, result):
        text, html = _bodies(message)
        assert text.startswith("Partly ")
        assert "Next step\n  Fix users-malformed.csv and upload it again: rejected, it was " \
               "not sent to Canvas and the batch" in text
        assert "     Status:  rejected: not sent\n" in text
        assert "     Problem: row 2: Malformed CSV (fix: Any value after quoted field isn't " \
               "allowed (line 2 of the file)" in text  # the name heads it: not repeated
        assert "     To do:   Fix it, then upload users-malformed.csv again" in text
        assert "  - users-malformed.csv, row 2 [rejects this file]: Malformed CSV\n" in text
        assert ">rejected: not sent</td>" in html
        assert "(rejects this file)" in html
        _canvas_words_absent(text, html)
    text, _ = _bodies(result)
    assert "     Status:  imported with warnings\n" in text
    assert "  State:     imported with warnings\n" in text
    assert "    courses: 1\n    warnings: 1\n" in text
    findings = _attachments(result)["findings-batch-000001.csv"].decode("utf-8-sig")
    [malformed_row] = [row for row in csv.DictReader(io.StringIO(findings))
                       if row["message"] == "Malformed CSV"]
    assert (malformed_row["row"], malformed_row["rejects_file"]) == ("2", "yes")
    facts = json.loads((gateway.data_dir / "sftp" / "alpha" / "reports" /
                        "batch-000001.result.json").read_text())
    assert [file["fate"] for file in facts["files"]] == ["rejected", "imported_with_warnings"]
    assert facts["headline"] == "Partly imported: 1 of 2 files rejected"
    assert facts["counts"] == {"courses": 1, "warning_count": 1}
    assert gateway.stop() == 0


def test_a_wholly_rejected_delivery_gets_one_result_and_nothing_reaches_canvas(
        gateway: GatewayProcess, sandbox: CanvasSandbox, mailbox: tuple[Collector, int],
        alpha: Account, tmp_path: Path) -> None:
    people = tmp_path / "people.csv"
    people.write_text("foo,bar\n1,2\n")
    malformed = tmp_path / "users.csv"
    malformed.write_text('user_id,login_id,status\nu1,"l1"x,active\n')
    gateway.start()
    openssh_put(gateway.sftp_port, alpha, [people, malformed])

    [result] = _mails_by_subject(mailbox[0], 1)

    print(f"rejected: {result['Subject']}")
    assert result["Subject"] == ("[Rejected] alpha batch-000001: people.csv rejected: not "
                                 "sent; users.csv rejected: not sent")
    text, html = _bodies(result)
    assert "Next step\n  Nothing was sent to Canvas. Fix people.csv and users.csv (see each " \
           "file's problem) and upload them again.\n" in text
    assert text.count("     Status:  rejected: not sent\n") == 2
    assert "  Not sent to Canvas: nothing in this batch could be imported.\n" in text
    assert "nearest kind" not in text  # foo,bar resembles no kind
    assert "Canvas knows these kinds" in text
    _canvas_words_absent(text, html)
    wait_for(lambda: "batch-000001.result.json" in _report_names(gateway), 10, "the result")
    assert _report_names(gateway) == [f"batch-000001.result.{suffix}"
                                      for suffix in ("html", "json", "txt")] + ["status.json"]
    assert sandbox.imports("1") == []
    assert len(mailbox[0].messages) == 1  # no receipt: nothing was formed to send
    assert gateway.stop() == 0
