"""Checks across the files of one batch: repeated ids between files, dangling references.

Canvas has no duplicate detection (the later row wins) and resolves references against what
it already has, so everything here is a warning.  A reference is only questioned when the
batch supplies files of the kind it points at (an enrollments-only delivery refers to users
Canvas has; a batch with a users file that lacks an enrolled user is probably incomplete).
Examples are named with their rows by reading the file again, only when there are some.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence

from gateway.sorting.validation.digests import DigestSet
from gateway.sorting.validation.findings import Code, Finding
from gateway.sorting.validation.idcheck import FileIds, TrackedIds
from gateway.sorting.validation.rulebook import IdSpace
from gateway.sorting.validation.scan import key_digest
from gateway.sorting.validation.verdicts import FileVerdict

EXAMPLES = 10  # rows named per file and column; the rest are counted
Digest = Callable[[tuple[str, ...]], int | None]


def check_batch(files: Sequence[FileVerdict], examples: int = EXAMPLES) -> list[Finding]:
    """Batch-level warnings for the validated files of one batch (in arrival order)."""
    tracked = [verdict.ids for verdict in files if verdict.ids is not None]
    findings = _repeated_between_files(tracked, examples)
    findings += _dangling_references(tracked, examples)
    return findings


def _repeated_between_files(files: list[FileIds], examples: int) -> list[Finding]:
    findings: list[Finding] = []
    for index, later in enumerate(files):
        mine = later.identities()
        if mine is None:
            continue
        for earlier in files[:index]:
            theirs = earlier.identities() if earlier.kind is later.kind else None
            common = mine.common_with(theirs) if theirs is not None else set()
            if common:
                findings += _name_rows(
                    later, _identity_digest(later), common, examples=examples,
                    tail=f"is also in {earlier.name}; Canvas applies both, {later.name} last",
                    fix=f"send each {later.kind.value} once per batch", code=Code.DUPLICATE_ID)
    return findings


def _identity_digest(ids: FileIds) -> Digest:
    if ids.key is not None:
        return lambda values: key_digest(ids.layout.key_of(values))
    defined = ids.defined()
    assert defined is not None
    return defined.digest


def _dangling_references(files: list[FileIds], examples: int) -> list[Finding]:
    supplied: dict[IdSpace, list[DigestSet]] = defaultdict(list)
    for ids in files:
        defined = ids.defined()
        if defined is not None:
            supplied[defined.space].append(defined.digests)
    findings: list[Finding] = []
    for ids in files:
        for reference in ids.references():
            if reference.space not in supplied:
                continue  # the batch has no such file: Canvas is expected to have them
            missing = reference.digests.missing_from(supplied[reference.space])
            if missing:
                findings += _name_rows(
                    ids, reference.digest, missing, examples=examples,
                    tail=f"is in none of this batch's {reference.space.value} files",
                    fix=f"add it to the {reference.space.value} file, or make sure Canvas "
                        "already has it", code=Code.UNKNOWN_REFERENCE, column=reference)
    return findings


def _name_rows(ids: FileIds, digest: Digest, wanted: set[int], *, examples: int,
               tail: str, fix: str, code: Code,
               column: TrackedIds | None = None) -> list[Finding]:
    """Findings for the first ``examples`` rows whose digest is wanted, then a count."""
    findings: list[Finding] = []
    seen: set[int] = set()
    for row, values in ids.rows():
        found = digest(values)
        if found is None or found not in wanted or found in seen:
            continue
        seen.add(found)
        findings.append(Finding(code, ids.name, row, _column(ids, column),
                                f"{_describe(ids, values, column)} {tail}", fix))
        if len(findings) >= examples:
            break
    rest = len(wanted) - len(findings)
    if rest > 0:
        findings.append(Finding(code, ids.name, None, _column(ids, column),
                                f"{rest} more like this: each {tail}", fix))
    return findings


def _column(ids: FileIds, column: TrackedIds | None) -> str:
    if column is not None:
        return column.column
    defined = ids.defined()
    if ids.key is None and defined is not None:
        return defined.column
    return ids.layout.needed[ids.layout.key_positions[0]]


def _describe(ids: FileIds, values: tuple[str, ...], column: TrackedIds | None) -> str:
    if column is None and ids.key is not None:
        return "row " + ", ".join(_named(ids, values, ids.layout.key_positions))
    tracked = column or ids.defined()
    assert tracked is not None
    return f"{tracked.column} {values[tracked.position].strip()}"


def _named(ids: FileIds, values: tuple[str, ...], positions: Iterable[int]) -> list[str]:
    return [f"{ids.layout.needed[p]} {values[p].strip()}" for p in positions
            if values[p].strip()]
