"""Canvas's request throttle: one leaky bucket per access token (reference §3.2).

Mirrors `RequestThrottle` and `LeakyBucket`: on arrival a request adds the up-front cost
(50) to its token's bucket, and is refused when the bucket is then at or above the
high-water mark (600); when it completes the up-front cost is refunded and its real cost
added.  The bucket leaks 10 units a second and never holds more than the maximum (800).
Canvas's real cost is the request's CPU and database time; the sandbox charges the fixed
`request_cost` (0 by default, so sequential clients are never throttled, as with Canvas;
tests raise it to force throttling).

Every request carrying a token gets `X-Request-Cost` (left out when throttled) and
`X-Rate-Limit-Remaining` (high-water mark - count, may be negative).  A throttled request
gets 403 `text/plain; charset=utf-8` with the body `403 Forbidden (Rate Limit Exceeded)\\n`
and no Retry-After, or, with `status=429`, `429 Too Many Requests (Rate Limit Exceeded)\\n`.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

from gateway.sandbox.wire import Response

THROTTLED_BODIES = {
    403: b"403 Forbidden (Rate Limit Exceeded)\n",
    429: b"429 Too Many Requests (Rate Limit Exceeded)\n",
}
TEXT_TYPE = "text/plain; charset=utf-8"


class ThrottlingError(ValueError):
    """Throttle settings that cannot be used; the message names the field."""


@dataclass(frozen=True)
class Throttling:
    """Throttle settings; the defaults are Canvas's."""

    enabled: bool = True
    high_water_mark: float = 600.0
    maximum: float = 800.0
    outflow: float = 10.0  # units leaked per second
    up_front_cost: float = 50.0
    request_cost: float = 0.0  # charged for every request that is not throttled
    status: int = 403  # 429 for deployments that answer Too Many Requests

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, bool):
            raise ThrottlingError("enabled must be true or false")
        for name in ("high_water_mark", "maximum", "outflow", "up_front_cost", "request_cost"):
            value = getattr(self, name)
            valid = isinstance(value, int | float) and not isinstance(value, bool)
            if not valid or not math.isfinite(value) or value < 0:
                raise ThrottlingError(f"{name} must be a number >= 0")
        if self.status not in THROTTLED_BODIES:
            raise ThrottlingError(f"status must be one of {sorted(THROTTLED_BODIES)}")


def throttling_from_json(document: Any) -> Throttling:
    """Settings from JSON; absent keys keep Canvas's defaults.  Raises ThrottlingError."""
    if not isinstance(document, dict):
        raise ThrottlingError("the throttle settings must be a JSON object")
    unknown = set(document) - {f.name for f in fields(Throttling)}
    if unknown:
        raise ThrottlingError(f"unknown fields {sorted(unknown)}")
    return Throttling(**document)


def throttling_to_json(throttling: Throttling) -> dict[str, Any]:
    return asdict(throttling)


@dataclass
class _Bucket:
    count: float = 0.0
    touched: float = 0.0


class Throttle:
    """The buckets of every token, under one lock; the clock is injectable for tests."""

    def __init__(
        self, settings: Throttling | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._lock = threading.Lock()
        self._settings = settings or Throttling()
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._refused = 0

    @property
    def refused(self) -> int:
        """How many requests were throttled so far."""
        with self._lock:
            return self._refused

    @property
    def settings(self) -> Throttling:
        with self._lock:
            return self._settings

    @settings.setter
    def settings(self, settings: Throttling) -> None:
        """New settings apply from the next request; bucket counts are kept."""
        with self._lock:
            self._settings = settings

    def handle(self, token: str, app: Callable[[], Response]) -> Response:
        """Run `app` for a request with this token unless its bucket is full; add headers."""
        settings = self.settings
        if not settings.enabled:
            return app()
        up_front = settings.up_front_cost
        count = self._increment(token, up_front)
        if count >= settings.high_water_mark:
            remaining = settings.high_water_mark - self._increment(token, -up_front)
            with self._lock:
                self._refused += 1
            throttled = Response(settings.status, THROTTLED_BODIES[settings.status], TEXT_TYPE)
            return throttled.with_headers(("X-Rate-Limit-Remaining", _ruby_float(remaining)))
        cost = settings.request_cost
        try:
            response = app()
        finally:
            count = self._increment(token, cost - up_front)
        return response.with_headers(
            ("X-Request-Cost", _ruby_float(cost)),
            ("X-Rate-Limit-Remaining", _ruby_float(settings.high_water_mark - count)),
        )

    def _increment(self, token: str, amount: float) -> float:
        """Leak, then add `amount`, keeping the count within [0, maximum]; return it."""
        with self._lock:
            now = self._clock()
            bucket = self._buckets.setdefault(token, _Bucket(0.0, now))
            leaked = (now - bucket.touched) * self._settings.outflow
            bucket.count = max(0.0, bucket.count - leaked)
            bucket.count = min(max(0.0, bucket.count + amount), self._settings.maximum)
            bucket.touched = now
            return bucket.count


def _ruby_float(value: float) -> str:
    """Ruby's Float#to_s for the values seen here: `600.0`, `12.5`, `-3.25`."""
    return repr(float(value))
