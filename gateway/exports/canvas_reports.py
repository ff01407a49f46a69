"""Canvas's account reports API, through the forwarder's client (same errors, same token rules).

Shapes (canvas-lms ``app/controllers/account_reports_controller.rb`` and
``lib/api/v1/account_report.rb``): ``POST /api/v1/accounts/:id/reports/:report`` with
``parameters[...]`` answers the Report JSON (``id``, ``report``, ``status``, ``parameters``,
``created_at``, ``file_url``, ``attachment``); ``GET .../reports/:report/:id`` shows one,
``GET .../reports/:report`` lists the account's runs of that report, newest first.  A
report's ``status`` is its ``workflow_state`` (``app/models/account_report.rb``):
``created``, ``running``, ``compiling``, ``complete``, ``error``, ``aborted``, ``deleted``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from gateway.forwarding.canvas import CanvasClient, CanvasError

ENDED_WELL = "complete"
ENDED_BADLY = frozenset({"error", "aborted", "deleted"})


class ReportsClient:
    """One institution's Canvas account reports."""

    def __init__(self, canvas: CanvasClient, account_id: str) -> None:
        self._canvas = canvas
        self._base = f"/api/v1/accounts/{quote(account_id, safe='')}/reports"

    def start(self, report: str, parameters: dict[str, str]) -> dict[str, Any]:
        """Start a report run; returns Canvas's Report JSON.  Ambiguous on a lost answer:
        Canvas may have started it (reconcile with :meth:`runs`); so is an answer without a
        report id: Canvas accepted the POST."""
        form = {f"parameters[{key}]": value for key, value in parameters.items()}
        return _report(self._canvas.request_json("POST", f"{self._base}/{quote(report)}",
                                                 data=form, ambiguous=True), ambiguous=True)

    def status(self, report: str, report_id: int) -> dict[str, Any]:
        """The Report JSON of one run."""
        return _report(self._canvas.request_json(
            "GET", f"{self._base}/{quote(report)}/{report_id}"))

    def runs(self, report: str) -> list[dict[str, Any]]:
        """The account's runs of ``report``, newest first (the first page of 100: enough to
        find a run started minutes ago)."""
        body = self._canvas.request_json("GET", f"{self._base}/{quote(report)}",
                                         params={"per_page": 100})
        if not isinstance(body, list):
            raise CanvasError(f"GET {self._base}/{report}: expected a list of reports",
                              transient=True)
        return [item for item in body if isinstance(item, dict)]

    def download(self, report: dict[str, Any], destination: Path, *,
                 max_bytes: int) -> tuple[str, int, str]:
        """Stream the finished report's file to ``destination`` (temp, fsync, rename; never
        whole in memory); returns the attachment's name, the file's size and SHA-256 (hex).
        The file is fetched from ``attachment.url`` (or ``file_url``), following Canvas's
        redirect to its file store without the token
        (:meth:`~gateway.forwarding.canvas.CanvasClient.save_file`); a file larger than
        ``max_bytes`` is a permanent CanvasError, found while streaming."""
        attachment = report.get("attachment") or {}
        url = attachment.get("url") or report.get("file_url")
        if not url:
            raise CanvasError(f"report {report.get('id')} is complete but has no file",
                              transient=True)
        name = str(attachment.get("filename") or attachment.get("display_name") or "")
        size, sha256 = self._canvas.save_file(str(url), destination, max_bytes=max_bytes,
                                              what="report file")
        return name, size, sha256


def _report(body: Any, *, ambiguous: bool = False) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("id"), int):
        raise CanvasError("Canvas answered a report without an id", transient=True,
                          ambiguous=ambiguous)
    return body
