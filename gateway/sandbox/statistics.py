"""`data.statistics` of a finished import: Canvas's `SisBatch#statistics` (§2.1).

Canvas counts the import's SisBatchRollBackData rows (one per object it created or whose
workflow_state it changed): `total_state_changes`, then for every type of
`SisBatchRollBackData::RESTORE_ORDER` the counts `created`, `restored`, `deleted`, plus
`concluded` for Course and Enrollment and `deactivated` for Enrollment, zero-filled
(`add_zero_stats`).

The sandbox only keeps terms, courses, sections and enrollments (sisobjects.py), so only
EnrollmentTerm, Course, CourseSection and Enrollment can have non-zero counts; every other
type (users, logins, accounts, groups, admins, ...) stays 0, and so does its share of
`total_state_changes`.  A `Changes` counter maps `"<Type>.<count>"` to a number.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

Changes = Counter[str]

RESTORE_ORDER = (
    "Account",
    "EnrollmentTerm",
    "AbstractCourse",
    "Course",
    "CourseSection",
    "GroupCategory",
    "Group",
    "Pseudonym",
    "CommunicationChannel",
    "Enrollment",
    "GroupMembership",
    "UserObserver",
    "AccountUser",
)
_CONCLUDABLE = frozenset({"Course", "Enrollment"})


def change_key(model: str, count: str) -> str:
    """The Changes key of one count, e.g. `Course.created`."""
    return f"{model}.{count}"


def _counts_of(model: str) -> tuple[str, ...]:
    """The counts one model has, in Canvas's insertion order."""
    names = ["created", "restored"]
    if model in _CONCLUDABLE:
        names.append("concluded")
    if model == "Enrollment":
        names.append("deactivated")
    names.append("deleted")
    return tuple(names)


def statistics_json(changes: Mapping[str, int]) -> dict[str, Any]:
    """The `statistics` hash for these changes; every model present, zero-filled."""
    stats: dict[str, Any] = {"total_state_changes": sum(changes.values())}
    for model in RESTORE_ORDER:
        stats[model] = {name: changes.get(change_key(model, name), 0) for name in _counts_of(model)}
    return stats
