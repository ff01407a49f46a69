"""The Canvas routes the sandbox serves, as a table (reference §1.1, §1.6).

Under `/api/v1/accounts/:account_id/` (any route may end in `.json`, as in Rails):

  POST sis_imports                    create an import (queued as `created`)
  GET  sis_imports                    list, filtered and paginated
  GET  sis_imports/importing          imports in `importing` / `cleanup_batch`
  PUT  sis_imports/abort_all_pending  abort every initializing / created import
  GET  sis_imports/:id                one import of this account
  PUT  sis_imports/:id/abort          abort one not-completed import
  GET  sis_imports/:id/errors         that import's errors
  GET  sis_import_errors              the account's errors

the account reports (reports_api.py):

  GET  reports                        the available reports
  POST reports/:report                start a report run
  GET  reports/:report                that report's runs
  GET  reports/:report/:id            one run
  DELETE reports/:report/:id          delete a run (deleted: gone from index and show)

and `GET /api/v1/accounts/:account_id` (the root account), `GET /api/v1/users/self` (or
`users/<id>`: the caller), `GET /files/:id/download` for the files a SIS import shows, and
`GET /accounts/:account_id/files/:id/download` for a report's file (a redirect to the file
store).
A path or method not in the table gets Canvas's 404 before any authentication.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from gateway.sandbox.files import DOWNLOAD_PATH

_ACCOUNT = re.compile(r"/api/v1/accounts/(?P<account>[^/]+)/(?P<rest>.+?)/?")
_ACCOUNT_ITSELF = re.compile(r"/api/v1/accounts/(?P<account>[^/]+?)(?:\.json)?/?")
_ACCOUNT_FILE = re.compile(r"/accounts/(?P<account>[^/]+)/files/(?P<id>\d+)/download/?")
_USER = re.compile(r"/api/v1/users/(?P<user>self|\d+)(?:\.json)?/?")


class Action(StrEnum):
    CREATE = "create"
    LIST = "list"
    IMPORTING = "importing"
    ABORT_ALL_PENDING = "abort_all_pending"
    SHOW = "show"
    ABORT = "abort"
    IMPORT_ERRORS = "import_errors"
    ACCOUNT_ERRORS = "account_errors"
    DOWNLOAD = "download"
    ACCOUNT = "account"
    USER = "user"
    REPORTS_AVAILABLE = "reports_available"
    REPORT_CREATE = "report_create"
    REPORT_INDEX = "report_index"
    REPORT_SHOW = "report_show"
    REPORT_DELETE = "report_delete"
    REPORT_FILE = "report_file"


_TABLE = (
    ("POST", re.compile(r"sis_imports"), Action.CREATE),
    ("GET", re.compile(r"sis_imports"), Action.LIST),
    ("GET", re.compile(r"sis_imports/importing"), Action.IMPORTING),
    ("PUT", re.compile(r"sis_imports/abort_all_pending"), Action.ABORT_ALL_PENDING),
    ("GET", re.compile(r"sis_imports/(?P<id>\d+)"), Action.SHOW),
    ("PUT", re.compile(r"sis_imports/(?P<id>\d+)/abort"), Action.ABORT),
    ("GET", re.compile(r"sis_imports/(?P<id>\d+)/errors"), Action.IMPORT_ERRORS),
    ("GET", re.compile(r"sis_import_errors"), Action.ACCOUNT_ERRORS),
    ("GET", re.compile(r"reports"), Action.REPORTS_AVAILABLE),
    ("POST", re.compile(r"reports/(?P<report>[a-z0-9_]+)"), Action.REPORT_CREATE),
    ("GET", re.compile(r"reports/(?P<report>[a-z0-9_]+)"), Action.REPORT_INDEX),
    ("GET", re.compile(r"reports/(?P<report>[a-z0-9_]+)/(?P<id>\d+)"), Action.REPORT_SHOW),
    ("DELETE", re.compile(r"reports/(?P<report>[a-z0-9_]+)/(?P<id>\d+)"), Action.REPORT_DELETE),
)


@dataclass(frozen=True)
class Route:
    """A matched route: the action, the account reference (may be `self`), the id in
    the path (import id, or attachment id for a download) and the user reference."""

    action: Action
    account: str | None = None
    id: int | None = None
    user: str | None = None
    report: str | None = None


def _download(method: str, found: re.Match[str]) -> Route | None:
    """A file download: a SIS import's file, or (with an account) a report's."""
    if method != "GET":
        return None
    account = found.groupdict().get("account")
    if account is None:
        return Route(Action.DOWNLOAD, id=int(found["id"]))
    return Route(Action.REPORT_FILE, account, int(found["id"]))


def match_route(method: str, path: str) -> Route | None:
    """The route for a request, or None (Canvas's 404)."""
    download = DOWNLOAD_PATH.fullmatch(path) or _ACCOUNT_FILE.fullmatch(path)
    if download is not None:
        return _download(method, download)
    if method == "GET" and (user := _USER.fullmatch(path)) is not None:
        return Route(Action.USER, user=user["user"])
    if method == "GET" and (itself := _ACCOUNT_ITSELF.fullmatch(path)) is not None:
        return Route(Action.ACCOUNT, itself["account"])
    account = _ACCOUNT.fullmatch(path)
    if account is None:
        return None
    rest = account["rest"].removesuffix(".json")
    for verb, pattern, action in _TABLE:
        found = pattern.fullmatch(rest)
        if verb == method and found is not None:
            number = found.groupdict().get("id")
            return Route(action, account["account"], int(number) if number else None,
                         report=found.groupdict().get("report"))
    return None
