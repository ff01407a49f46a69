"""Shared fixtures: a data dir's spool and a store on a hand-moved clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.state.spool import Spool
from gateway.state.store import Store
from tests.unit.history import Clock

INSTITUTIONS = ["alpha", "beta", "gamma"]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    spool = Spool(tmp_path)
    spool.create(INSTITUTIONS)
    return spool


@pytest.fixture
def store(spool: Spool, clock: Clock) -> Store:
    return Store(spool.database, clock=clock)
