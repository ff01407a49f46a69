"""Webhooks: which notices are events, what each format posts, and the runner delivering each
event once to a real HTTP receiver on loopback, with retries and no URL ever recorded."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import SecretStr

from gateway.reporting.hook_sender import HookSender
from gateway.reporting.webhooks import Hook, event_of, payload, resolve_hooks
from gateway.settings import ConfigError, WebhookSettings
from gateway.state.records import NoticeRecord
from gateway.state.states import BatchState, NoticeKind, NoticeState
from gateway.state.store import Store
from tests.hook_receiver import hook_receiver
from tests.unit.history import Clock

SECRET_PATH = "/services/T0/B0/s3cr3t-webhook-key"


def _notice(kind: str, state: BatchState | None = None, reason: str = "why") -> NoticeRecord:
    return NoticeRecord(id=7, kind=kind, institution="alpha", batch_id=None,
                        state=NoticeState.PENDING, attempts=0, next_attempt_at=0.0,
                        created_at=1_800_000_000.0, sent_at=None, last_error=None,
                        batch_state=state, reason=reason, token="abcdef0123456789")


@pytest.mark.parametrize(("kind", "state", "event"), [
    (NoticeKind.BATCH_REPORT, BatchState.HELD, "batch_held"),
    (NoticeKind.BATCH_REPORT, BatchState.FAILED, "batch_failed"),
    (NoticeKind.BATCH_REPORT, BatchState.IMPORTED, None),
    (NoticeKind.BATCH_RECEIPT, BatchState.READY, None),
    (NoticeKind.OPS_ALERT, BatchState.IMPORTING, "import_overdue"),
    (NoticeKind.DUPLICATE_ALERT, None, "duplicate_import"),
    (NoticeKind.DELIVERY_FAILED, None, "report_undeliverable"),
    (NoticeKind.GATEWAY_ERROR, None, "gateway_error"),
])
def test_events_are_the_notices_ops_must_act_on(kind: str, state: BatchState | None,
                                                event: str | None) -> None:
    assert event_of(_notice(kind, state)) == event


def test_each_format_posts_one_line_that_cannot_be_forged() -> None:
    notice = _notice(NoticeKind.BATCH_REPORT, BatchState.HELD, "Canvas said 401\n[Imported]")
    facts = payload("json", "batch_held", notice, None)
    assert facts["event_id"] == "abcdef0123456789"
    assert facts["event"] == "batch_held"
    assert facts["institution"] == "alpha"
    assert facts["at"] == "2027-01-15T08:00:00+00:00"
    assert facts["summary"] == "[Batch held] alpha: Canvas said 401\\n[Imported]"
    assert payload("slack", "batch_held", notice, None) == {"text": facts["summary"]}
    card = payload("teams", "batch_held", notice, None)
    assert card["@type"] == "MessageCard"
    assert card["text"] == facts["summary"]


def _settings(**fields: object) -> WebhookSettings:
    return WebhookSettings.model_validate({"name": "ops", "url_env": "HOOK_URL", **fields})


@pytest.mark.parametrize(("url", "why"), [
    ("http://hooks.example.edu/secret-path", "https://"),
    ("ftp://hooks.example.edu/secret-path", "https://HOST"),
    ("not a url secret-path", "https://HOST"),
])
def test_a_webhook_url_must_be_https_except_on_loopback_and_is_never_shown(
        url: str, why: str) -> None:
    with pytest.raises(ConfigError, match=r"webhooks\.ops") as raised:
        resolve_hooks([_settings()], {"HOOK_URL": url})
    assert why in str(raised.value)
    assert "secret-path" not in str(raised.value)
    assert resolve_hooks([_settings()], {"HOOK_URL": "http://127.0.0.1:9/x"})[0].name == "ops"
    assert resolve_hooks([_settings()], {"HOOK_URL": "https://hooks.example.edu/x"})


def test_a_webhook_needs_exactly_one_url_source() -> None:
    with pytest.raises(ValueError, match="exactly one of url_env or url_file"):
        WebhookSettings.model_validate({"name": "ops"})
    with pytest.raises(ConfigError, match="HOOK_URL is not set"):
        resolve_hooks([_settings()], {})


def _hook(port: int, **fields: object) -> Hook:
    values: dict[str, object] = {
        "name": "ops", "format": "json", "url": SecretStr(f"http://127.0.0.1:{port}"
                                                          f"{SECRET_PATH}"),
        "events": frozenset({"batch_held", "gateway_error"}), "timeout_seconds": 5.0,
        "retry_initial_seconds": 1.0, "retry_max_seconds": 2.0, "lifetime_seconds": 3600.0}
    values.update(fields)
    return Hook(**values)  # type: ignore[arg-type]


def _held(store: Store, reason: str = "Canvas said 401") -> int:
    with store.transaction() as txn:
        batch = txn.create_batch("alpha")
        txn.move("batch", batch, BatchState.OPEN, BatchState.READY)
        txn.move("batch", batch, BatchState.READY, BatchState.HELD, reason=reason)
        txn.add_notice(NoticeKind.BATCH_REPORT, "alpha", batch, batch_state=BatchState.HELD,
                       reason=reason)
    return batch


def test_each_event_is_posted_once_and_history_before_the_hook_is_not_replayed(
        store: Store) -> None:
    _held(store, "before the hook existed")
    with hook_receiver() as (received, port):
        sender = HookSender(store=store, hooks=[_hook(port)])
        sender.step()  # starts at the newest notice
        batch = _held(store)
        with store.transaction() as txn:  # not an event this hook takes
            txn.add_notice(NoticeKind.OPS_ALERT, "alpha", batch, reason="slow")
        for _ in range(3):
            sender.step()
    [(path, headers, body)] = received.posts
    assert path == SECRET_PATH
    assert body["event"] == "batch_held"
    assert body["batch"]["reference"] == "batch-000002"
    assert body["batch"]["state"] == "held"
    assert headers["x-gateway-event-id"] == body["event_id"]
    [delivery] = store.hook_deliveries()
    assert delivery.state is NoticeState.SENT


def test_failures_are_retried_then_given_up_and_no_url_is_recorded(
        store: Store, clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    with hook_receiver() as (received, port), caplog.at_level(logging.INFO):
        sender = HookSender(store=store, hooks=[_hook(port)])
        sender.step()
        _held(store)
        received.status = 503
        sender.step()
        [pending] = store.hook_deliveries()
        assert pending.state is NoticeState.PENDING
        assert pending.last_error == "HTTP 503"
        clock.now = pending.next_attempt_at
        received.status = 204
        sender.step()
        assert store.hook_deliveries()[0].state is NoticeState.SENT
        assert len(received.accepted()) == 1

        with store.transaction() as txn:  # a hook refusing the event: given up at once
            txn.add_notice(NoticeKind.GATEWAY_ERROR, "alpha", None, reason="bug")
        received.status = 404
        sender.step()
    refused = store.hook_deliveries()[-1]
    assert refused.state is NoticeState.FAILED
    assert refused.last_error == "HTTP 404"
    dead = HookSender(store=store, hooks=[_hook(1)])  # nothing listens on port 1
    with store.transaction() as txn:
        txn.add_notice(NoticeKind.GATEWAY_ERROR, "alpha", None, reason="again")
    dead.step()
    assert store.hook_deliveries()[-1].last_error == "ConnectionError"
    assert "s3cr3t" not in caplog.text
    assert all("s3cr3t" not in (d.last_error or "") for d in store.hook_deliveries())


def test_a_url_file_is_read_like_a_token(tmp_path: Path) -> None:
    secret = tmp_path / "hook-url"
    secret.write_text("https://hooks.example.edu/abc\n")
    [hook] = resolve_hooks([WebhookSettings.model_validate(
        {"name": "ops", "format": "slack", "url_file": str(secret)})], {})
    assert hook.url.get_secret_value() == "https://hooks.example.edu/abc"
    assert "abc" not in repr(hook)
