"""Canvas's request throttle over real HTTP: rate headers and the throttled answers (§3.2)."""

from __future__ import annotations

import time

import pytest
import requests

from gateway.sandbox import CanvasSandbox, Throttling
from tests.integration.sandbox.calls import AUTH, OTHER_AUTH, USERS

THROTTLED_403 = b"403 Forbidden (Rate Limit Exceeded)\n"
THROTTLED_429 = b"429 Too Many Requests (Rate Limit Exceeded)\n"




def remaining(response: requests.Response) -> float:
    return float(response.headers["X-Rate-Limit-Remaining"])


def test_every_token_request_gets_rate_headers(sandbox: CanvasSandbox, api: str) -> None:
    for response in (
        requests.get(api, headers=AUTH),
        requests.post(api, headers=AUTH, files={"attachment": ("u.csv", USERS)}),
        requests.get(api, headers={"Authorization": "Bearer wrong"}),  # 401, still a token
        requests.get(f"{sandbox.base_url}/api/v1/nothing", headers=AUTH),  # 404
    ):
        assert response.headers["X-Request-Cost"] == "0.0"
        assert response.headers["X-Rate-Limit-Remaining"] == "600.0"
    assert "X-Rate-Limit-Remaining" not in requests.get(api).headers  # no token, no bucket
    assert (
        "X-Rate-Limit-Remaining" not in requests.get(f"{sandbox.base_url}/sandbox/settings").headers
    )


def test_a_full_bucket_is_refused_with_canvas_403(sandbox: CanvasSandbox, api: str) -> None:
    sandbox.throttling = Throttling(request_cost=300.0)
    first = requests.get(api, headers=AUTH)
    assert first.status_code == 200
    assert first.headers["X-Request-Cost"] == "300.0"
    assert remaining(first) == pytest.approx(300.0, abs=1.0)
    second = requests.get(api, headers=AUTH)
    assert remaining(second) == pytest.approx(0.0, abs=1.0)
    # The bucket now holds ~600; this request's up-front 50 puts it over the high-water mark.
    refused = requests.post(api, headers=AUTH, files={"attachment": ("u.csv", USERS)})
    assert refused.status_code == 403
    assert refused.content == THROTTLED_403
    assert refused.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert "Retry-After" not in refused.headers
    assert "X-Request-Cost" not in refused.headers
    assert remaining(refused) == pytest.approx(0.0, abs=1.0)
    assert sandbox.imports("1") == []  # a throttled POST creates nothing
    # Buckets are per token: the other account's token is unaffected.
    other = f"{sandbox.base_url}/api/v1/accounts/2/sis_imports"
    assert requests.get(other, headers=OTHER_AUTH).status_code == 200


def test_the_429_variant(sandbox: CanvasSandbox, api: str) -> None:
    sandbox.throttling = Throttling(request_cost=700.0, status=429)
    assert requests.get(api, headers=AUTH).status_code == 200
    refused = requests.get(api, headers=AUTH)
    assert (refused.status_code, refused.content) == (429, THROTTLED_429)
    assert refused.headers["Content-Type"] == "text/plain; charset=utf-8"


def test_the_bucket_leaks(sandbox: CanvasSandbox, api: str) -> None:
    sandbox.throttling = Throttling(request_cost=600.0, outflow=500.0)
    assert requests.get(api, headers=AUTH).status_code == 200  # the bucket holds ~600
    sandbox.throttling = Throttling(request_cost=0.0, outflow=500.0)
    time.sleep(0.3)  # leaks ~150 units: without the leak, 600 + 50 up front would refuse
    leaked = requests.get(api, headers=AUTH)
    assert leaked.status_code == 200
    assert remaining(leaked) >= 150.0


def test_throttle_control_endpoint(sandbox: CanvasSandbox, api: str) -> None:
    url = f"{sandbox.base_url}/sandbox/throttle"
    assert requests.get(url).json()["high_water_mark"] == 600.0
    changed = requests.put(url, json={"request_cost": 700, "status": 429})
    assert changed.status_code == 200
    assert (changed.json()["request_cost"], changed.json()["status"]) == (700, 429)
    assert sandbox.throttling.status == 429
    requests.get(api, headers=AUTH)
    assert requests.get(api, headers=AUTH).status_code == 429
    assert requests.put(url, json={"status": 500}).status_code == 400
    assert requests.put(url, json={"cost": 1}).status_code == 400
    assert requests.put(url, json={"enabled": False}).status_code == 200
    assert "X-Rate-Limit-Remaining" not in requests.get(api, headers=AUTH).headers
