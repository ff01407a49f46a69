"""The SIS import endpoints (§1.1-§1.5): create, list, importing, show, abort.

Each function takes the store, the views (views.py), the request and the authorized caller
(or account id), and returns the response; none raises for a client mistake.  Every import
is created by the caller's user (Canvas: `create_with_attachment(..., @current_user)`).
"""

from __future__ import annotations

import logging

from gateway.sandbox.auth import Caller
from gateway.sandbox.injector import error_response
from gateway.sandbox.listing import filter_imports, newest_first, paginate
from gateway.sandbox.options import (
    OptionError,
    UnknownImportTypeError,
    batch_mode_term,
    build_options,
    check_import_type,
)
from gateway.sandbox.records import IMPORTING_STATES, ImportOptions, WorkflowState
from gateway.sandbox.store import ImportStore
from gateway.sandbox.uploads import AttachmentNotAFileError, Upload, read_upload
from gateway.sandbox.views import ImportViews
from gateway.sandbox.wire import Request, Response, json_response, not_found

logger = logging.getLogger(__name__)


def create(store: ImportStore, views: ImportViews, request: Request, caller: Caller) -> Response:
    """POST sis_imports: 200 with the new `created` import, or Canvas's refusal."""
    try:
        import_type = check_import_type(request.query)
        upload = read_upload(request)
    except (UnknownImportTypeError, AttachmentNotAFileError) as error:
        logger.debug("sandbox: POST refused with a server error: %r", error)
        return error_response(500, store.next_error_report)
    if isinstance(upload, Response):
        return upload
    try:
        options = _options(store, upload, caller, import_type)
    except OptionError as error:
        return json_response(error.status, error.body)
    record = store.create(caller.account_id, options, upload.file, user_id=caller.user.id)
    return json_response(200, views.render(record, request.base_url))


def _options(store: ImportStore, upload: Upload, caller: Caller, import_type: str) -> ImportOptions:
    """The options of the new import.  Raises OptionError, after leaving the `initializing`
    record behind when Canvas would have saved the batch before the check."""
    params = upload.params
    try:
        term = batch_mode_term(params, store.objects(caller.account_id).find_term)
        return build_options(params, import_type, term)
    except OptionError as error:
        if error.leaves_record:
            # Canvas saved the batch before the check; it stays `initializing` forever.
            store.create(
                caller.account_id,
                ImportOptions(import_type=import_type),
                upload.file,
                WorkflowState.INITIALIZING,
                caller.user.id,
            )
        raise


def list_imports(
    store: ImportStore, views: ImportViews, request: Request, account_id: str
) -> Response:
    """GET sis_imports: newest first, filtered, paginated with a Link header."""
    records = filter_imports(store.all(account_id), request.query)
    page = paginate(records, request.query, request.base_url + request.path)
    body = {"sis_imports": [views.render(record, request.base_url) for record in page.records]}
    return json_response(200, body, ("Link", page.link_header))


def importing(
    store: ImportStore, views: ImportViews, request: Request, account_id: str
) -> Response:
    """GET sis_imports/importing: imports in `importing` or `cleanup_batch`."""
    records = [r for r in store.all(account_id) if r.workflow_state in IMPORTING_STATES]
    body = [views.render(r, request.base_url) for r in newest_first(records)]
    return json_response(200, {"sis_imports": body})


def show(
    store: ImportStore, views: ImportViews, request: Request, account_id: str, import_id: int
) -> Response:
    """GET sis_imports/:id: the import, 404 when it is not this account's."""
    record = store.get(account_id, import_id)
    if record is None:
        return not_found()
    return json_response(200, views.render(record, request.base_url))


def abort(
    store: ImportStore, views: ImportViews, request: Request, account_id: str, import_id: int
) -> Response:
    """PUT sis_imports/:id/abort: the import re-read after the abort; 404 unless it was
    initializing, created, importing or cleanup_batch (an imported one stays as it is)."""
    record = store.abort(account_id, import_id)
    if record is None:
        return not_found()
    return json_response(200, views.render(record, request.base_url))


def abort_all_pending(store: ImportStore, account_id: str) -> Response:
    """PUT sis_imports/abort_all_pending: `{"aborted": true}` whatever was pending."""
    store.abort_all_pending(account_id)
    return json_response(200, {"aborted": True})
