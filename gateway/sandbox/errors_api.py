"""The SIS import errors API and the error file download (§1.6).

GET sis_imports/:id/errors and GET sis_import_errors answer `{"sis_import_errors": [...]}`,
newest first (Canvas orders by `created_at DESC`: a later import's errors first, and within
an import the later rows first), `failure=true` keeps only failure-class errors, and pages
carry a Link header like the import list, plus `last` (Canvas counts this scope).

GET /files/:id/download serves `sis_errors_attachment_<id>.csv` to whoever presents the
file's `verifier` (as in `errors_attachment.url`) or the owning account's token.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from gateway.sandbox.auth import authorize
from gateway.sandbox.errorfile import ERRORS_CSV_TYPE, SisError, error_json
from gateway.sandbox.listing import paginate
from gateway.sandbox.options import value_to_boolean
from gateway.sandbox.records import SisImportRecord
from gateway.sandbox.store import ImportStore
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
    """Errors ordered as Canvas's `created_at DESC`: an import's errors are created when it
    finishes (its error file's time), one after the other in file order."""
    keyed = []
    for record in records:
        if record.outcome is None or record.errors_file is None:
            continue
        created = record.errors_file.created_at
        for index, problem in enumerate(record.outcome.problems):
            keyed.append(((created, record.id, index), (record.id, problem)))
    keyed.sort(key=lambda item: item[0], reverse=True)
    return [entry for _, entry in keyed]


def download(
    store: ImportStore, request: Request, accounts: Mapping[str, str], attachment_id: int
) -> Response:
    """The error CSV for its verifier or the owning account's token; 404 if unknown,
    Canvas's 401 bodies otherwise."""
    found = store.errors_file(attachment_id)
    if found is None:
        return not_found()
    account_id, errors_file = found
    if request.query.get("verifier") != errors_file.verifier:
        decision = authorize(request, account_id, accounts)
        if isinstance(decision, Response):
            return decision
    disposition = f'attachment; filename="{errors_file.filename}"'
    return Response(
        200, errors_file.content, ERRORS_CSV_TYPE, (("Content-Disposition", disposition),)
    )
