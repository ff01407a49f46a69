"""Canvas's account reports endpoints (``app/controllers/account_reports_controller.rb``).

  GET  reports                 the available reports (``report``, ``title``, ``parameters``,
                               ``last_run``)
  POST reports/:report         start a run; ``parameters[...]`` from the form or the query;
                               a report the account does not offer is a 404 (the controller's
                               ``RecordNotFound``)
  GET  reports/:report         the account's runs of that report, newest first, paginated
  GET  reports/:report/:id     one run
  DELETE reports/:report/:id   delete a run (``deleted``: gone from the index and show)

and ``GET /accounts/:account_id/files/:id/download`` (``account_file_download_url``, the
report's ``file_url``): with the file's verifier or the account's token, a 302 to the file
store (file_store.py), another host:port, as Canvas redirects to S3 or inst-fs.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from gateway.sandbox.auth import Caller
from gateway.sandbox.file_store import FileStore
from gateway.sandbox.injector import FaultInjector
from gateway.sandbox.listing import paginate
from gateway.sandbox.multipart import MultipartError, parse_content_type, parse_multipart
from gateway.sandbox.report_files import REPORT_TITLES, report_file
from gateway.sandbox.report_runs import ReportRun, ReportRuns, run_json
from gateway.sandbox.store import ImportStore, utc_now
from gateway.sandbox.wire import Request, Response, json_response, not_found

GRADE_SEED = 17
"""The seed of the sandbox's grades: the same student and course always score the same."""


class AccountReportsApi:
    """The report endpoints of every account."""

    def __init__(self, store: ImportStore, runs: ReportRuns, injector: FaultInjector,
                 files: FileStore) -> None:
        self._store = store
        self._runs = runs
        self._injector = injector
        self._files = files

    def available(self, request: Request, caller: Caller) -> Response:
        """The reports the sandbox makes, with each one's last run."""
        listing: list[dict[str, Any]] = []
        for report, title in REPORT_TITLES.items():
            ids = self._runs.ids(caller.account_id, report)
            last = self._current(ids[0], request) if ids else None
            listing.append({"report": report, "title": title, "parameters": None,
                            "last_run": last})
        return json_response(200, listing)

    def create(self, request: Request, caller: Caller, report: str) -> Response:
        """Start a run of ``report``."""
        if report not in REPORT_TITLES:
            return not_found()
        try:
            parameters = _parameters(request)
        except MultipartError as error:
            return json_response(400, {"errors": [{"message": str(error)}]})
        run = self._runs.start(caller.account_id, report, parameters, user_id=caller.user.id,
                               now=utc_now(), forced_state=self._injector.for_report())
        return json_response(200, run_json(run, request.base_url))

    def index(self, request: Request, caller: Caller, report: str) -> Response:
        """The account's runs of ``report``, newest first, a page at a time: ``Api.paginate``
        of a counted scope (10 a page by default, at most 100; Link with ``last``)."""
        page = paginate(self._runs.ids(caller.account_id, report), request.query,
                        request.base_url + request.path, with_last=True)
        return json_response(200, [self._current(run_id, request) for run_id in page.records],
                             ("Link", page.link_header))

    def show(self, request: Request, caller: Caller, report: str, run_id: int) -> Response:
        """One run of the account's (404 if another account's or another report's)."""
        if run_id not in self._runs.ids(caller.account_id, report):
            return not_found()
        return json_response(200, self._current(run_id, request))

    def delete(self, request: Request, caller: Caller, report: str, run_id: int) -> Response:
        """Delete one run (``AccountReport#destroy``): answered with the run, now
        ``deleted``; a run already deleted, or not the account's, is a 404."""
        if run_id not in self._runs.ids(caller.account_id, report):
            return not_found()
        answer = self._current(run_id, request)
        self._runs.delete(run_id)
        return json_response(200, {**answer, "status": "deleted"})

    def redirect(self, request: Request, caller: Caller | None, account_id: str,
                 attachment_id: int) -> Response:
        """302 to the file store for the file's verifier or the owning account's token."""
        found = self._runs.file(attachment_id)
        if found is None or found[0].account_id != account_id:
            return not_found()
        file = found[1]
        if request.query.get("verifier") != file.uuid and caller is None:
            return json_response(401, {"status": "unauthorized", "errors": [
                {"message": "user authorization required"}]})
        location = self._files.offer(file.filename, file.content_type, file.content)
        return Response(302, b"", "text/html", (("Location", location),))

    def _current(self, run_id: int, request: Request) -> dict[str, Any]:
        run = self._runs.current(run_id, utc_now(), self._build)
        assert run is not None  # ids come from the runs themselves
        return run_json(run, request.base_url)

    def _build(self, run: ReportRun) -> tuple[str, bytes]:
        objects = self._store.objects(run.account_id).to_json()
        return report_file(run.report, run.parameters, objects, seed=GRADE_SEED)


def _parameters(request: Request) -> dict[str, str]:
    """``parameters[<key>]`` fields of the form body (urlencoded or multipart) and query."""
    fields = list(request.query.pairs)
    media_type, options = parse_content_type(request.header("content-type"))
    if media_type == "application/x-www-form-urlencoded":
        fields += parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True)
    elif media_type == "multipart/form-data":
        fields += [(part.name, part.data.decode("utf-8", "replace"))
                   for part in parse_multipart(request.body, options.get("boundary", ""))]
    return {key[len("parameters["):-1]: value for key, value in fields
            if key.startswith("parameters[") and key.endswith("]")}

