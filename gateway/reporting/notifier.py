"""The notifier runner: delivers the outbox's notices as reports (SFTP folder + email).

A notice is queued in the same transaction as the state change it reports, so a report can
never be forgotten, and it fixes the outcome it reports at that moment.  Delivery is at least
once: a crash between the mail server's acceptance and the SENT mark resends, with the same
Message-ID so mail clients show one message.  The SFTP copy (and the archive, for a batch's
last report) is written first and is idempotent.  A notice that cannot be delivered within
its lifetime is marked FAILED and ops are told.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.exports.runs import export_run
from gateway.forwarding.backoff import retry_delay
from gateway.institutions import Institution
from gateway.reporting.assemble import (
    DELIVERY_FAILED,
    Extras,
    not_received_note,
    outcome_of,
    report_for,
)
from gateway.reporting.attachments import canvas_errors_csv, findings_csv
from gateway.reporting.export_mail import ExportMailRenderer
from gateway.reporting.facts import BatchReport, Outcome
from gateway.reporting.mailer import DeliveryError, Mailer
from gateway.reporting.message import Attachment, compose_message
from gateway.reporting.render import RenderedReport, ReportRenderer, report_files
from gateway.reporting.status_file import STATUS_FILE, write_status_file
from gateway.runner import EVERY_INSTITUTION, Holdings, Runner
from gateway.settings import MailSettings
from gateway.sorting.sorter import BATCH_RECEIPT
from gateway.state.archive import archive_batch
from gateway.state.custodies import build_shelf
from gateway.state.custody import Custody
from gateway.state.leases import LeaseLost, log_dropped
from gateway.state.protocols import StateStore
from gateway.state.records import BatchRecord, NoticeRecord
from gateway.state.shelf import REPORTS
from gateway.state.spool import Spool
from gateway.state.states import (
    FINISHED_BATCH_STATES,
    OPS_ONLY_NOTICES,
    NoticeKind,
    NoticeState,
)

log = logging.getLogger(__name__)

PREPARE_ATTEMPTS = 5
"""Tries to prepare or publish a report before the notifier gives that part up."""
NOT_RECEIVED_LISTED = 20
"""Unreceived files a report names, newest last; more are summed up in one line."""
FINDINGS_INLINE = 25
"""Findings listed in the report itself; all of them are in the attached CSV."""
_OPS_OUTCOMES = frozenset({Outcome.FAILED, Outcome.HELD})
_OPS_ONLY_KINDS = OPS_ONLY_NOTICES
EXPORT_NOTICES = frozenset({NoticeKind.EXPORT_PUBLISHED, NoticeKind.EXPORT_FAILED})


@dataclass(frozen=True)
class Delivery:
    """Where reports go: the mail transport and the addresses it uses."""

    mailer: Mailer
    settings: MailSettings
    domain: str = "sis-gateway"


@dataclass(frozen=True)
class Letter:
    """One notice made ready to send: the facts, their rendering and the attachments."""

    report: BatchReport
    rendered: RenderedReport
    attachments: tuple[Attachment, ...]


class Notifier(Runner):
    """Sends every due PENDING notice; retries with backoff until the notice's lifetime ends."""

    name = "notifier"

    def __init__(self, *, store: StateStore, spool: Spool, custody: Custody,
                 institutions: Callable[[], dict[str, Institution]],
                 renderers: Callable[[str], ReportRenderer], delivery: Delivery,
                 notes: Callable[[str, int], tuple[str, ...]] = lambda _, __: (),
                 holdings: Holdings = EVERY_INSTITUTION) -> None:
        super().__init__(idle_seconds=5.0)
        self._notes = notes
        self._holdings = holdings
        self._store = store
        self._shelf = build_shelf(spool, custody)  # reports live where payloads do
        self._custody = custody
        self._institutions = institutions
        self._renderers = renderers
        self._delivery = delivery

    def step(self) -> bool:
        """Deliver each notice that is due; True if there were any."""
        due = [notice for notice in self._store.notices(state=NoticeState.PENDING,
                                                        due_by=self._store.clock())
               if self._holdings.holds(notice.institution)]  # cluster mode: the holder sends it
        for notice in due:
            if not self._holdings.holds(notice.institution):
                continue  # lost meanwhile (a pause): a mail cannot be fenced, so ask first
            try:
                with self._holdings.acting(notice.institution):
                    self._deliver(notice)
            except LeaseLost as error:
                log_dropped(error, notice_id=notice.id)
            except Exception as error:
                # One bad notice (a bug, a file it cannot write) must not stop the others:
                # it is retried with backoff, then given up (ops are told), never for days.
                log.exception("report could not be prepared", extra={"notice_id": notice.id})
                retry = notice.prepare_failures + 1 < PREPARE_ATTEMPTS
                self._failed(notice, DeliveryError(f"{type(error).__name__}: {error}",
                                                   transient=retry), preparing=True)
        return bool(due)

    def _deliver(self, notice: NoticeRecord) -> None:
        if notice.kind in EXPORT_NOTICES:
            self._deliver_export(notice)
            return
        letter = self._letter(notice)
        report = letter.report
        if notice.kind not in _OPS_ONLY_KINDS:  # alerts are for operators only
            self._publish_or_alert(notice, letter)
        to, cc = self._recipients(notice, report)
        try:
            if to:
                self._delivery.mailer.send(compose_message(
                    letter.rendered, sender=self._delivery.settings.sender, to=to, cc=cc,
                    message_id=_message_id(report, notice, self._delivery.domain),
                    attachments=letter.attachments))
        except DeliveryError as error:
            self._failed(notice, error)
            return
        self._sent(notice)
        log.info("report delivered", extra={"notice_id": notice.id, "batch_id": notice.batch_id,
                                            "outcome": report.outcome.value,
                                            "recipients": len(to) + len(cc)})

    def _sent(self, notice: NoticeRecord) -> None:
        with self._store.transaction() as txn:
            txn.move("notice", notice.id, NoticeState.PENDING, NoticeState.SENT,
                     sent_at=txn.now, attempts=notice.attempts + 1)

    def _deliver_export(self, notice: NoticeRecord) -> None:
        """Mail the end of an export run to the institution's report recipients (a failure
        also to ops) and refresh its status.json."""
        if notice.export_run_id is None:
            raise ValueError(f"notice {notice.id} names no export run")
        run = export_run(self._store, notice.export_run_id)
        institution = self._institutions().get(run.institution)
        write_status_file(self._store, self._shelf, run.institution)
        rendered = ExportMailRenderer(
            institution.report_templates if institution else None).render(run)
        to = list(institution.report_to) if institution else []
        cc = list(institution.report_cc) if institution else []
        if notice.kind == NoticeKind.EXPORT_FAILED:
            cc += [a for a in self._delivery.settings.ops if a not in to + cc]
        to, cc = (to, cc) if to else (cc, [])
        try:
            if to:
                self._delivery.mailer.send(compose_message(
                    rendered, sender=self._delivery.settings.sender, to=to, cc=cc,
                    message_id=f"<export-{notice.token or notice.id}@{self._delivery.domain}>"))
        except DeliveryError as error:
            self._failed(notice, error)
            return
        self._sent(notice)
        log.info("export mail delivered", extra={"notice_id": notice.id, "run_id": run.id,
                                                 "recipients": len(to) + len(cc)})

    def _letter(self, notice: NoticeRecord) -> Letter:
        if notice.batch_id is None:
            raise ValueError(f"notice {notice.id} names no batch")
        batch = self._store.batch(notice.batch_id)
        outcome = outcome_of(notice.kind, notice.batch_state or batch.state)
        total = self._store.finding_count(batch.id)
        attachments = [findings_csv(batch.reference, self._store.findings(batch.id))] \
            if total else []
        errors = canvas_errors_csv(self._custody, batch)
        if errors is not None:
            attachments.append(errors)
        extras = Extras(findings=self._store.findings(batch.id, FINDINGS_INLINE),
                        findings_total=total, notes=self._notes_for(notice, batch),
                        attachments=tuple(a.filename for a in attachments))
        # Notices carry the reason of their moment; only very old ones fall back to the batch.
        reason = notice.reason if notice.batch_state or notice.reason else batch.reason
        report = report_for(batch, self._store.uploads(batch_id=batch.id), outcome, reason,
                            extras)
        rendered = self._renderers(batch.institution).render(report)
        return Letter(report, rendered, tuple(attachments))

    def _notes_for(self, notice: NoticeRecord, batch: BatchRecord) -> tuple[str, ...]:
        """The intake's quota warning (a receipt counts its own delivery as still waiting:
        it left the queue only moments ago, so a sender near the quota hears of it), and
        the files dropped unreceived that this batch's reports name."""
        delivered = sum(u.size for u in self._store.uploads(batch_id=batch.id)) \
            if notice.kind == BATCH_RECEIPT else 0
        dropped = self._store.discards(batch.institution, batch_id=batch.id,
                                       limit=NOT_RECEIVED_LISTED + 1)
        notes = [not_received_note(discard) for discard in reversed(dropped)]
        if len(dropped) > NOT_RECEIVED_LISTED:
            notes[NOT_RECEIVED_LISTED:] = [
                f"More files were not received; {STATUS_FILE} lists the latest of them."]
        return self._notes(batch.institution, delivered) + tuple(notes)

    def _publish_or_alert(self, notice: NoticeRecord, letter: Letter) -> None:
        """Publish the SFTP copy; once it has failed ``PREPARE_ATTEMPTS`` times, send the
        mail without it and alert ops, so one unwritable file never silences a report."""
        try:
            self._publish(notice, letter)
        except Exception as error:
            if notice.prepare_failures + 1 < PREPARE_ATTEMPTS:
                raise
            if notice.prepare_failures + 1 > PREPARE_ATTEMPTS:
                return  # given up and ops told on an earlier try (the mail failed since)
            log.exception("report copy not written; the mail goes without it",
                          extra={"notice_id": notice.id, "batch_id": notice.batch_id})
            with self._store.transaction() as txn:
                txn.move("notice", notice.id, NoticeState.PENDING, NoticeState.PENDING,
                         prepare_failures=PREPARE_ATTEMPTS + 1)
                txn.add_notice(NoticeKind.GATEWAY_ERROR, notice.institution, notice.batch_id,
                               reason=f"the report ({notice.kind}) could not be written to "
                                      f"the institution's reports folder or the archive "
                                      f"({type(error).__name__}: {error}); it is mailed "
                                      "without that copy")

    def _publish(self, notice: NoticeRecord, letter: Letter) -> None:
        """The institution's SFTP copy, status.json, and the archive once a batch ended."""
        report = letter.report
        files = report_files(report, letter.rendered)
        for name, content in files.items():
            self._shelf.publish_bytes(report.institution, REPORTS, name, content)
        write_status_file(self._store, self._shelf, report.institution)
        assert notice.batch_id is not None
        batch = self._store.batch(notice.batch_id)
        if notice.batch_state in FINISHED_BATCH_STATES or report.outcome is Outcome.FAILED:
            archive_batch(self._custody, batch, self._store.uploads(batch_id=batch.id),
                          self._store.history("batch", batch.id), files)

    def _recipients(self, notice: NoticeRecord, report: BatchReport) -> tuple[list[str],
                                                                             list[str]]:
        ops = list(self._delivery.settings.ops)
        if notice.kind in _OPS_ONLY_KINDS:
            return ops, []
        institution = self._institutions().get(report.institution)
        to = list(institution.report_to) if institution else []
        cc = list(institution.report_cc) if institution else []
        if report.outcome in _OPS_OUTCOMES and ops and self._ops_may_be_alerted(report):
            cc += [address for address in ops if address not in to + cc]
        if not to and cc:
            to, cc = cc, []
        return to, cc

    def _ops_may_be_alerted(self, report: BatchReport) -> bool:
        with self._store.transaction() as txn:
            allowed = txn.ops_alert_allowed(report.institution,
                                            self._delivery.settings.ops_alert_interval_seconds)
        if not allowed:
            log.info("ops copy suppressed by the alert rate limit",
                     extra={"institution": report.institution, "reference": report.reference})
        return allowed

    def _failed(self, notice: NoticeRecord, error: DeliveryError, *,
                preparing: bool = False) -> None:
        """Retry ``notice`` with backoff, or (not transient, or past its lifetime) mark it
        FAILED and tell ops; ``preparing``: it failed before any mail was sent."""
        settings = self._delivery.settings
        attempts = notice.attempts + 1
        prepared: dict[str, Any] = \
            {"prepare_failures": notice.prepare_failures + 1} if preparing else {}
        expired = self._store.clock() - notice.created_at > settings.lifetime_seconds
        with self._store.transaction() as txn:
            if error.transient and not expired:
                delay = retry_delay(attempts, initial=settings.retry_initial_seconds,
                                    maximum=settings.retry_max_seconds)
                txn.move("notice", notice.id, NoticeState.PENDING, NoticeState.PENDING,
                         attempts=attempts, last_error=str(error),
                         next_attempt_at=txn.now + delay, **prepared)
            else:
                txn.move("notice", notice.id, NoticeState.PENDING, NoticeState.FAILED,
                         attempts=attempts, last_error=str(error), **prepared)
                if notice.kind not in _OPS_ONLY_KINDS and settings.ops:
                    txn.add_notice(DELIVERY_FAILED, notice.institution, notice.batch_id,
                                   reason=f"notice {notice.id} ({notice.kind}) could not be "
                                          f"delivered: {error}")
        log.warning("report not delivered", extra={
            "notice_id": notice.id, "batch_id": notice.batch_id, "error": str(error),
            "transient": error.transient, "expired": expired})


def _message_id(report: BatchReport, notice: NoticeRecord, domain: str) -> str:
    """The same for every try of one notice (mail clients then show one message), and
    naming nothing global: the notice's random token, not its outbox id (notices from
    before tokens existed keep their id)."""
    return f"<{report.reference}.{notice.token or notice.id}@{domain}>"
