"""Turn an uploaded file into the counts and messages Canvas would report (§4.1, §4.2, §4.4).

Mirrors `SIS::CSV::ImportRefactored`: a `.zip` upload is unpacked, a `.csv` upload is used as
is, anything else imports nothing.  Each CSV is checked (UTF-8, first row, header sniffing),
then fully parsed; files are then run in importer order, rows checked by `rows.check_row`.
Pure: bytes in, `Outcome` (plus the rows that were applied) out; the only outside input is
the error-report number source.

Row numbers follow Canvas: the header is row 1, blank lines are not counted and a quoted
newline does not start a row, so the first data row is 2 whatever the physical layout.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.sandbox.errorfile import SisError, row_text
from gateway.sandbox.records import Outcome
from gateway.sandbox.rows import Row, Verdict, check_row
from gateway.sorting.kinds import KIND_RULES, SisKind, identify
from gateway.sorting.validation.rubycsv import MalformedCsvError, parse_rows

logger = logging.getLogger(__name__)

# `importer.to_s.pluralize` for each importer, in Canvas's importer order.
COUNT_KEYS: dict[SisKind, str] = {
    SisKind.CHANGE_SIS_ID: "change_sis_ids",
    SisKind.ACCOUNT: "accounts",
    SisKind.TERM: "terms",
    SisKind.ABSTRACT_COURSE: "abstract_courses",
    SisKind.COURSE: "courses",
    SisKind.SECTION: "sections",
    SisKind.XLIST: "xlists",
    SisKind.USER: "users",
    SisKind.LOGIN: "logins",
    SisKind.ENROLLMENT: "enrollments",
    SisKind.ADMIN: "admins",
    SisKind.GROUP_CATEGORY: "group_categories",
    SisKind.GROUP: "groups",
    SisKind.GROUP_MEMBERSHIP: "group_memberships",
    SisKind.DIFFERENTIATION_TAG_SET: "differentiation_tag_sets",
    SisKind.DIFFERENTIATION_TAG: "differentiation_tags",
    SisKind.DIFFERENTIATION_TAG_MEMBERSHIP: "differentiation_tag_memberships",
    SisKind.GRADE_PUBLISHING_RESULTS: "grade_publishing_results",
    SisKind.USER_OBSERVER: "user_observers",
}

# Canvas's IGNORE_FILES, applied to the extracted path; dotfiles never reach it because
# Ruby's `Dir["**/**"]` does not list hidden entries, so they are skipped here explicitly.
_IGNORED_MEMBER = re.compile(r"__macosx|desktop d[bf]", re.IGNORECASE)
_MAX_EXPANSION = 100  # uncompressed size may not exceed 100x the zip (§1.2)
_INLINE_ROW_LIMIT = 50  # sis_batch_parallelism_count_threshold

INVALID_UTF8 = "Invalid UTF-8"
MALFORMED = "Malformed CSV"
NO_HEADERS = "Couldn't find Canvas CSV import headers"
UNKNOWN_TYPE = "Skipping unknown file type"


class ZipExpansionError(ValueError):
    """The zip would expand beyond Canvas's limit."""


@dataclass(frozen=True)
class SisCsv:
    """One recognised CSV: its name in the upload, its kind, header and data rows."""

    name: str
    kind: SisKind
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class AppliedRow:
    """A data row Canvas would have written: its kind and its stripped values."""

    kind: SisKind
    row: Row


@dataclass(frozen=True)
class Processed:
    """The outcome of one upload and the rows it applied, in importer order."""

    outcome: Outcome
    applied: tuple[AppliedRow, ...]


@dataclass
class _Collector:
    """Mutable accumulator used while one upload is processed."""

    problems: list[SisError] = field(default_factory=list)
    csvs: list[SisCsv] = field(default_factory=list)
    applied: list[AppliedRow] = field(default_factory=list)

    def fail(self, file: str | None, message: str) -> None:
        self.problems.append(SisError(file, message, failure=True))

    def warn(
        self, file: str | None, message: str, row: int | None = None, row_info: str | None = None
    ) -> None:
        self.problems.append(SisError(file, message, row=row, row_info=row_info))


def crash_message(error_report: Callable[[], int]) -> str:
    """Canvas's failure text when an import raises (`fail_with_error!`)."""
    return f"Error while importing CSV. Please contact support. (Error report {error_report()})"


def process_upload(
    filename: str, payload: bytes, *, skip_deletes: bool, error_report: Callable[[], int]
) -> Outcome:
    """Process one upload the way Canvas does and return the outcome; never raises."""
    return import_upload(
        filename, payload, skip_deletes=skip_deletes, error_report=error_report
    ).outcome


def import_upload(
    filename: str, payload: bytes, *, skip_deletes: bool, error_report: Callable[[], int]
) -> Processed:
    """Process one upload and return the outcome with the applied rows; never raises.

    An exception while unpacking (not a zip, zip too large, encrypted member, ...) becomes the
    failure `Error while importing CSV. Please contact support. (Error report <n>)` with a
    null file, as Canvas's `fail_with_error!` records it; nothing is applied then.
    """
    collector = _Collector()
    try:
        lowered = filename.lower()
        if lowered.endswith(".zip"):
            for name, data in _zip_members(payload, collector):
                _sniff(name, data, collector)
        elif lowered.endswith(".csv"):
            _sniff(filename, payload, collector)
    except Exception:  # Canvas turns any failure here into an error report; so do we.
        logger.exception("sandbox import of %s failed", filename)
        crashed = _Collector()
        crashed.fail(None, crash_message(error_report))
        return Processed(_outcome(crashed, skip_deletes), ())
    outcome = _outcome(collector, skip_deletes)
    return Processed(outcome, tuple(collector.applied))


def _skipped_member(name: str) -> bool:
    parts = name.split("/")
    return any(part.startswith(".") for part in parts) or bool(_IGNORED_MEMBER.search(name))


def _zip_members(payload: bytes, collector: _Collector) -> list[tuple[str, bytes]]:
    """Return the (name, bytes) of the zip's CSV members in path order.

    Directories and ignored paths are dropped silently; other non-CSV members add the
    warning `Skipping unknown file type`.  Raises zipfile.BadZipFile, ZipExpansionError.
    """
    members: list[tuple[str, bytes]] = []
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        infos = sorted(archive.infolist(), key=lambda info: info.filename)
        if sum(info.file_size for info in infos) > _MAX_EXPANSION * len(payload):
            raise ZipExpansionError("zip expands beyond 100 times its size")
        for info in infos:
            if info.is_dir() or _skipped_member(info.filename):
                continue
            if not info.filename.lower().endswith(".csv"):
                collector.warn(info.filename, UNKNOWN_TYPE)
                continue
            members.append((info.filename, archive.read(info)))
    return members


def _sniff(name: str, data: bytes, collector: _Collector) -> None:
    """Canvas's `process_file` + `count_rows` for one CSV: validate and identify it.

    Canvas reads the first row to sniff and parses the rest later; the sandbox parses the
    whole file first, so a file with both an unknown header and a later quoting error is
    reported as `Malformed CSV` rather than by its header.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        collector.fail(name, INVALID_UTF8)
        return
    text = text.removeprefix("\ufeff")
    try:
        rows = parse_rows(text)
    except MalformedCsvError:
        collector.fail(name, MALFORMED)
        return
    if not rows:
        return  # empty (or only blank lines): ignored silently, like Canvas
    header = tuple(cell.strip().lower() for cell in rows[0])
    kind = identify(header)
    if kind is None:
        collector.fail(name, NO_HEADERS)
        return
    collector.csvs.append(SisCsv(name, kind, header, tuple(tuple(row) for row in rows[1:])))


def _row_mapping(header: tuple[str, ...], cells: tuple[str, ...]) -> dict[str, str | None]:
    """Header name -> stripped value or None; the first of duplicate columns wins (Ruby)."""
    row: dict[str, str | None] = {}
    for index, name in enumerate(header):
        if name in row:
            continue
        value = cells[index].strip() if index < len(cells) else ""
        row[name] = value or None
    return row


def _import_csv(csv: SisCsv, collector: _Collector, skip_deletes: bool) -> int:
    """Check every data row of one CSV; return how many would be imported."""
    imported = 0
    for index, cells in enumerate(csv.rows):
        row = _row_mapping(csv.header, cells)
        result = check_row(csv.kind, row, skip_deletes=skip_deletes)
        if isinstance(result, str):
            # index 0 is the first data row, which Canvas numbers 2 (the header is 1).
            collector.warn(csv.name, result, row=index + 2, row_info=row_text(cells))
        elif result is Verdict.IMPORT:
            imported += 1
            collector.applied.append(AppliedRow(csv.kind, row))
    return imported


def _outcome(collector: _Collector, skip_deletes: bool) -> Outcome:
    """Run the recognised CSVs in importer order and assemble the outcome."""
    counts = dict.fromkeys(COUNT_KEYS.values(), 0)
    supplied: list[str] = []
    completed: list[str] = []
    total_rows = 0
    for rule in KIND_RULES:
        csvs = [csv for csv in collector.csvs if csv.kind is rule.kind]
        if not csvs:
            continue
        supplied.append(str(rule.kind))
        rows = sum(len(csv.rows) for csv in csvs)
        total_rows += rows
        if rows:  # Canvas only creates (and completes) importers for files with rows
            completed.append(str(rule.kind))
        imported = sum(_import_csv(csv, collector, skip_deletes) for csv in csvs)
        counts[COUNT_KEYS[rule.kind]] = imported
    failures = sum(1 for problem in collector.problems if problem.failure)
    counts["error_count"] = failures
    counts["warning_count"] = len(collector.problems) - failures
    return Outcome(
        supplied_batches=tuple(supplied),
        completed_importers=tuple(completed),
        counts=counts,
        problems=tuple(collector.problems),
        # Canvas's row total starts at 1, so inline means at most 49 data rows.
        running_immediately=total_rows + 1 <= _INLINE_ROW_LIMIT,
    )
