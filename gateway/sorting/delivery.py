"""Planning a delivery (pure): which uploads form which batches, and what happens to each.

Input: an institution's pending uploads in arrival order, each with its validation verdict
(and the intake's refusals).  Output: the batches to create, each with a decision per upload
(accepted or rejected, with the problem in words), the findings to store, the batch's import
options and its row counts per kind.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from gateway.sorting.config import SortingOptions
from gateway.sorting.options import canvas_options
from gateway.sorting.validation import (
    BlockingPolicy,
    FileVerdict,
    UploadVerdict,
    ZipVerdict,
    check_batch,
    csv_verdicts,
)
from gateway.state.records import FindingRecord, UploadRecord

ZIP_KIND = "zip"


@dataclass
class Decision:
    """What becomes of one upload in its batch."""

    accepted: bool
    kind: str | None
    rows: int | None
    problem: str | None = None
    findings: list[FindingRecord] = field(default_factory=list)
    code: str | None = None
    """Why it was rejected, as a metric label: the blocking finding's code, or "refused",
    "no_csv", "replaced", "same_kind"."""


@dataclass
class PlannedBatch:
    """One batch to create: its uploads in order, their decisions, options and row counts."""

    uploads: list[UploadRecord]
    decisions: dict[int, Decision]
    options: dict[str, str]
    row_counts: dict[str, int]


def plan_delivery(pending: Sequence[UploadRecord], verdicts: Mapping[int, UploadVerdict],
                  refused: Mapping[int, str], sorting: SortingOptions) -> list[PlannedBatch]:
    """Split a delivery into batches and decide every upload (see the module docstring)."""
    policy = sorting.policy()
    batches = []
    for group in _groups(pending, verdicts):
        decisions = {u.id: _decide(verdicts[u.id], refused.get(u.id), policy) for u in group}
        # Same-kind first: a file the rule drops must not satisfy (or trip) cross-file checks.
        _same_kind(group, decisions, sorting.same_kind)
        _check_batch(group, verdicts, decisions, policy)
        batches.append(PlannedBatch(
            uploads=list(group), decisions=decisions,
            options=canvas_options(sorting.imports, group[0].folder),
            row_counts=_row_counts(group, verdicts, decisions)))
    return batches


def _groups(pending: Sequence[UploadRecord],
            verdicts: Mapping[int, UploadVerdict]) -> list[list[UploadRecord]]:
    """Arrival order kept; a new batch at every zip (alone) and every change of folder."""
    groups: list[list[UploadRecord]] = []
    for upload in pending:
        is_zip = isinstance(verdicts[upload.id], ZipVerdict)
        last = groups[-1] if groups else None
        if is_zip or last is None or last[0].folder != upload.folder or \
                isinstance(verdicts[last[0].id], ZipVerdict):
            groups.append([upload])
        else:
            last.append(upload)
    return groups


NO_CSV_IN_ZIP = ("the zip holds no CSV file Canvas would import (only folders, dotfiles, "
                 "__MACOSX or other files): put the CSV files in it and upload it again")


def _decide(verdict: UploadVerdict, refusal: str | None, policy: BlockingPolicy) -> Decision:
    kind, rows = _kind_and_rows(verdict)
    findings = verdict.records(policy)
    if refusal is not None:
        return Decision(False, kind, rows, refusal, findings, "refused")
    if verdict.blocked(policy):
        first = next((f for f in findings if f.blocking), None)
        problem = _describe(first) if first else "a finding blocks this file"
        return Decision(False, kind, rows, problem, findings, _blocking_code(verdict, policy))
    if isinstance(verdict, ZipVerdict) and not verdict.members:
        # Canvas would import nothing and show no file: never post it (nor report it
        # "imported" with every count 0).
        return Decision(False, kind, rows, NO_CSV_IN_ZIP, findings, "no_csv")
    return Decision(True, kind, rows, None, findings)


def _blocking_code(verdict: UploadVerdict, policy: BlockingPolicy) -> str:
    """The code of the first finding that blocks ``verdict`` (the zip's own, then its CSVs')."""
    own = verdict.findings if isinstance(verdict, ZipVerdict) else ()
    codes = [f.code for f in own if policy.blocks(f)] + [
        code for member in csv_verdicts(verdict) for code, count in member.counts.items()
        if count and policy.blocks_any({code: count})]
    return codes[0].value if codes else "blocked"


def _kind_and_rows(verdict: UploadVerdict) -> tuple[str | None, int | None]:
    if isinstance(verdict, ZipVerdict):
        return ZIP_KIND, sum(m.rows or 0 for m in verdict.members)
    return (verdict.kind.value if verdict.kind else None), verdict.rows


def _describe(finding: FindingRecord) -> str:
    where = ", ".join(part for part in (
        f"row {finding.row}" if finding.row is not None else "",
        f"column {finding.column}" if finding.column else "") if part)
    return f"{finding.file}{', ' + where if where else ''}: {finding.message} " \
           f"(fix: {finding.fix})"


def _check_batch(group: Sequence[UploadRecord], verdicts: Mapping[int, UploadVerdict],
                 decisions: dict[int, Decision], policy: BlockingPolicy) -> None:
    """Cross-file findings (repeated ids, references the batch lacks) of the accepted CSVs;
    recorded on the upload they name, which they reject only if the policy says so."""
    accepted = [u for u in group if decisions[u.id].accepted]
    members: list[tuple[UploadRecord, FileVerdict]] = [
        (u, member) for u in accepted for member in csv_verdicts(verdicts[u.id])]
    owner = {member.name: upload for upload, member in members}
    for finding in check_batch([member for _, member in members]):
        upload = owner.get(finding.file, accepted[0] if accepted else None)
        if upload is None:
            continue
        record = policy.record(finding)
        decision = decisions[upload.id]
        decision.findings.append(record)
        if record.blocking and decision.accepted:
            decision.accepted, decision.problem = False, _describe(record)
            decision.code = finding.code.value


REPLACED_BY = "replaced by the later"
"""How a replaced file's problem reads (after its name): reports tell it from a rejection,
as a replaced file must not be uploaded again."""


def _same_kind(group: Sequence[UploadRecord], decisions: dict[int, Decision],
               rule: str) -> None:
    """Two CSVs of one kind: merged at zip time (default), the later replaces, or both out."""
    by_kind: dict[str, list[UploadRecord]] = defaultdict(list)
    for upload in group:
        decision = decisions[upload.id]
        if decision.accepted and decision.kind not in (None, ZIP_KIND):
            by_kind[str(decision.kind)].append(upload)
    for kind, uploads in by_kind.items():
        if len(uploads) < 2 or rule == "merge":
            continue
        names = ", ".join(u.filename for u in uploads)
        if rule == "replace":
            for upload in uploads[:-1]:
                decisions[upload.id].accepted, decisions[upload.id].code = False, "replaced"
                decisions[upload.id].problem = (
                    f"{upload.filename}: {REPLACED_BY} {uploads[-1].filename} "
                    f"(two {kind} files in one delivery; this institution keeps the last)")
        else:
            for upload in uploads:
                decisions[upload.id].accepted, decisions[upload.id].code = False, "same_kind"
                decisions[upload.id].problem = (
                    f"{upload.filename}: several {kind} files in one delivery ({names}); "
                    "this institution accepts one per kind. Combine them and upload again")


def _row_counts(group: Sequence[UploadRecord], verdicts: Mapping[int, UploadVerdict],
                decisions: Mapping[int, Decision]) -> dict[str, int]:
    """Data rows per Canvas kind over the accepted files (zip members included)."""
    counts: dict[str, int] = defaultdict(int)
    for upload in group:
        if not decisions[upload.id].accepted:
            continue
        for member in csv_verdicts(verdicts[upload.id]):
            if member.kind is not None:
                counts[member.kind.value] += member.rows or 0
    return dict(counts)
