"""The leaky bucket with a fake clock: up-front cost, leak, maximum, headers (§3.2)."""

from __future__ import annotations

import pytest

from gateway.sandbox.throttle import (
    Throttle,
    Throttling,
    ThrottlingError,
    throttling_from_json,
    throttling_to_json,
)
from gateway.sandbox.wire import Response, json_response


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def ok() -> Response:
    return json_response(200, {})


def headers(response: Response) -> dict[str, str]:
    return dict(response.headers)


def test_headers_report_cost_and_remaining() -> None:
    throttle = Throttle(Throttling(request_cost=12.5), Clock())
    first = throttle.handle("t", ok)
    assert headers(first) == {"X-Request-Cost": "12.5", "X-Rate-Limit-Remaining": "587.5"}
    assert headers(throttle.handle("t", ok))["X-Rate-Limit-Remaining"] == "575.0"
    assert headers(throttle.handle("other", ok))["X-Rate-Limit-Remaining"] == "587.5"


def test_bucket_leaks_ten_units_a_second() -> None:
    clock = Clock()
    throttle = Throttle(Throttling(request_cost=100.0), clock)
    throttle.handle("t", ok)
    clock.now += 3.0  # leaks 30
    assert headers(throttle.handle("t", ok))["X-Rate-Limit-Remaining"] == "430.0"
    clock.now += 1000.0  # never below zero
    assert headers(throttle.handle("t", ok))["X-Rate-Limit-Remaining"] == "500.0"


def test_in_flight_requests_pay_the_up_front_cost() -> None:
    throttle = Throttle(Throttling(high_water_mark=100.0), Clock())
    inner: list[Response] = []

    def slow_app() -> Response:
        # While this request is in flight its 50 is in the bucket: a second concurrent
        # request adds 50 more and reaches the high-water mark of 100.
        inner.append(throttle.handle("t", ok))
        return ok()

    outer = throttle.handle("t", slow_app)
    assert inner[0].status == 403
    assert outer.status == 200
    assert headers(outer)["X-Rate-Limit-Remaining"] == "100.0"  # both refunded


def test_throttled_answer_and_maximum() -> None:
    throttle = Throttle(Throttling(request_cost=5000.0), Clock())
    assert headers(throttle.handle("t", ok))["X-Rate-Limit-Remaining"] == "-200.0"  # max 800
    called: list[bool] = []

    def app() -> Response:
        called.append(True)
        return ok()

    refused = throttle.handle("t", app)
    assert called == []
    assert refused.status == 403
    assert refused.body == b"403 Forbidden (Rate Limit Exceeded)\n"
    assert refused.content_type == "text/plain; charset=utf-8"
    # The up-front 50 could not be added to a bucket at its maximum, yet is refunded.
    assert headers(refused) == {"X-Rate-Limit-Remaining": "-150.0"}


def test_429_variant_and_disabled_throttle() -> None:
    throttle = Throttle(Throttling(request_cost=5000.0, status=429), Clock())
    throttle.handle("t", ok)
    refused = throttle.handle("t", ok)
    assert (refused.status, refused.body) == (429, b"429 Too Many Requests (Rate Limit Exceeded)\n")
    throttle.settings = Throttling(enabled=False)
    assert throttle.handle("t", ok).headers == ()


def test_an_app_error_still_refunds_the_up_front_cost() -> None:
    throttle = Throttle(Throttling(), Clock())

    def broken() -> Response:
        raise RuntimeError("bug")

    with pytest.raises(RuntimeError):
        throttle.handle("t", broken)
    assert headers(throttle.handle("t", ok))["X-Rate-Limit-Remaining"] == "600.0"


def test_settings_validation_and_json() -> None:
    for bad in ({"status": 500}, {"request_cost": -1}, {"outflow": "fast"}, {"enabled": 1}):
        with pytest.raises(ThrottlingError):
            throttling_from_json(bad)
    with pytest.raises(ThrottlingError, match="unknown"):
        throttling_from_json({"cost": 1})
    with pytest.raises(ThrottlingError):
        throttling_from_json([])
    settings = throttling_from_json({"request_cost": 3, "status": 429})
    assert settings == Throttling(request_cost=3, status=429)
    assert throttling_to_json(settings)["high_water_mark"] == 600.0
