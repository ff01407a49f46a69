"""The status page's alerts: everything that waits for an operator, each with what to do.

Derived afresh at each view from the status rows, a few bounded store reads (notices not
sent, imports flagged overdue) and the intake's recent login trouble.  Order is fixed:
errors (parked batches, undeliverable notices and webhook events, overdue imports) before
warnings (holds,
ops notices not mailed yet, bans, failed logins), so the worst is on top.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.state.protocols import StateStore
from gateway.state.records import HookDeliveryRecord, InstitutionHold, NoticeRecord
from gateway.state.states import OPS_ONLY_NOTICES, BatchState, NoticeState
from gateway.web.activity import SftpActivity

NOTICES_SHOWN = 10
"""Notices listed at most; more are summed up in one line."""


@dataclass(frozen=True)
class Alert:
    """One thing to look at: ``level`` is "error" or "warning"; ``hint`` says what to do;
    ``batch`` links the batch's page when there is one."""

    level: str
    text: str
    hint: str
    batch: int | None = None


def collect_alerts(store: StateStore, rows: Sequence[Mapping[str, Any]],
                   holds: Mapping[str, InstitutionHold], activity: SftpActivity) -> list[Alert]:
    """Every alert, errors first; empty when nothing waits for an operator."""
    found = [*_parked(rows), *_undeliverable(store.notices(state=NoticeState.FAILED)),
             *_webhooks(store.hook_deliveries(state=NoticeState.FAILED)[-NOTICES_SHOWN:]),
             *_overdue(store), *_held(holds),
             *_ops_waiting(store.notices(state=NoticeState.PENDING)), *_intake(activity)]
    return sorted(found, key=lambda alert: alert.level != "error")


def _parked(rows: Iterable[Mapping[str, Any]]) -> Iterable[Alert]:
    for row in rows:
        name = row["institution"]
        for held in row["held"]:
            number = held["batch"]
            yield Alert("error", f"Batch #{number} of {name} is held: {held['reason']}",
                        f"gateway show {number}, then gateway release {number} (send it), "
                        f"gateway requeue {number} (send it again) or gateway skip {number}",
                        number)
        for failed in row["failed"]:
            number = failed["batch"]
            yield Alert("error", f"Batch #{number} of {name} failed in Canvas: "
                                 f"{failed['reason']}; later batches wait",
                        f"gateway requeue {number} (send it again), gateway skip {number} "
                        f"(never send it) or gateway release {name} (go on after it)",
                        number)


def _undeliverable(notices: Sequence[NoticeRecord]) -> Iterable[Alert]:
    for notice in notices[-NOTICES_SHOWN:]:
        what = "Report" if notice.kind not in OPS_ONLY_NOTICES else f"Ops alert ({notice.kind})"
        about = f" of batch #{notice.batch_id}" if notice.batch_id is not None else ""
        yield Alert("error", f"{what}{about} for {notice.institution} could not be "
                             f"delivered: {notice.last_error or 'no reason recorded'}",
                    "gateway check smtp --to ADDRESS; the report stays readable on the "
                    "batch's page and with gateway show", notice.batch_id)
    if len(notices) > NOTICES_SHOWN:
        yield Alert("error", f"{len(notices) - NOTICES_SHOWN} more notices could not be "
                             "delivered", "gateway show BATCH lists each batch's notices")


def _webhooks(given_up: Sequence[HookDeliveryRecord]) -> Iterable[Alert]:
    for delivery in given_up:
        yield Alert("error", f"Webhook {delivery.hook} gave up telling of {delivery.event} "
                             f"(notice {delivery.notice_id}): {delivery.last_error}",
                    "check the receiver and the webhook's URL variable; the event is in the "
                    "outbox and on this page")


def _overdue(store: StateStore) -> Iterable[Alert]:
    for batch in store.batches(state=BatchState.IMPORTING):
        if batch.alerted_at is not None:
            yield Alert("error", f"Batch #{batch.id} of {batch.institution} is overdue: "
                                 f"{batch.reason or 'Canvas is still importing'}",
                        f"look at import {batch.import_id} in Canvas's SIS import page; "
                        f"gateway show {batch.id}", batch.id)


def _held(holds: Mapping[str, InstitutionHold]) -> Iterable[Alert]:
    for name, hold in sorted(holds.items()):
        yield Alert("warning", f"{name} is held: {hold.reason}; nothing new is posted",
                    f"gateway release {name}")


def _ops_waiting(notices: Sequence[NoticeRecord]) -> Iterable[Alert]:
    for notice in [n for n in notices if n.kind in OPS_ONLY_NOTICES][-NOTICES_SHOWN:]:
        yield Alert("warning", f"Ops alert ({notice.kind}) for {notice.institution} not "
                               f"mailed yet: {notice.reason or '-'}",
                    "it goes out with the next mail attempt; gateway check smtp if it stays",
                    notice.batch_id)


def _intake(activity: SftpActivity) -> Iterable[Alert]:
    bans = activity.bans_in_force()
    if bans:
        noun = "ban" if bans == 1 else "bans"
        yield Alert("warning", f"{bans} SFTP address {noun} in force after repeated failed "
                               "logins", "if a vendor is locked out, fix its credentials or "
                                         "add its network to [sftp] safelist")
    failures = activity.recent_failures()
    if failures:
        noun = "login" if failures == 1 else "logins"
        yield Alert("warning", f"{failures} failed SFTP {noun} in the last hour",
                    "the gateway log names each (login refused) with its address")
