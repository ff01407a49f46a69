"""Row rules for groups, differentiation tags and grade publishing results (reference §4.4).

Sources: `lib/sis/group_category_importer.rb`, `group_importer.rb`,
`group_membership_importer.rb` (differentiation tags go through the same three:
`add_differentiation_tag_set`, `add_tag`, `add_group_membership(is_tags: true)`) and
`grade_publishing_results_importer.rb`.  Every status is required: Canvas matches a blank one
against its pattern and skips the row.
"""

from __future__ import annotations

from gateway.sorting.validation.findings import Code
from gateway.sorting.validation.rules import (
    RowProblem,
    RowResult,
    RowRule,
    Values,
    Verdict,
    after_checks,
    improper_status,
    invalid,
    link_rule,
    missing,
    prefix,
)

_ACTIVE_OR_DELETED = prefix("active", "deleted")
_GROUP_STATUS = prefix("available", "closed", "completed", "deleted")
_MEMBER_STATUS = prefix("accepted", "deleted")
_GRADE_PUBLISHING = frozenset({"published", "error"})


def check_group_category(values: Values, skip_deletes: bool) -> RowResult:
    """group_categories.csv (`SIS::GroupCategoryImporter#add_group_category`)."""
    category_id, name, status, course_id, account_id = (v.strip() for v in values)
    if not category_id:
        return missing("group_category_id", "No sis_id given for a group category")
    if not name:
        return missing("category_name", f"No name given for group category {category_id}")
    if not status:
        return missing("status", f"No status given for group category {category_id}")
    if not _ACTIVE_OR_DELETED.match(status):
        return improper_status(
            f'Improper status "{status}" for group category {category_id}, skipping',
            "active or deleted")
    verdict = after_checks(status, skip_deletes)
    if verdict is Verdict.SKIP:
        return verdict
    if course_id and account_id:
        return RowProblem(
            Code.CONFLICTING_VALUES,
            "Only one context is allowed and both course_id and account_id where provided "
            f"for group category {category_id}.", "account_id",
            "give course_id or account_id, not both")
    return verdict


GROUP_CATEGORY = RowRule(("group_category_id", "category_name", "status", "course_id",
                          "account_id"), check_group_category)


def check_group(values: Values, skip_deletes: bool) -> RowResult:
    """groups.csv (`SIS::GroupImporter#add_group`); name and status matter for new groups."""
    group_id = values[0].strip()
    if not group_id:
        return missing("group_id", "No group_id given for a group.")
    if not values[1].strip():
        return missing("name", f"No name given for group {group_id}.")
    status = values[2].strip()
    if not _GROUP_STATUS.match(status):
        return improper_status(f'Improper status "{status}" for group {group_id}.',
                               "available or deleted")
    verdict = after_checks(status, skip_deletes)
    if verdict is Verdict.IMPORT and values[3].strip() and values[4].strip():
        return RowProblem(
            Code.CONFLICTING_VALUES,
            "Only one context is allowed and both course_id and account_id where provided "
            f"for group {group_id}.", "account_id", "give course_id or account_id, not both")
    return verdict


GROUP = RowRule(("group_id", "name", "status", "course_id", "account_id"), check_group)


GROUP_MEMBERSHIP = link_rule(("group_id", "user_id"), "a group user", _MEMBER_STATUS,
                             "accepted or deleted")


def check_tag_set(values: Values, skip_deletes: bool) -> RowResult:
    """differentiation_tag_sets.csv (`SIS::GroupCategoryImporter#add_differentiation_tag_set`:
    `invalid_category?` first, then the course)."""
    set_id, name, course_id, status = (v.strip() for v in values[:4])
    if not set_id:
        return missing("tag_set_id", "No sis_id given for a differentiation tag set")
    if not name:
        return missing("set_name", f"No name given for differentiation tag set {set_id}")
    if not status:
        return missing("status", f"No status given for differentiation tag set {set_id}")
    if not _ACTIVE_OR_DELETED.match(status):
        return improper_status(
            f'Improper status "{status}" for differentiation tag set {set_id}, skipping',
            "active or deleted")
    if after_checks(status, skip_deletes) is Verdict.SKIP:
        return Verdict.SKIP
    if not course_id:
        return missing("course_id", f"No course_id given for differentiation tag set {set_id}")
    return Verdict.IMPORT


DIFFERENTIATION_TAG_SET = RowRule(("tag_set_id", "set_name", "course_id", "status"),
                                  check_tag_set)


def check_tag(values: Values, skip_deletes: bool) -> RowResult:
    """differentiation_tags.csv (`SIS::GroupImporter#add_tag`, `invalid_import_item?`: the
    statuses of groups)."""
    tag_id, name, status = (v.strip() for v in values[:3])  # references follow
    if not tag_id:
        return missing("tag_id", "No tag_id given for a differentiation tag.")
    if not name:
        return missing("name", f"No name given for differentiation tag {tag_id}.")
    if not _GROUP_STATUS.match(status):
        return improper_status(f'Improper status "{status}" for differentiation tag {tag_id}.',
                               "available, closed, completed or deleted")
    return after_checks(status, skip_deletes)


DIFFERENTIATION_TAG = RowRule(("tag_id", "name", "status"), check_tag)


DIFFERENTIATION_TAG_MEMBERSHIP = link_rule(
    ("tag_id", "user_id"), "a differentiation tag user", _MEMBER_STATUS, "accepted or deleted")


def check_grade_publishing_result(values: Values, skip_deletes: bool) -> RowResult:
    """grade_publishing_results.csv
    (`SIS::GradePublishingResultsImporter#add_grade_publishing_result`)."""
    enrollment_id, status = (v.strip() for v in values)
    if not enrollment_id:
        return missing("enrollment_id", "No enrollment_id given")
    if not status:
        return missing("grade_publishing_status",
                       f"No grade_publishing_status given for enrollment {enrollment_id}")
    if status.lower() not in _GRADE_PUBLISHING:
        return invalid("grade_publishing_status",
                       f'Improper grade_publishing_status "{status}" for enrollment '
                       f"{enrollment_id}", "published or error")
    return after_checks("", skip_deletes)


GRADE_PUBLISHING_RESULTS = RowRule(("enrollment_id", "grade_publishing_status"),
                                   check_grade_publishing_result)
