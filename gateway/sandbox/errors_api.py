"""The SIS import errors API and file downloads (§1.6).

GET sis_imports/:id/errors and GET sis_import_errors answer `{"sis_import_errors": [...]}`,
newest first (Canvas orders by `created_at DESC`: a later import's errors first, and within
an import the later rows first), `failure=true` keeps only failure-class errors, and pages
carry a Link header like the import list, plus `last` (Canvas counts this scope).  An
import's errors exist from its end (the sandbox records them all then), whether or not its
error file has been written yet.

GET /files/:id/download serves a file a SIS import shows (a csv_attachment or its
errors_attachment) to whoever presents a valid `verifier` (the file's uuid, or the signed
one-hour token of errors_attachment.url) or the owning account's token.
"""

from __future__ import annotations

from collections.abc import Iterable

from gateway.sandbox.auth import authorize
from gateway.sandbox.errorfile import SisError, error_json
from gateway.sandbox.files import token_allows
from gateway.sandbox.listing import paginate
from gateway.sandbox.options import value_to_boolean
from gateway.sandbox.records import SisImportRecord
from gateway.sandbox.store import ImportStore, utc_now
from gateway.sandbox.views import ImportViews
from gateway.sandbox.wire import Request, Response, json_response, not_found

_Entry = tuple[int, SisError]  # (import id, error)


def import_errors(
    store: ImportStore, request: Request, account_id: str, import_id: int
) -> Response:
    """One import's errors; 404 when the import is not this account's."""
    record = store.get(account_id, import_id)
    if record is None:
        return not_found()
    return _errors_page(request, [record])


def account_errors(store: ImportStore, request: Request, account_id: str) -> Response:
    """Every import's errors for the account."""
    return _errors_page(request, store.all(account_id))


def _errors_page(request: Request, records: Iterable[SisImportRecord]) -> Response:
    entries = _newest_first(records)
    if value_to_boolean(request.query.get("failure")):
        entries = [entry for entry in entries if entry[1].failure]
    page = paginate(entries, request.query, request.base_url + request.path, with_last=True)
    body = {"sis_import_errors": [error_json(import_id, e) for import_id, e in page.records]}
    return json_response(200, body, ("Link", page.link_header))


def _newest_first(records: Iterable[SisImportRecord]) -> list[_Entry]:
    """Errors ordered as Canvas's `created_at DESC`: an import's errors are created while
    it runs (here: at its end), one after the other in file order."""
    keyed = []
    for record in records:
        if record.outcome is None:
            continue
        created = record.ended_at or record.updated_at
        for index, problem in enumerate(record.outcome.problems):
            keyed.append(((created, record.id, index), (record.id, problem)))
    keyed.sort(key=lambda item: item[0], reverse=True)
    return [entry for _, entry in keyed]


def download(
    store: ImportStore, views: ImportViews, request: Request, attachment_id: int
) -> Response:
    """The file for its verifier or the owning account's token; 404 if unknown, Canvas's
    401 bodies otherwise."""
    found = store.find_file(attachment_id)
    if found is None:
        return not_found()
    record, file = found
    verifier = request.query.get("verifier") or ""
    allowed = verifier == file.uuid or token_allows(views.secret, verifier, file.id, utc_now())
    if not allowed:
        decision = authorize(request, record.account_id, views.directory)
        if isinstance(decision, Response):
            return decision
    disposition = f'attachment; filename="{file.display_name}"'
    # The error file's stored type is the bare "csv"; HTTP needs a media type.
    media_type = file.content_type if "/" in file.content_type else "text/csv"
    return Response(200, file.content, media_type, (("Content-Disposition", disposition),))
