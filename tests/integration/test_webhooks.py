"""Webhooks through the durable outbox, with the real gateway: a held batch reaches a loopback
receiver exactly once, although the receiver failed at first and the gateway was killed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.state.states import BatchState, NoticeState
from tests.hook_receiver import Received, hook_receiver
from tests.integration.gateway_process import REPO, Account, GatewayProcess, wait_for
from tests.integration.sftp_clients import openssh_put


@pytest.fixture
def receiver() -> Iterator[tuple[Received, int]]:
    with hook_receiver() as running:
        yield running


def test_a_held_batch_reaches_the_webhook_once_across_a_failure_and_a_restart(
        gateway: GatewayProcess, alpha: Account, receiver: tuple[Received, int]) -> None:
    received, port = receiver
    gateway.token = "not-the-canvas-token"  # Canvas answers 401: the batch is held
    gateway.env["OPS_HOOK_URL"] = f"http://127.0.0.1:{port}/hooks/ops"
    gateway.extra_config = ["[[webhooks]]", 'name = "ops"', 'url_env = "OPS_HOOK_URL"',
                            "retry_initial_seconds = 0.5", "retry_max_seconds = 1"]
    received.status = 503  # the receiver is down at first
    gateway.start()
    openssh_put(gateway.sftp_port, alpha, [REPO / "config" / "samples" / "users.csv"])
    wait_for(lambda: received.posts, 60, "a first (refused) webhook POST")
    gateway.kill()  # with the event still to deliver

    received.status = 200
    gateway.start()
    wait_for(received.accepted, 30, "the webhook delivered after the restart")
    store = gateway.store()
    wait_for(lambda: [d for d in store.hook_deliveries() if d.state is NoticeState.SENT], 10,
             "the delivery recorded")
    gateway.stop()

    [(path, headers, body)] = received.accepted()
    assert path == "/hooks/ops"
    assert body["event"] == "batch_held"
    assert body["institution"] == "alpha"
    assert body["batch"]["reference"] == "batch-000001"
    assert "401" in body["reason"]
    assert headers["x-gateway-event-id"] == body["event_id"]
    refused = [post for post in received.posts if post[1]["x-answered"] != "2xx"]
    assert refused  # it was tried before the restart
    assert {post[2]["event_id"] for post in received.posts} == {body["event_id"]}
    assert store.batches()[0].state is BatchState.HELD
    assert "not-the-canvas-token" not in gateway.logs()
