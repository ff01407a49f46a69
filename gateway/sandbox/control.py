"""Sandbox-only control endpoints (not Canvas's), unauthenticated: a loopback test tool.

They never get injected faults and are never throttled, so a test can always reach them.

GET /sandbox/settings                 {"processing_seconds": 1.0, "errors_file_delay_seconds": 5.0}
PUT /sandbox/settings                 JSON {"processing_seconds": 5.0} changes either at runtime
GET /sandbox/imports/<account_id>     {"imports": [SisImport + payload_sha256, payload_size]}
                                      oldest first
GET /sandbox/objects/<account_id>     SIS ids the account has, from its imports' rows:
                                      {"terms": [...], "courses": [...], "sections": [...],
                                       "enrollments": ["user|section|role|associated", ...]}
GET /sandbox/faults                   {"faults": <plan>, "fired": {"reset_after": 1, ...}}
PUT /sandbox/faults                   JSON plan (faults.py), e.g.
                                      {"seed": 7, "errors": {"rate": 0.2, "statuses": [502]},
                                       "reset_after": {"count": 1, "methods": ["POST"]}};
                                      replaces the whole plan ({} clears it); answers as GET
GET /sandbox/throttle                 the throttle settings (throttle.py)
PUT /sandbox/throttle                 JSON settings, e.g. {"request_cost": 300} or
                                      {"status": 429}; absent keys take Canvas's defaults
Bad JSON or values → 400 {"errors": [{"message": "..."}]}.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

from gateway.sandbox.faults import FaultPlanError, faults_from_json, faults_to_json
from gateway.sandbox.injector import FaultInjector
from gateway.sandbox.store import ImportStore
from gateway.sandbox.throttle import (
    Throttle,
    ThrottlingError,
    throttling_from_json,
    throttling_to_json,
)
from gateway.sandbox.views import ImportViews
from gateway.sandbox.wire import Request, Response, json_response, not_found

_PER_ACCOUNT = re.compile(r"/sandbox/(?P<what>imports|objects)/(?P<account>[^/]+)/?")


class _BadRequestError(ValueError):
    """The control request cannot be applied; the message says why."""


def handle(
    request: Request,
    store: ImportStore,
    views: ImportViews,
    injector: FaultInjector,
    throttle: Throttle,
) -> Response:
    """Answer a `/sandbox/...` request."""
    path = request.path.rstrip("/")
    documents: dict[str, tuple[Callable[[], Any], Callable[[Any], None]]] = {
        "/sandbox/settings": (lambda: _settings(store), lambda doc: _put_settings(doc, store)),
        "/sandbox/faults": (lambda: _faults(injector), lambda doc: _put_faults(doc, injector)),
        "/sandbox/throttle": (
            lambda: throttling_to_json(throttle.settings),
            lambda doc: _put_throttle(doc, throttle),
        ),
    }
    if path in documents:
        read, write = documents[path]
        return _document(request, read, write)
    match = _PER_ACCOUNT.fullmatch(request.path)
    if match and request.method == "GET" and store.has_account(match["account"]):
        if match["what"] == "imports":
            return _imports(store, views, match["account"], request.base_url)
        return json_response(200, store.objects(match["account"]).snapshot())
    return not_found()


def _document(request: Request, read: Callable[[], Any], write: Callable[[Any], None]) -> Response:
    """GET answers `read()`; PUT parses JSON, applies `write` and answers `read()`."""
    if request.method == "GET":
        return json_response(200, read())
    if request.method != "PUT":
        return not_found()
    try:
        document: Any = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        return _bad_request("body must be JSON")
    try:
        write(document)
    except (_BadRequestError, FaultPlanError, ThrottlingError) as error:
        return _bad_request(str(error))
    return json_response(200, read())


def _bad_request(message: str) -> Response:
    return json_response(400, {"errors": [{"message": message}]})


_SETTINGS = ("processing_seconds", "errors_file_delay_seconds")


def _settings(store: ImportStore) -> dict[str, Any]:
    return {
        "processing_seconds": store.processing_seconds,
        "errors_file_delay_seconds": store.errors_file_delay,
    }


def _put_settings(document: Any, store: ImportStore) -> None:
    if not isinstance(document, dict) or set(document) - set(_SETTINGS):
        raise _BadRequestError(
            'expected {"processing_seconds": <number>, "errors_file_delay_seconds": <number>}'
        )
    values = {name: _seconds(name, document.get(name)) for name in _SETTINGS}
    if values["processing_seconds"] is not None:
        store.processing_seconds = values["processing_seconds"]
    if values["errors_file_delay_seconds"] is not None:
        store.errors_file_delay = values["errors_file_delay_seconds"]


def _seconds(name: str, value: Any) -> float | None:
    """A settings value: absent (None) or a finite number >= 0."""
    if value is None:
        return None
    valid = isinstance(value, int | float) and not isinstance(value, bool)
    if not valid or not math.isfinite(value) or value < 0:
        raise _BadRequestError(f"{name} must be a number >= 0")
    return float(value)


def _faults(injector: FaultInjector) -> dict[str, Any]:
    return {"faults": faults_to_json(injector.faults), "fired": injector.fired()}


def _put_faults(document: Any, injector: FaultInjector) -> None:
    injector.set(faults_from_json(document))


def _put_throttle(document: Any, throttle: Throttle) -> None:
    throttle.settings = throttling_from_json(document)


def _imports(store: ImportStore, views: ImportViews, account_id: str, base_url: str) -> Response:
    imports = []
    for record in store.all(account_id):
        body = views.render(record, base_url)
        body["payload_sha256"] = record.upload.sha256
        body["payload_size"] = record.upload.size
        imports.append(body)
    return json_response(200, {"imports": imports})
