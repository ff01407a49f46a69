"""The Canvas SIS Imports endpoints the sandbox serves (§1.1), as request → response.

Routes under `/api/v1/accounts/:account_id/`:
  POST sis_imports(.json)      create an import (queued as `created`)
  GET  sis_imports(.json)      list, filtered and paginated
  GET  sis_imports/importing   imports in `importing` / `cleanup_batch`
  GET  sis_imports/:id         one import of this account
Paths under `/sandbox/` go to the control endpoints; everything else is Canvas's 404.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

from gateway.sandbox import control
from gateway.sandbox.auth import authorize
from gateway.sandbox.listing import filter_imports, newest_first, paginate
from gateway.sandbox.options import (
    OptionError,
    UnknownImportTypeError,
    batch_mode_term,
    build_options,
    check_import_type,
)
from gateway.sandbox.records import IMPORTING_STATES, ImportOptions, WorkflowState, to_json
from gateway.sandbox.store import ImportStore
from gateway.sandbox.uploads import AttachmentNotAFileError, Upload, read_upload
from gateway.sandbox.wire import Request, Response, json_response, not_found

logger = logging.getLogger(__name__)

_ROUTE = re.compile(
    r"/api/v1/accounts/(?P<account>[^/]+)/sis_imports(?:\.json)?"
    r"(?:/(?P<member>[^/]+?)(?:\.json)?)?/?"
)
# Canvas reports the request cost and what is left in the throttle bucket on token requests;
# the sandbox never throttles, so the bucket is always full (high-water mark 600).
_RATE_HEADERS = (("X-Request-Cost", "0.0"), ("X-Rate-Limit-Remaining", "600.0"))


class SandboxApi:
    """Canvas's SIS import API over an ImportStore; safe to call from many threads."""

    def __init__(self, store: ImportStore, accounts: Mapping[str, str]) -> None:
        self._store = store
        self._accounts = dict(accounts)

    def handle(self, request: Request) -> Response:
        """Answer one request; an unexpected error becomes Canvas's 500 body, never a raise."""
        try:
            return self._route(request)
        except Exception:  # a bug must not kill the handler thread or hang the client
            logger.exception("sandbox request %s %s failed", request.method, request.path)
            return server_error(self._store.next_error_report())

    def _route(self, request: Request) -> Response:
        if request.path.startswith("/sandbox/"):
            return control.handle(request, self._store)
        match = _ROUTE.fullmatch(request.path)
        if match is None:
            return not_found()
        decision = authorize(request, match["account"], self._accounts)
        if isinstance(decision, Response):
            return decision
        return self._dispatch(request, decision, match["member"]).with_headers(*_RATE_HEADERS)

    def _dispatch(self, request: Request, account_id: str, member: str | None) -> Response:
        method = request.method
        if member is None and method == "POST":
            return self._create(request, account_id)
        if member is None and method == "GET":
            return self._list(request, account_id)
        if member == "importing" and method == "GET":
            return self._importing(account_id)
        if member is not None and member.isdigit() and method == "GET":
            return self._show(account_id, int(member))
        return not_found()

    def _create(self, request: Request, account_id: str) -> Response:
        try:
            import_type = check_import_type(request.query)
            upload = read_upload(request)
        except (UnknownImportTypeError, AttachmentNotAFileError) as error:
            logger.debug("sandbox: POST refused with a server error: %r", error)
            return server_error(self._store.next_error_report())
        if isinstance(upload, Response):
            return upload
        return self._create_from(upload, account_id, import_type)

    def _create_from(self, upload: Upload, account_id: str, import_type: str) -> Response:
        params = upload.params
        try:
            term = batch_mode_term(params, lambda ref: self._store.term_id(account_id, ref))
            options = build_options(params, import_type, term)
        except OptionError as error:
            if error.leaves_record:
                # Canvas saved the batch before the check; it stays `initializing` forever.
                self._store.create(
                    account_id,
                    ImportOptions(import_type=import_type),
                    upload.file,
                    WorkflowState.INITIALIZING,
                )
            return json_response(400, error.body)
        record = self._store.create(account_id, options, upload.file)
        return json_response(200, to_json(record))

    def _list(self, request: Request, account_id: str) -> Response:
        records = filter_imports(self._store.all(account_id), request.query)
        page = paginate(records, request.query, request.base_url + request.path)
        body = {"sis_imports": [to_json(record) for record in page.records]}
        return json_response(200, body, ("Link", page.link_header))

    def _importing(self, account_id: str) -> Response:
        records = [r for r in self._store.all(account_id) if r.workflow_state in IMPORTING_STATES]
        return json_response(200, {"sis_imports": [to_json(r) for r in newest_first(records)]})

    def _show(self, account_id: str, import_id: int) -> Response:
        record = self._store.get(account_id, import_id)
        if record is None:
            return not_found()
        return json_response(200, to_json(record))


def server_error(report: int) -> Response:
    """Canvas's usual body for an unhandled exception."""
    return json_response(
        500, {"errors": [{"message": "An error occurred."}], "error_report_id": report}
    )
