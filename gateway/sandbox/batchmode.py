"""Full and multi-term batch mode: what Canvas deletes after an import (§5).

Mirrors `SisBatch#remove_previous_imports`:

1. No cleanup when the import already failed (it would end `failed_with_messages`): Canvas
   refuses to clean up after a batch that did not work out.
2. No cleanup without a term (or multi-term mode), or when none of courses, sections,
   enrollments was supplied (a header-only file counts as supplied).
3. Multi-term: the terms are those this import's terms.csv wrote; none → `aborted` with
   `Terms not found. Terms must be included with multi_term_batch_mode` (before
   `cleanup_batch`).
4. State `cleanup_batch`; for each supplied type, in the order courses, sections,
   enrollments: `would_delete / all_in_term * 100 > change_threshold` → `aborted`, nothing
   deleted, message `<n> <type> would be deleted and exceeds the set threshold of <t>%`
   (equality does not abort).  The message is recorded as a warning, as Canvas does.
5. Otherwise delete enrollments, then sections, then courses of the terms that this import
   did not touch, and count them as `batch_enrollments_deleted` etc.
   `batch_mode_enrollment_drop_status` completed/inactive changes enrollments instead;
   `deleted_last_completed` makes Canvas raise NotImplementedError, which no rescue
   catches (it is not a StandardError): the job dies.  An inline import is then finished
   as failed by the job's permanent-failure hook (`End.JOB_FAILED`); a parallel one, whose
   cleanup runs in its own job without such a hook, stays `cleanup_batch` (processor.py).
6. The deletions are state changes for `data.statistics` (deleted, or concluded /
   deactivated for the drop statuses).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

from gateway.sandbox.errorfile import SisError
from gateway.sandbox.records import End, ImportOptions, Outcome
from gateway.sandbox.sisobjects import CLEANUP_KINDS, SisObjects
from gateway.sorting.kinds import SisKind

NO_TERMS = "Terms not found. Terms must be included with multi_term_batch_mode"
_NOUNS = {SisKind.COURSE: "courses", SisKind.SECTION: "sections", SisKind.ENROLLMENT: "enrollments"}
_DROP_IMPLEMENTED = frozenset({"deleted", "completed", "inactive"})


@dataclass(frozen=True)
class Deletion:
    """The objects of one kind batch mode removes, and the count key it reports."""

    kind: SisKind
    keys: tuple[str, ...]

    @property
    def count_key(self) -> str:
        return f"batch_{_NOUNS[self.kind]}_deleted"


@dataclass(frozen=True)
class Cleanup:
    """The cleanup decided for one import.

    `enters_cleanup`: Canvas shows `cleanup_batch` while it runs.  Exactly one of
    `abort_message` (ends `aborted`), `crash` (ends `failed`) or `deletions` applies.
    """

    enters_cleanup: bool
    abort_message: str | None = None
    crash: str | None = None
    deletions: tuple[Deletion, ...] = ()


def plan_cleanup(
    import_id: int, options: ImportOptions, outcome: Outcome, objects: SisObjects
) -> Cleanup | None:
    """Decide batch mode's cleanup for an import whose rows are already applied; None when
    there is none.  Reads `objects`, changes nothing."""
    if not options.batch_mode or outcome.errors:
        return None
    supplied = [kind for kind in CLEANUP_KINDS if str(kind) in outcome.supplied_batches]
    if not supplied:
        return None
    if options.multi_term_batch_mode:
        terms = objects.terms_touched_by(import_id)
        if not terms:
            return Cleanup(enters_cleanup=False, abort_message=NO_TERMS)
    elif options.batch_mode_term_id is not None:
        terms = frozenset({options.batch_mode_term_id})
    else:
        return None  # batch mode without a term (multi_term_batch_mode=false) deletes nothing
    return _plan_for_terms(import_id, options, supplied, terms, objects)


def _plan_for_terms(
    import_id: int,
    options: ImportOptions,
    supplied: list[SisKind],
    terms: frozenset[int],
    objects: SisObjects,
) -> Cleanup:
    drop_status = options.batch_mode_enrollment_drop_status
    deletions: list[Deletion] = []
    for kind in supplied:  # courses, sections, enrollments: Canvas's detect_changes order
        in_term = objects.in_terms(kind, terms, drop_status if kind is SisKind.ENROLLMENT else None)
        untouched = tuple(sorted(k for k, v in in_term.items() if v.batch_id != import_id))
        threshold = options.change_threshold
        if threshold is not None and in_term and len(untouched) / len(in_term) * 100 > threshold:
            message = (
                f"{len(untouched)} {_NOUNS[kind]} would be deleted and exceeds the set "
                f"threshold of {threshold}%"
            )
            return Cleanup(enters_cleanup=True, abort_message=message)
        deletions.append(Deletion(kind, untouched))
    enrollments = next((d for d in deletions if d.kind is SisKind.ENROLLMENT), None)
    if enrollments and enrollments.keys and (drop_status or "deleted") not in _DROP_IMPLEMENTED:
        return Cleanup(enters_cleanup=True, crash="NotImplementedError")
    # Canvas removes enrollments first, then sections, then courses.
    return Cleanup(enters_cleanup=True, deletions=tuple(reversed(deletions)))


def apply_cleanup(
    cleanup: Cleanup, options: ImportOptions, outcome: Outcome, objects: SisObjects
) -> Outcome:
    """Carry out the cleanup on `objects` and return the import's final outcome."""
    if cleanup.abort_message is not None:
        aborted = outcome.with_problem(SisError(None, cleanup.abort_message))
        return replace(aborted, end=End.ABORTED)
    if cleanup.crash is not None:
        return replace(outcome, end=End.JOB_FAILED)
    counts = dict(outcome.counts)
    changes = Counter(outcome.changes)
    drop_status = options.batch_mode_enrollment_drop_status or "deleted"
    for deletion in cleanup.deletions:
        changes.update(objects.remove(deletion.kind, deletion.keys, drop_status))
        counts[deletion.count_key] = len(deletion.keys)
    return replace(outcome, counts=counts, changes=dict(changes))
