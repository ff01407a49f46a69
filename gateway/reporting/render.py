"""Rendering a batch report: facts in, subject + text + HTML out, with no I/O but template reads.

Rendering is a pure function of a :class:`~gateway.reporting.facts.BatchReport` and the
templates.  The packaged templates live in ``gateway/reporting/templates``; an institution
may supply an override directory whose templates win by name.  Templates see the report as
``report`` plus a few values worked out here (``outcome_words``, ``headline``,
``subject_detail``, ``counts``, ``canvas_state_words``, ``canvas_summary``, ``timings``,
``subject``) and the filters ``when``, ``bytes``, ``oneline`` and
``plain``, so that an override only has to decide wording and layout.

Every value a template prints passes through :func:`text_line` (the environment's
``finalize``), filter or not: names, member names, Canvas messages and finding texts come
from senders and Canvas, and none of them may start a new line in the text report, the mail's
text part or the subject header, whatever an override template does.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    select_autoescape,
)
from markupsafe import Markup

from gateway.reporting.facts import BatchReport, Outcome
from gateway.state.report_names import REPORT_SUFFIXES, report_name

SUBJECT_TEMPLATE = "subject.txt"
TEXT_TEMPLATE = "report.txt"
HTML_TEMPLATE = "report.html"

#: Version of the JSON report layout, so that vendors automating on it can detect changes.
#: 2: ``counts`` holds the non-zero counts only; added ``stage``, ``headline``,
#: ``canvas_state_words``, each file's ``fate``, ``fate_words`` and ``next_step``, and each
#: finding's ``rejects_file`` (what ``blocking`` meant: it never stopped the other files).
REPORT_JSON_FORMAT = 2

# C0 and C1 controls (CR, LF, NEL, TAB, ...), DEL, the Unicode line/paragraph separators and
# the bidirectional controls.  Untrusted names carrying these could break a header onto a
# new line, forge extra lines in a report, or display "txt.exe" as "exe.txt".
_NOT_IN_A_LINE = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED_ESCAPES = {"\r": "\\r", "\n": "\\n", "\t": "\\t"}
_SAFE_REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
SUBJECT_FILES = 3
"""Files a subject names with their fate before summing up the rest."""
# Canvas's count keys (``importer.to_s.pluralize``) and workflow states as a registrar
# says them; a key or state not listed here is shown as Canvas wrote it.
COUNT_WORDS = {
    "change_sis_ids": "SIS id changes", "abstract_courses": "abstract courses",
    "xlists": "cross-listings", "group_categories": "group categories",
    "group_memberships": "group memberships",
    "differentiation_tag_sets": "differentiation tag sets",
    "differentiation_tags": "differentiation tags",
    "differentiation_tag_memberships": "differentiation tag memberships",
    "grade_publishing_results": "grade publishing results",
    "user_observers": "observers", "batch_courses_deleted": "courses deleted (batch mode)",
    "batch_sections_deleted": "sections deleted (batch mode)",
    "batch_enrollments_deleted": "enrollments deleted (batch mode)",
    "error_count": "errors", "warning_count": "warnings",
}
CANVAS_STATE_WORDS = {
    "initializing": "getting ready", "created": "waiting to start", "importing": "importing",
    "cleanup_batch": "removing what the batch left out", "imported": "imported",
    "imported_with_messages": "imported with warnings", "failed": "failed",
    "failed_with_messages": "failed with errors", "aborted": "stopped (aborted)",
    "restoring": "being undone", "partially_restored": "partly undone",
    "restored": "undone",
}
_NOT_SENT_WORDS = {
    Outcome.ACCEPTED: "Not sent yet: the batch goes to Canvas when its turn comes.",
    Outcome.REJECTED: "Not sent to Canvas: nothing in this batch could be imported.",
    Outcome.HELD: "Not sent to Canvas: the batch is held.",
}


@dataclass(frozen=True)
class RenderedReport:
    """A rendered report: a one-line subject (no control characters) and two bodies."""

    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class Timing:
    """One step of a batch's life as the report states it.

    ``at`` is timezone-aware UTC; ``note`` says how long the step took after the previous
    one (empty for the first step).
    """

    label: str
    at: datetime
    note: str


class ReportRenderer:
    """Renders reports from the packaged templates, or an institution's overrides of them.

    The jinja2 environment is strict: a template that names a value the renderer does not
    provide raises :class:`jinja2.UndefinedError` instead of silently printing nothing, so a
    broken override fails loudly at render time.  Autoescaping is on for ``.html`` templates
    only (the subject and text body must not contain HTML entities).
    """

    def __init__(self, override_dir: Path | None = None) -> None:
        """Build the environment; raises ValueError if ``override_dir`` is not a directory."""
        self._env = template_environment(override_dir)

    def render(self, report: BatchReport) -> RenderedReport:
        """Render the subject, text body and HTML body of ``report``.

        Raises :class:`jinja2.TemplateError` (e.g. ``UndefinedError``,
        ``TemplateSyntaxError``) when a template is broken; that is permanent for the
        report until the template is fixed.
        """
        context = report_context(report)
        subject = subject_line(self._env.get_template(SUBJECT_TEMPLATE).render(context))
        context["subject"] = subject
        text = self._env.get_template(TEXT_TEMPLATE).render(context)
        html = self._env.get_template(HTML_TEMPLATE).render(context)
        return RenderedReport(subject=subject, text=text, html=html)


def template_environment(override_dir: Path | None) -> Environment:
    """The jinja2 environment every mail and report renders in: the packaged templates, an
    institution's ``override_dir`` first if given; strict undefined values; autoescaping
    for ``.html`` templates only (subjects and text bodies must not hold HTML entities);
    every printed value one line (:func:`text_line`).

    Raises ValueError if ``override_dir`` is not a directory: a missing override directory
    is a configuration mistake, and silently falling back to the packaged templates would
    hide it from the operator.
    """
    loaders: list[BaseLoader] = []
    if override_dir is not None:
        if not override_dir.is_dir():
            raise ValueError(f"template override directory not found: {override_dir}")
        loaders.append(FileSystemLoader(override_dir))
    loaders.append(PackageLoader("gateway", "reporting/templates"))
    env = Environment(
        loader=ChoiceLoader(loaders),
        undefined=StrictUndefined,
        finalize=_line_safe,
        autoescape=select_autoescape(
            enabled_extensions=("html",), default_for_string=False, default=False
        ),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        # ``plain`` kept multi-line texts' line breaks once; those texts carry member
        # and file names, so it is ``oneline`` now (override templates still name it).
        when=format_when, bytes=format_size, oneline=_line_safe, plain=_line_safe
    )
    return env


def report_context(report: BatchReport) -> dict[str, Any]:
    """Return the values templates see, besides the filters."""
    return {
        "report": report,
        "outcome_words": report.outcome_words,
        "headline": report.headline,
        "subject_detail": subject_detail(report),
        "counts": shown_counts(report.counts),
        "canvas_state_words": canvas_state_words(report.canvas_state),
        "canvas_summary": canvas_summary(report),
        "timings": timings(report),
    }


def subject_detail(report: BatchReport) -> str:
    """Say briefly what the report is about: each file with its fate (the first
    ``SUBJECT_FILES``, then how many more), and the Canvas import."""
    parts = [" ".join(filter(None, (file.name, file.fate_words)))
             for file in report.files[:SUBJECT_FILES]]
    if len(report.files) > SUBJECT_FILES:
        parts.append(f"{len(report.files) - SUBJECT_FILES} more files")
    if report.canvas_import_id is not None:
        parts.append(f"Canvas import {report.canvas_import_id}")
    return "; ".join(parts) or "no files"


def shown_counts(counts: dict[str, int]) -> list[tuple[str, int]]:
    """Return the non-zero counts in Canvas's order, each named in plain words
    (``cross-listings``, ``errors``)."""
    return [(COUNT_WORDS.get(name, name.replace("_", " ")), value)
            for name, value in counts.items() if value]


def canvas_state_words(state: str | None) -> str:
    """Canvas's ``workflow_state`` as a registrar says it; ``not known yet`` for none."""
    if not state:
        return "not known yet"
    return CANVAS_STATE_WORDS.get(state, state)


def canvas_summary(report: BatchReport) -> str:
    """What the report says about Canvas when the batch has no import there: whether it is
    still to be sent (a receipt) or will not be sent; empty once there is an import."""
    if report.canvas_import_id is not None:
        return ""
    return _NOT_SENT_WORDS.get(report.outcome, "Not sent to Canvas.")


def timings(report: BatchReport) -> list[Timing]:
    """Return received → posted → finished (the steps that happened), each saying how long
    it came after the previous step; the last also says the total when all three happened."""
    steps = (("Received", report.received_at, "received"),
             ("Posted to Canvas", report.posted_at, "posted"),
             ("Finished", report.finished_at, "finished"))
    present: list[tuple[str, datetime, str]] = [
        (label, as_utc(at), noun) for label, at, noun in steps if at is not None]
    lines: list[Timing] = []
    for index, (label, at, _) in enumerate(present):
        note = ""
        if index:
            _, before, noun = present[index - 1]
            note = f"{format_duration(at - before)} after {noun}"
        lines.append(Timing(label=label, at=at, note=note))
    if len(lines) == 3:
        total = format_duration(lines[2].at - lines[0].at)
        lines[2] = Timing(lines[2].label, lines[2].at, f"{lines[2].note}; {total} in all")
    return lines


def format_duration(delta: timedelta) -> str:
    """Format a duration as its two largest units, e.g. ``2 min 5 s`` or ``1 d 3 h``.

    Negative durations (clock steps between hosts) read as ``0 s`` rather than confusing
    the reader with a minus sign.
    """
    remaining = max(0, int(delta.total_seconds()))
    parts: list[str] = []
    for unit, seconds in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        amount, remaining = divmod(remaining, seconds)
        if amount:
            parts.append(f"{amount} {unit}")
    return " ".join(parts[:2]) or "0 s"


def as_utc(moment: datetime) -> datetime:
    """Return ``moment`` in UTC; naive datetimes are taken to be UTC already (facts are)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def format_when(moment: datetime) -> str:
    """Format a time for people: ``2024-05-01 10:00:05 UTC``."""
    return as_utc(moment).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_size(size: int) -> str:
    """Format a byte count exactly (the sender compares it with their own file)."""
    return "1 byte" if size == 1 else f"{size:,} bytes"


def text_line(value: str) -> str:
    """Return ``value`` safe to print within one line of a text report, a subject or a header.

    Each control character (C0 such as CR, LF and TAB, DEL, C1 such as NEL), Unicode line or
    paragraph separator and bidirectional control becomes a visible escape, as a programmer
    writes it in a string: ``\\r``, ``\\n``, ``\\t``, else ``\\xNN`` or ``\\uNNNN``.  A
    registrar thus sees that a name holds a line break, and where.  Nothing else changes
    (spaces stay, nothing is trimmed).  The result holds no character that mail clients or
    text viewers take for a line break, and ``text_line(text_line(v)) == text_line(v)``.
    """
    return _NOT_IN_A_LINE.sub(_escape, value)


def _escape(match: re.Match[str]) -> str:
    character = match.group(0)
    code = ord(character)
    return _NAMED_ESCAPES.get(character) or (
        f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def subject_line(rendered: str) -> str:
    """The subject template's output as one header value: its lines (an override may spread
    the subject over several) joined by single spaces, trimmed, and passed through
    :func:`text_line` in case the template itself holds a control character."""
    return text_line(" ".join(part.strip() for part in rendered.splitlines() if part.strip()))


def _line_safe(value: Any) -> Any:
    """The ``finalize`` hook and the ``oneline`` filter: text through :func:`text_line`
    (markup stays markup, as the escapes add no HTML), any other value as it is."""
    if isinstance(value, Markup):
        # Already escaped HTML (``join`` makes it); the escapes are backslashes, letters and
        # digits, so wrapping the result as markup again adds no markup.
        return Markup(text_line(str(value)))  # noqa: S704
    if isinstance(value, str):
        return text_line(value)
    return value


def report_files(report: BatchReport, rendered: RenderedReport) -> dict[str, bytes]:
    """Return the files to publish in the institution's SFTP ``reports/`` folder.

    Keys are file names (``<reference>.<stage>.txt``, ``.html``, ``.json``: the receipt and
    the result of a batch never overwrite each other), values UTF-8 content.
    The JSON holds the facts themselves (times ISO 8601 in UTC, enums as their values) so
    vendors can automate on it.  Raises ValueError if the reference is not a safe file
    name, since it becomes part of a path.
    """
    reference = report.reference
    if not _SAFE_REFERENCE.fullmatch(reference):
        raise ValueError(f"report reference is not a safe file name: {reference!r}")
    contents = (rendered.text, rendered.html, facts_json(report))
    return {report_name(reference, report.stage, suffix): content.encode("utf-8")
            for suffix, content in zip(REPORT_SUFFIXES, contents, strict=True)}


def facts_json(report: BatchReport) -> str:
    """Serialise the report's facts as indented JSON ending in a newline."""
    facts: dict[str, Any] = {"report_format": REPORT_JSON_FORMAT}
    facts.update(_jsonable(asdict(report)))
    facts["stage"] = report.stage.value
    facts["outcome_words"] = report.outcome_words
    facts["headline"] = report.headline
    facts["canvas_state_words"] = canvas_state_words(report.canvas_state)
    for file, listed in zip(report.files, facts["files"], strict=True):
        listed["fate_words"] = file.fate_words
    for finding in facts["findings"]:
        # ``blocking`` stays for format 1 readers; it only ever kept its own file out.
        finding["rejects_file"] = finding["blocking"]
    return json.dumps(facts, indent=2, ensure_ascii=False) + "\n"


def _jsonable(value: Any) -> Any:
    """Convert datetimes to ISO 8601 UTC strings, enums to their values and tuples to lists."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value
