"""Uploads open on one node hold back the others (both store backends): the sorter's count of
open uploads and the pending-bytes quota see them; a dead node's stop counting at expiry."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest

from gateway.intake.config import IntakeOptions
from gateway.intake.in_flight import SharedInFlight
from gateway.intake.receiving import Receiver
from gateway.state.local_custody import LocalCustody
from gateway.state.spool import Spool
from gateway.state.store import Store
from tests.conftest import INSTITUTIONS, StoreMaker
from tests.unit.history import Clock

QUOTA = IntakeOptions(max_pending_bytes=1000)


def _node(make_store: StoreMaker, clock: Clock, root: Path, name: str) -> Receiver:
    spool = Spool(root)
    spool.create(INSTITUTIONS)
    store: Store = make_store(clock)
    return Receiver(store, spool, custody=LocalCustody(spool), on_received=lambda: None,
                    in_flight=SharedInFlight(store.intake.open_uploads(name), clock=clock,
                                             refresh_seconds=3600, expiry_seconds=7201))


@pytest.fixture
def nodes(make_store: StoreMaker, clock: Clock,
          tmp_path: Path) -> Iterator[tuple[Receiver, Receiver]]:
    pair = (_node(make_store, clock, tmp_path / "a", "a"),
            _node(make_store, clock, tmp_path / "b", "b"))
    yield pair
    for receiver in pair:
        receiver.close()


def test_an_upload_open_on_one_node_holds_back_the_other(
        nodes: tuple[Receiver, Receiver]) -> None:
    node_a, node_b = nodes
    writer = node_a.begin("alpha", QUOTA, "users.csv")
    assert node_b.uploads_open("alpha") == 1
    assert node_b.uploads_open("beta") == 0
    writer.write(0, b"user_id\n")
    upload_id = asyncio.run(node_a.receive(writer, "users.csv"))
    assert node_b.store.upload(upload_id).size == 8  # received before the row went
    assert node_b.uploads_open("alpha") == 0


def test_bytes_open_on_one_node_count_against_the_quota_on_the_other(
        nodes: tuple[Receiver, Receiver]) -> None:
    node_a, node_b = nodes
    writer = node_a.begin("alpha", QUOTA, "users.csv")
    writer.write(0, b"x" * 900)
    assert isinstance(node_a.in_flight, SharedInFlight)
    node_a.in_flight.refresh([writer])  # what the refreshing thread does each period
    other = node_b.begin("alpha", QUOTA, "courses.csv")
    with pytest.raises(asyncssh.SFTPQuotaExceeded, match="max_pending_bytes"):
        other.write(0, b"y" * 200)
    asyncio.run(node_b.discard(other, "test"))
    asyncio.run(node_a.discard(writer, "test"))
    again = node_b.begin("alpha", QUOTA, "courses.csv")
    again.write(0, b"y" * 200)  # the first upload ended: its bytes count no more
    asyncio.run(node_b.discard(again, "test"))


def test_a_dead_nodes_open_uploads_stop_counting_when_they_expire(
        nodes: tuple[Receiver, Receiver], clock: Clock) -> None:
    node_a, node_b = nodes
    node_a.begin("alpha", QUOTA, "users.csv")  # node a dies: never ended, never refreshed
    assert node_b.uploads_open("alpha") == 1
    clock.now += 7202
    assert node_b.uploads_open("alpha") == 0
