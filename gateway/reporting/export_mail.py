"""The short mail an export run's end sends: published (where to find the file) or failed.

Rendered from jinja2 templates like the batch reports (``export_subject.txt``,
``export.txt``, ``export.html`` in ``reporting/templates``); an institution's
``report_templates`` folder overrides any of them by name.  Values are the run's own (its
export, report, file, size, reason); no token, no Canvas URL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.exports.runs import ExportRun
from gateway.reporting.render import (
    RenderedReport,
    format_when,
    subject_line,
    template_environment,
)
from gateway.state.states import ExportRunState

SUBJECT = "export_subject.txt"
TEXT = "export.txt"
HTML = "export.html"


class ExportMailRenderer:
    """Renders export mails, with an institution's template overrides if it has any."""

    def __init__(self, override_dir: Path | None = None) -> None:
        """Raises ValueError if ``override_dir`` is not a directory (see
        :func:`gateway.reporting.render.template_environment`)."""
        self._env = template_environment(override_dir)

    def render(self, run: ExportRun) -> RenderedReport:
        """Subject, text and HTML of the mail about ``run`` (PUBLISHED or FAILED).  Raises
        jinja2.TemplateError when a template is broken."""
        context = export_context(run)
        subject = subject_line(self._env.get_template(SUBJECT).render(context))
        context["subject"] = subject
        return RenderedReport(subject=subject,
                              text=self._env.get_template(TEXT).render(context),
                              html=self._env.get_template(HTML).render(context))


def export_context(run: ExportRun) -> dict[str, Any]:
    """What the export templates see."""
    published = run.state is ExportRunState.PUBLISHED
    return {
        "run": run,
        "published": published,
        "outcome": "Export published" if published else "Export failed",
        "path": f"/outbox/{run.export}/{run.file_name}" if published else None,
        "trigger_words": _TRIGGERS.get(run.trigger, run.trigger),
        "at": _when(run.published_at if published else run.updated_at),
    }


_TRIGGERS = {"schedule": "its schedule", "after_import": "a successful import",
             "request": "a request file", "start": "the gateway's start",
             "operator": "an operator"}


def _when(at: float | None) -> str:
    return "not known" if at is None else format_when(datetime.fromtimestamp(at, tz=UTC))
