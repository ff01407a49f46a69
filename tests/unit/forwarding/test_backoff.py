"""Retry and poll timing: growing, clamped, jittered."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from gateway.forwarding.backoff import poll_delay, retry_delay


@given(st.integers(min_value=1, max_value=200), st.integers(min_value=0, max_value=2**32))
def test_retry_delay_is_clamped_and_jittered_down_by_at_most_half(attempt: int,
                                                                   seed: int) -> None:
    delay = retry_delay(attempt, initial=5.0, maximum=600.0, rng=random.Random(seed))
    base = min(600.0, 5.0 * 2 ** (attempt - 1))
    assert base / 2 <= delay <= base


def test_retry_delay_grows_until_the_cap() -> None:
    rng = random.Random(1)
    delays = [retry_delay(n, initial=1.0, maximum=60.0, rng=rng) for n in range(1, 12)]
    assert delays[0] <= 1.0
    assert delays[-1] >= 30.0


def test_poll_delay_grows_with_import_age_within_bounds() -> None:
    assert poll_delay(0.0, initial=2.0, maximum=30.0) == 2.0
    assert poll_delay(40.0, initial=2.0, maximum=30.0) == 10.0
    assert poll_delay(10_000.0, initial=2.0, maximum=30.0) == 30.0
