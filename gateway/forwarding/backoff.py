"""Pure timing policy: when to retry after trouble, and how often to poll a running import."""

from __future__ import annotations

import random


def retry_delay(attempt: int, *, initial: float, maximum: float,
                rng: random.Random | None = None) -> float:
    """Seconds to wait before attempt ``attempt + 1`` after ``attempt`` failed (attempt >= 1).

    Doubles from ``initial``, clamped to ``maximum``, then jittered down by up to half so that
    many institutions hit by the same outage do not retry in lock-step.
    """
    base = min(maximum, initial * 2.0 ** min(max(attempt - 1, 0), 30))
    draw = rng.random() if rng is not None else random.random()
    return base * (0.5 + 0.5 * draw)


def trouble_delay(elapsed: float, *, initial: float, maximum: float,
                  rng: random.Random | None = None) -> float:
    """Seconds to wait after a failure when the trouble has lasted ``elapsed`` seconds.

    Waiting as long again as the trouble has already lasted doubles the interval on every
    failure without keeping a counter (the start time is stored with the batch); clamped to
    ``[initial, maximum]`` and jittered down by up to half.
    """
    base = min(maximum, max(initial, elapsed))
    draw = rng.random() if rng is not None else random.random()
    return base * (0.5 + 0.5 * draw)


def poll_delay(elapsed: float, *, initial: float, maximum: float) -> float:
    """Seconds until the next status check of an import running for ``elapsed`` seconds.

    Grows with the import's age (a quarter of it), between ``initial`` and ``maximum``: small
    imports are seen to finish within seconds, long ones are not polled needlessly.
    """
    return min(maximum, max(initial, elapsed / 4))
