"""The route table (§1.1)."""

from __future__ import annotations

import pytest

from gateway.sandbox.routes import Action, Route, match_route

BASE = "/api/v1/accounts/1"


@pytest.mark.parametrize(
    ("method", "path", "route"),
    [
        ("POST", f"{BASE}/sis_imports", Route(Action.CREATE, "1")),
        ("POST", f"{BASE}/sis_imports.json", Route(Action.CREATE, "1")),
        ("GET", f"{BASE}/sis_imports/", Route(Action.LIST, "1")),
        ("GET", "/api/v1/accounts/self/sis_imports/importing", Route(Action.IMPORTING, "self")),
        ("PUT", f"{BASE}/sis_imports/abort_all_pending", Route(Action.ABORT_ALL_PENDING, "1")),
        ("GET", f"{BASE}/sis_imports/7.json", Route(Action.SHOW, "1", 7)),
        ("PUT", f"{BASE}/sis_imports/7/abort", Route(Action.ABORT, "1", 7)),
        ("GET", f"{BASE}/sis_imports/7/errors", Route(Action.IMPORT_ERRORS, "1", 7)),
        ("GET", f"{BASE}/sis_import_errors", Route(Action.ACCOUNT_ERRORS, "1")),
        ("GET", "/files/12/download", Route(Action.DOWNLOAD, None, 12)),
    ],
)
def test_known_routes(method: str, path: str, route: Route) -> None:
    assert match_route(method, path) == route


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", f"{BASE}/sis_imports"),
        ("GET", f"{BASE}/sis_imports/abc"),
        ("GET", f"{BASE}/sis_imports/7/abort"),
        ("PUT", f"{BASE}/sis_imports/importing"),
        ("GET", f"{BASE}/courses"),
        ("POST", "/files/12/download"),
        ("GET", "/api/v1/courses"),
    ],
)
def test_unknown_routes(method: str, path: str) -> None:
    assert match_route(method, path) is None
