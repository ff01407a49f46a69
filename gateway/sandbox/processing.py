"""Run an upload through Canvas's importers: the counts and messages Canvas would report
(§4.1, §4.2, §4.4).

Mirrors `SIS::CSV::ImportRefactored#process`: `prepare` (unpack.py) unpacks and sniffs the
upload, then the recognised CSVs run in importer order, each row checked by
`rows.check_row`.  Pure: bytes in, `Processed` (the prepared files, the `Outcome` and the
rows that were applied) out; the only outside input is the error-report number source.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.sandbox.errorfile import SisError, row_text
from gateway.sandbox.records import End, Outcome
from gateway.sandbox.rows import Row, Verdict, check_row
from gateway.sandbox.unpack import Prepared, SisCsv, prepare
from gateway.sorting.kinds import KIND_RULES, SisKind

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


@dataclass(frozen=True)
class AppliedRow:
    """A data row Canvas would have written: its kind and its stripped values."""

    kind: SisKind
    row: Row


@dataclass(frozen=True)
class Processed:
    """One upload's prepared files, its outcome and the rows it applied, in importer order."""

    prepared: Prepared
    outcome: Outcome
    applied: tuple[AppliedRow, ...]


@dataclass
class _Collector:
    """Mutable accumulator used while the importers run."""

    problems: list[SisError] = field(default_factory=list)
    applied: list[AppliedRow] = field(default_factory=list)

    def warn(self, file: str, message: str, row: int, row_info: str) -> None:
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


def crashed(error_report: Callable[[], int], prepared: Prepared | None = None) -> Outcome:
    """The outcome of `fail_with_error!`: one null-file failure, nothing imported."""
    problem = SisError(None, crash_message(error_report), failure=True)
    counts = {"error_count": 1, "warning_count": 0}
    running = prepared.running_immediately if prepared is not None else True
    return Outcome((), (), counts, (problem,), running, end=End.CRASHED)


def import_upload(
    filename: str, payload: bytes, *, skip_deletes: bool, error_report: Callable[[], int]
) -> Processed:
    """Prepare and import one upload; never raises.

    An exception while unpacking (not a zip, zip too large, encrypted member, ...) becomes the
    failure `Error while importing CSV. Please contact support. (Error report <n>)` with a
    null file, as Canvas's `fail_with_error!` records it; nothing is kept or applied then.
    """
    try:
        prepared = prepare(filename, payload)
    except Exception:  # Canvas turns any failure here into an error report; so do we.
        logger.exception("sandbox import of %s failed", filename)
        return Processed(Prepared(), crashed(error_report), ())
    return run_importers(prepared, skip_deletes=skip_deletes)


def run_importers(prepared: Prepared, *, skip_deletes: bool) -> Processed:
    """Run the prepared CSVs in importer order and assemble the outcome."""
    collector = _Collector(problems=list(prepared.problems))
    counts = dict.fromkeys(COUNT_KEYS.values(), 0)
    supplied: list[str] = []
    completed: list[str] = []
    inline = prepared.running_immediately
    for rule in KIND_RULES:
        csvs = [csv for csv in prepared.csvs if csv.kind is rule.kind]
        if not csvs:
            continue
        supplied.append(str(rule.kind))
        # One parallel importer per file with rows; inline each adds its type when it
        # completes, in parallel the type is added once, by its last importer.
        with_rows = [csv for csv in csvs if csv.rows]
        completed.extend([str(rule.kind)] * (len(with_rows) if inline else min(len(with_rows), 1)))
        imported = sum(_import_csv(csv, collector, skip_deletes) for csv in csvs)
        counts[COUNT_KEYS[rule.kind]] = imported
    failures = sum(1 for problem in collector.problems if problem.failure)
    counts["error_count"] = failures
    counts["warning_count"] = len(collector.problems) - failures
    outcome = Outcome(
        supplied_batches=tuple(supplied),
        completed_importers=tuple(completed),
        counts=counts,
        problems=tuple(collector.problems),
        running_immediately=inline,
    )
    return Processed(prepared, outcome, tuple(collector.applied))


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
