"""Webhooks (pure): which notices are events ops must act on, and the message each format
posts.

An event is a notice of the outbox (see ``gateway.state.states.NoticeKind``): a batch held or
failed (its report), an import running too long, a batch imported twice, a report that could
not be delivered, a gateway error.  Receipts and ordinary results are not events.  Each event
carries the notice's random token as ``event_id``: the same on every try and for every hook,
so a receiver can drop the rare repeat (a crash between the POST and its record).

Formats: ``json`` (the facts as fields), ``slack`` (an incoming-webhook ``text``) and
``teams`` (a MessageCard).  Every text goes through ``text_line``: one line, no forged lines.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from gateway.reporting.render import text_line
from gateway.settings import ConfigError, WebhookEvent, WebhookSettings, read_secret
from gateway.state.records import BatchRecord, NoticeRecord
from gateway.state.states import BatchState, NoticeKind

EVENT_WORDS: dict[str, str] = {
    "batch_held": "Batch held",
    "batch_failed": "Batch failed",
    "import_overdue": "Import overdue",
    "duplicate_import": "Imported twice?",
    "report_undeliverable": "Report not delivered",
    "gateway_error": "Gateway error",
}
_BY_KIND: dict[str, WebhookEvent] = {
    NoticeKind.OPS_ALERT: "import_overdue",
    NoticeKind.DUPLICATE_ALERT: "duplicate_import",
    NoticeKind.DELIVERY_FAILED: "report_undeliverable",
    NoticeKind.GATEWAY_ERROR: "gateway_error",
}
_BY_STATE: dict[BatchState, WebhookEvent] = {
    BatchState.HELD: "batch_held",
    BatchState.FAILED: "batch_failed",
}
_LOOPBACK_NAMES = frozenset({"localhost"})


@dataclass(frozen=True)
class Hook:
    """A configured webhook with its URL read (a secret: never logged nor shown)."""

    name: str
    format: str
    url: SecretStr
    events: frozenset[str]
    timeout_seconds: float
    retry_initial_seconds: float
    retry_max_seconds: float
    lifetime_seconds: float


def resolve_hooks(configured: Sequence[WebhookSettings],
                  environ: Mapping[str, str] | None = None) -> list[Hook]:
    """Read each webhook's URL; raise ConfigError naming the hook (never the URL) when it is
    missing, not http(s), or plain http to a host that is not loopback."""
    hooks = []
    for settings in configured:
        what = f"webhooks.{settings.name}"
        url = read_secret(env=settings.url_env, file=settings.url_file, what=what,
                          environ=environ)
        _check_url(what, url.get_secret_value())
        hooks.append(Hook(settings.name, settings.format, url, frozenset(settings.events),
                          settings.timeout_seconds, settings.retry_initial_seconds,
                          settings.retry_max_seconds, settings.lifetime_seconds))
    return hooks


def _check_url(what: str, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{what}: the URL must be https://HOST/... (it is not shown here)")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise ConfigError(f"{what}: the URL must use https:// (plain http only to a loopback "
                          "host): a webhook URL is a secret")


def _loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def event_of(notice: NoticeRecord) -> WebhookEvent | None:
    """The event a notice is, or None (receipts and ordinary results are none)."""
    if notice.kind in _BY_KIND:
        return _BY_KIND[notice.kind]
    if notice.kind == NoticeKind.BATCH_REPORT and notice.batch_state is not None:
        return _BY_STATE.get(notice.batch_state)
    return None


def event_id(notice: NoticeRecord) -> str:
    """The event's id: the notice's random token (its outbox id for notices older than
    tokens)."""
    return notice.token or f"notice-{notice.id}"


def summary(event: str, notice: NoticeRecord, batch: BatchRecord | None) -> str:
    """One line for people: what happened, to which institution and batch, and why."""
    where = f"{notice.institution} {batch.reference} (batch {batch.id})" if batch \
        else notice.institution
    reason = f": {notice.reason}" if notice.reason else ""
    return text_line(f"[{EVENT_WORDS[event]}] {where}{reason}")


def payload(hook_format: str, event: str, notice: NoticeRecord,
            batch: BatchRecord | None) -> dict[str, Any]:
    """The JSON body ``hook_format`` posts for ``event`` (of ``notice`` about ``batch``)."""
    line = summary(event, notice, batch)
    if hook_format == "slack":
        return {"text": line}
    if hook_format == "teams":
        return {"@type": "MessageCard", "@context": "https://schema.org/extensions",
                "summary": text_line(EVENT_WORDS[event]), "themeColor": "A4161A",
                "title": text_line(f"{EVENT_WORDS[event]}: {notice.institution}"),
                "text": line}
    return {
        "event_id": event_id(notice),
        "event": event,
        "at": datetime.fromtimestamp(notice.created_at, tz=UTC).isoformat(timespec="seconds"),
        "institution": notice.institution,
        "batch": None if batch is None else {
            "id": batch.id, "reference": batch.reference,
            "state": (notice.batch_state or batch.state).value,
            "canvas_import": batch.import_id},
        "reason": notice.reason,
        "summary": line,
    }
