"""Validating one CSV: ``validate_file`` / ``validate_source`` -> ``FileVerdict``.

Contract: never raises for anything in the file's bytes (OSError from reading the file
itself propagates); always returns either a kind or at least one failure-class finding;
memory stays flat (tracked ids spill to a temporary file: see ``digests``) but for the
bounded finding list.  Canvas's order is kept: bytes (UTF-8), then the header, then CSV
syntax over the whole file, then rows (a NUL fails its row only); a failure-class problem
in the bytes replaces every other finding because Canvas then skips the file whole.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import chain
from pathlib import Path

from gateway.sorting.kinds import SisKind, identify, known_headers, nearest_kind
from gateway.sorting.validation.blocks import Block
from gateway.sorting.validation.findings import Code, Finding, FindingLog
from gateway.sorting.validation.idcheck import collect_ids
from gateway.sorting.validation.reading import Opener, Reading, reading
from gateway.sorting.validation.rubycsv import MalformedCsvError, RecordTooLongError
from gateway.sorting.validation.rules import RowProblem
from gateway.sorting.validation.scan import Layout, RowScanner
from gateway.sorting.validation.source import ByteProblem
from gateway.sorting.validation.verdicts import FileVerdict, ValidationOptions

Progress = Callable[[int], None]


def validate_file(path: Path, display_name: str,
                  options: ValidationOptions | None = None,
                  on_progress: Progress | None = None) -> FileVerdict:
    """Validate the CSV at ``path``, reported under ``display_name`` (the sender's name)."""
    return validate_source(lambda: open(path, "rb"), display_name, options, on_progress)


def validate_source(opener: Opener, display_name: str,
                    options: ValidationOptions | None = None,
                    on_progress: Progress | None = None) -> FileVerdict:
    """Validate the CSV whose bytes ``opener`` yields (called again for rare rescans)."""
    options = options or ValidationOptions()
    log = FindingLog(options.max_findings)
    with reading(opener, options.record_limit, on_progress) as pass_:
        scanner, syntax = _first_pass(pass_, display_name, options, log)
        problem = pass_.source.problem
    if problem is not None:
        return _byte_verdict(display_name, problem, options)
    kind = scanner.layout.kind if scanner is not None else None
    if syntax is not None:  # Canvas rejects the whole file: no row message would appear
        return FileVerdict.of(display_name, kind, None, _only(syntax, options))
    if scanner is None:
        return FileVerdict.of(display_name, None, None, log) if log.counts \
            else FileVerdict.of(display_name, None, None, _only(_empty(display_name), options))
    if scanner.rows == 0:
        log.add(_header_only(display_name, scanner.layout.kind))
    ids = collect_ids(scanner, opener, display_name, options, log)
    return FileVerdict.of(display_name, scanner.layout.kind, scanner.rows, log, ids)


def _only(finding: Finding, options: ValidationOptions) -> FindingLog:
    log = FindingLog(options.max_findings)
    log.add(finding)
    return log


def _first_pass(pass_: Reading, name: str, options: ValidationOptions,
                log: FindingLog) -> tuple[RowScanner | None, Finding | None]:
    """Read the header and every row: the scanner (None without a Canvas header) and the
    CSV syntax failure, if any."""
    scanner: RowScanner | None = None
    try:
        started = _start(pass_, name, options, log)
        if started is not None:
            scanner, rest = started
            scanner.scan(chain([rest], pass_.blocks))
    except MalformedCsvError as error:
        # The row goes in its column like every row finding; the physical line stays in
        # the fix, as an editor shows it (quoted line ends and blank lines part the two).
        return scanner, Finding(
            Code.MALFORMED_CSV, name, error.row or None, None, "Malformed CSV",
            f"{error.reason} (line {error.line} of the file): check for an unbalanced "
            'quote, or quote the whole field and double any " inside it')
    except RecordTooLongError as error:
        return scanner, Finding(
            Code.RECORD_TOO_LONG, name, None, None,
            f"A record starting at line {error.line} is longer than {error.limit} characters",
            "check for an unbalanced quote; no SIS field is that long")
    return scanner, None


def _start(pass_: Reading, name: str, options: ValidationOptions,
           log: FindingLog) -> tuple[RowScanner, Block] | None:
    """Identify the kind from the first row: the scanner and the rest of the first block
    (None: no header, or not a Canvas one)."""
    block = next((block for block in pass_.blocks if block.count), None)
    if block is None or pass_.source.problem is not None:
        return None
    header = [cell.strip().lower() for cell in block.rows()[0]]
    kind = identify(header)
    if kind is None:
        log.add(_unknown_header(name, header))
        return None
    _note_duplicate_columns(name, header, log)
    scanner = RowScanner(Layout.compile(kind, header), _reporter(name, log),
                         skip_deletes=options.skip_deletes, custom_roles=options.custom_roles,
                         id_rows=options.id_rows, nul_seen=lambda: pass_.source.nul_seen)
    return scanner, block.after_first()


def _reporter(name: str, log: FindingLog) -> Callable[[RowProblem, int], None]:
    def report(problem: RowProblem, row: int) -> None:
        log.add(Finding(problem.code, name, row, problem.column, problem.message, problem.fix))
    return report


def _unknown_header(name: str, header: list[str]) -> Finding:
    nearest = nearest_kind(header)
    if any("\0" in column for column in header):
        fix = "the header holds NUL characters: the file looks like a UTF-16 export; " \
              "save it as UTF-8 CSV"
    elif nearest is None:
        fix = ("the first row must name the columns of a Canvas SIS file; Canvas knows these "
               f"kinds and needs these columns: {known_headers()}")
    else:
        guess, missing_columns = nearest
        fix = (f"the nearest kind is {guess.value}, which also needs "
               f"{'the column' if len(missing_columns) == 1 else 'the columns'}: "
               f"{', '.join(missing_columns)}; the first row must name the columns")
    return Finding(Code.UNKNOWN_HEADER, name, 1, None,
                   "Couldn't find Canvas CSV import headers", fix)


def _note_duplicate_columns(name: str, header: list[str], log: FindingLog) -> None:
    seen: set[str] = set()
    for column in header:
        if column and column in seen:
            log.add(Finding(Code.DUPLICATE_COLUMN, name, 1, column,
                            f"Column {column} appears more than once; Canvas reads the first",
                            "remove the extra column"))
        seen.add(column)


def _header_only(name: str, kind: SisKind) -> Finding:
    return Finding(Code.HEADER_ONLY, name, None, None,
                   f"The {kind.value} file has a header but no rows",
                   "Canvas still counts it as supplied: in batch mode an empty courses, "
                   "sections or enrollments file deletes them all from the term")


def _byte_verdict(name: str, problem: ByteProblem, options: ValidationOptions) -> FileVerdict:
    finding = Finding(problem.code, name, None, None,
                      f"Invalid UTF-8 (line {problem.line}, byte offset {problem.offset}: "
                      f"{problem.detail})", "save the export as UTF-8")
    return FileVerdict.of(name, None, None, _only(finding, options))


def _empty(name: str) -> Finding:
    return Finding(Code.EMPTY_FILE, name, None, None,
                   "The file is empty (no header row); Canvas would ignore it",
                   "upload the full export; the first line must name the columns")
