"""The outbox: reports say what was true when queued, and one bad notice stops no other."""

from __future__ import annotations

import email
import email.policy
import json
import re
import shutil
import time
from pathlib import Path

from gateway.reporting.mailer import MailDirectory
from gateway.reporting.notifier import PREPARE_ATTEMPTS, Delivery, Notifier
from gateway.reporting.render import ReportRenderer
from gateway.settings import MailSettings
from gateway.state.local_custody import LocalCustody
from gateway.state.spool import Spool
from gateway.state.states import BatchState, NoticeKind, NoticeState
from gateway.state.store import Store
from tests.conftest import StoreMaker
from tests.institution_records import institution


def _notifier(make_store: StoreMaker, tmp_path: Path, *,
              registrars: bool = False) -> tuple[Notifier, Store, Spool]:
    """A notifier writing mail to a folder, on the store of each backend; with
    ``registrars``, alpha and beta have report addresses (``registrar@<name>.example``)."""
    spool = Spool(tmp_path)
    spool.create(["alpha", "beta"])
    store = make_store(time.time)
    known = {name: institution(name, report_to=(f"registrar@{name}.example",))
             for name in ("alpha", "beta")} if registrars else {}
    notifier = Notifier(store=store, spool=spool, custody=LocalCustody(spool),
                        institutions=lambda: known,
                        renderers=lambda _: ReportRenderer(),
                        delivery=Delivery(MailDirectory(spool.mail),
                                          MailSettings(ops=["ops@example.edu"])))
    return notifier, store, spool


def test_a_report_states_the_outcome_it_was_queued_for(
        make_store: StoreMaker, tmp_path: Path) -> None:
    notifier, store, spool = _notifier(make_store, tmp_path)
    with store.transaction() as txn:
        batch = txn.create_batch("alpha")
        txn.move("batch", batch, BatchState.OPEN, BatchState.READY)
        txn.move("batch", batch, BatchState.READY, BatchState.HELD, reason="Canvas said 401")
        txn.add_notice("batch_report", "alpha", batch, batch_state=BatchState.HELD,
                       reason="Canvas said 401")
        # The operator acts before the report goes out.
        txn.move("batch", batch, BatchState.HELD, BatchState.SKIPPED, reason="operator")
    assert notifier.step()
    [eml] = spool.mail.glob("*.eml")
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert str(message["Subject"]).startswith("[Held]")
    assert "Canvas said 401" in (spool.reports("alpha") /
                                  "batch-000001.result.txt").read_text()
    assert [n.state for n in store.notices()] == [NoticeState.SENT]


def test_one_bad_notice_does_not_stop_the_others(make_store: StoreMaker, tmp_path: Path) -> None:
    notifier, store, _ = _notifier(make_store, tmp_path)
    with store.transaction() as txn:
        broken = txn.create_batch("alpha")  # OPEN: there is nothing to report about it
        txn.add_notice("batch_report", "alpha", broken)
        fine = txn.create_batch("beta")
        txn.move("batch", fine, BatchState.OPEN, BatchState.REJECTED, reason="empty")
        txn.add_notice("batch_report", "beta", fine, batch_state=BatchState.REJECTED,
                       reason="empty")
    notifier.step()
    states = {n.batch_id: n for n in store.notices()}
    assert states[fine].state is NoticeState.SENT
    assert states[broken].state is NoticeState.PENDING
    assert states[broken].next_attempt_at > store.clock()
    assert "no report" in (states[broken].last_error or "")


def test_ops_alerts_go_to_ops_only_and_not_to_the_sftp_folder(
        make_store: StoreMaker, tmp_path: Path) -> None:
    notifier, store, spool = _notifier(make_store, tmp_path)
    with store.transaction() as txn:
        batch = txn.create_batch("alpha")
        txn.move("batch", batch, BatchState.OPEN, BatchState.READY)
        txn.move("batch", batch, BatchState.READY, BatchState.SUBMITTING)
        txn.move("batch", batch, BatchState.SUBMITTING, BatchState.IMPORTING, import_id=9)
        txn.add_notice("ops_alert", "alpha", batch, batch_state=BatchState.IMPORTING,
                       reason="Canvas has been importing for 250 minutes")
    notifier.step()
    [eml] = spool.mail.glob("*.eml")
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert message["To"] == "ops@example.edu"
    assert str(message["Subject"]).startswith("[Still importing]")
    assert list(spool.reports("alpha").iterdir()) == []




def _when_due(store: Store) -> None:
    """Move the store's clock to when the pending notices are due again (retry backoff)."""
    due = max(n.next_attempt_at for n in store.notices(state=NoticeState.PENDING))
    store.clock = lambda: due


def _rejected(store: Store, institution: str) -> int:
    with store.transaction() as txn:
        batch = txn.create_batch(institution)
        txn.move("batch", batch, BatchState.OPEN, BatchState.REJECTED, reason="empty")
        txn.add_notice("batch_report", institution, batch, batch_state=BatchState.REJECTED,
                       reason="empty")
    return batch


def test_a_report_copy_that_cannot_be_written_does_not_hold_the_mail(
        make_store: StoreMaker, tmp_path: Path) -> None:
    notifier, store, spool = _notifier(make_store, tmp_path, registrars=True)
    batch = _rejected(store, "alpha")
    # The institution's reports folder replaced by a file: every copy fails to be written.
    reports = spool.reports("alpha")
    reports.rmdir()
    reports.write_text("not a folder")
    for attempt in range(1, PREPARE_ATTEMPTS + 1):
        _when_due(store)
        notifier.step()
        sent = [n for n in store.notices() if n.batch_id == batch and n.kind == "batch_report"]
        assert sent[0].state is (NoticeState.SENT if attempt == PREPARE_ATTEMPTS
                                 else NoticeState.PENDING)
    [eml] = spool.mail.glob("*.eml")
    assert "[Rejected]" in eml.read_text()
    [alert] = [n for n in store.notices() if n.kind == NoticeKind.GATEWAY_ERROR]
    assert "could not be written" in (alert.reason or "")
    assert "FileExistsError" in (alert.reason or "")


def test_a_notice_that_cannot_be_prepared_is_given_up_and_ops_told(
        make_store: StoreMaker, tmp_path: Path) -> None:
    notifier, store, _ = _notifier(make_store, tmp_path)
    with store.transaction() as txn:
        broken = txn.create_batch("alpha")  # OPEN: there is nothing to report about it
        txn.add_notice("batch_report", "alpha", broken)
    for _ in range(PREPARE_ATTEMPTS):
        _when_due(store)
        notifier.step()
    states = {n.kind: n.state for n in store.notices()}
    assert states["batch_report"] is NoticeState.FAILED
    assert NoticeKind.DELIVERY_FAILED in states  # ops hear of it, once


def test_batches_are_numbered_per_institution_and_message_ids_name_nothing_global(
        make_store: StoreMaker, tmp_path: Path) -> None:
    notifier, store, spool = _notifier(make_store, tmp_path, registrars=True)
    for name in ("alpha", "beta", "beta"):
        _rejected(store, name)
    notifier.step()
    assert sorted(p.name for p in spool.reports("beta").glob("*.txt")) == [
        "batch-000001.result.txt", "batch-000002.result.txt"]
    assert [p.name for p in spool.reports("alpha").glob("*.txt")] == [
        "batch-000001.result.txt"]
    ids = []
    for eml in spool.mail.glob("*.eml"):
        message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
        ids.append(str(message["Message-ID"]))
    assert len(ids) == 3
    assert all(re.fullmatch(r"<batch-00000[12]\.[0-9a-f]{16}@sis-gateway>", i) for i in ids)


def test_the_next_report_names_the_files_dropped_unreceived(
        make_store: StoreMaker, tmp_path: Path) -> None:
    notifier, store, spool = _notifier(make_store, tmp_path)
    with store.transaction() as txn:
        txn.record_discard("alpha", "users.csv.part", folder=None, size=1234,
                           reason="it was closed under a temporary name and never renamed")
        batch = txn.create_batch("alpha")
        assert txn.claim_discards("alpha", batch) == 1
        txn.move("batch", batch, BatchState.OPEN, BatchState.REJECTED, reason="empty")
        txn.add_notice("batch_report", "alpha", batch, batch_state=BatchState.REJECTED,
                       reason="empty")
    notifier.step()
    text = (spool.reports("alpha") / "batch-000001.result.txt").read_text()
    assert "Not received: users.csv.part (1,234 bytes" in text
    status = json.loads((spool.reports("alpha") / "status.json").read_text())
    assert status["not_received"][0]["file"] == "users.csv.part"


def _broken(folder: Path) -> None:
    """Replace ``folder`` by a file: whatever is written into it fails."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.write_text("not a folder")


def _mended(folder: Path) -> None:
    folder.unlink()
    folder.mkdir()


def test_mail_outages_do_not_use_up_the_tries_to_prepare_a_report(
        make_store: StoreMaker, tmp_path: Path) -> None:
    notifier, store, spool = _notifier(make_store, tmp_path, registrars=True)
    batch = _rejected(store, "alpha")
    _broken(spool.mail)
    for _ in range(PREPARE_ATTEMPTS + 1):  # a long mail outage
        _when_due(store)
        notifier.step()
    _broken(spool.reports("alpha"))  # then one failure to write the copy
    _when_due(store)
    notifier.step()
    [notice] = [n for n in store.notices() if n.batch_id == batch]
    assert notice.state is NoticeState.PENDING  # retried, not given up
    assert notice.prepare_failures == 1
    assert notice.attempts == PREPARE_ATTEMPTS + 2


def test_ops_hear_once_that_a_copy_was_given_up_however_long_the_mail_fails(
        make_store: StoreMaker, tmp_path: Path) -> None:
    notifier, store, spool = _notifier(make_store, tmp_path, registrars=True)
    batch = _rejected(store, "alpha")
    _broken(spool.reports("alpha"))
    _broken(spool.mail)
    for _ in range(PREPARE_ATTEMPTS + 3):
        _when_due(store)
        notifier.step()
    _mended(spool.mail)
    _when_due(store)
    notifier.step()
    [report] = [n for n in store.notices() if n.batch_id == batch and n.kind == "batch_report"]
    assert report.state is NoticeState.SENT
    alerts = [n for n in store.notices() if n.kind == NoticeKind.GATEWAY_ERROR]
    assert len(alerts) == 1
