"""Sandbox-only control endpoints (not Canvas's), unauthenticated: a loopback test tool.

GET /sandbox/settings                 {"processing_seconds": 1.0}
PUT /sandbox/settings                 JSON {"processing_seconds": 5.0} changes it at runtime
GET /sandbox/imports/<account_id>     {"imports": [SisImport + payload_sha256, payload_size]}
                                      oldest first
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from gateway.sandbox.records import to_json
from gateway.sandbox.store import ImportStore
from gateway.sandbox.wire import Request, Response, json_response, not_found

_IMPORTS = re.compile(r"/sandbox/imports/(?P<account>[^/]+)/?")


def handle(request: Request, store: ImportStore) -> Response:
    """Answer a `/sandbox/...` request."""
    path = request.path.rstrip("/")
    if path == "/sandbox/settings":
        if request.method == "GET":
            return _settings(store)
        if request.method == "PUT":
            return _put_settings(request, store)
        return not_found()
    match = _IMPORTS.fullmatch(request.path)
    if match and request.method == "GET":
        return _imports(store, match["account"])
    return not_found()


def _settings(store: ImportStore) -> Response:
    return json_response(200, {"processing_seconds": store.processing_seconds})


def _bad_request(message: str) -> Response:
    return json_response(400, {"errors": [{"message": message}]})


def _put_settings(request: Request, store: ImportStore) -> Response:
    try:
        document: Any = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        return _bad_request("body must be JSON")
    if not isinstance(document, dict) or set(document) - {"processing_seconds"}:
        return _bad_request('expected {"processing_seconds": <number>}')
    seconds = document.get("processing_seconds")
    if seconds is not None:
        valid = isinstance(seconds, int | float) and not isinstance(seconds, bool)
        if not valid or not math.isfinite(seconds) or seconds < 0:
            return _bad_request("processing_seconds must be a number >= 0")
        store.processing_seconds = float(seconds)
    return _settings(store)


def _imports(store: ImportStore, account_id: str) -> Response:
    if not store.has_account(account_id):
        return not_found()
    imports = []
    for record in store.all(account_id):
        body = to_json(record)
        body["payload_sha256"] = record.upload.sha256
        body["payload_size"] = record.upload.size
        imports.append(body)
    return json_response(200, {"imports": imports})
