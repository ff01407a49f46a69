"""Row rules for groups, differentiation tags and grade publishing results (reference §4.4).

Sources: `lib/sis/group_category_importer.rb`, `group_importer.rb`,
`group_membership_importer.rb`, and the differentiation-tag importer specs.  Gateway wording
(Canvas's text was not found): grade publishing results.  Differentiation tags' status is optional.
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
    link_rule,
    missing,
    prefix,
)

_ACTIVE_OR_DELETED = prefix("active", "deleted")
_GROUP_STATUS = prefix("available", "closed", "completed", "deleted")
_MEMBER_STATUS = prefix("accepted", "deleted")
_TAG_STATUS = prefix("available", "deleted")


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
    """differentiation_tag_sets.csv (Canvas's differentiation tag set importer)."""
    set_id, name, course_id, status = (v.strip() for v in values)
    if not set_id:
        return missing("tag_set_id", "No sis_id given for a differentiation tag set")
    if not name:
        return missing("set_name", f"No name given for differentiation tag set {set_id}")
    if not course_id:
        return missing("course_id", f"No course_id given for differentiation tag set {set_id}")
    if status and not _ACTIVE_OR_DELETED.match(status):
        return improper_status(
            f'Improper status "{status}" for differentiation tag set {set_id}, skipping',
            "active or deleted")
    return after_checks(status, skip_deletes)


DIFFERENTIATION_TAG_SET = RowRule(("tag_set_id", "set_name", "course_id", "status"),
                                  check_tag_set)


def check_tag(values: Values, skip_deletes: bool) -> RowResult:
    """differentiation_tags.csv (Canvas's differentiation tag importer)."""
    tag_id, name, status = (v.strip() for v in values)
    if not tag_id:
        return missing("tag_id", "No tag_id given for a differentiation tag.")
    if not name:
        return missing("name", f"No name given for differentiation tag {tag_id}.")
    if status and not _TAG_STATUS.match(status):
        return improper_status(f'Improper status "{status}" for differentiation tag {tag_id}.',
                               "available or deleted")
    return after_checks(status, skip_deletes)


DIFFERENTIATION_TAG = RowRule(("tag_id", "name", "status"), check_tag)


DIFFERENTIATION_TAG_MEMBERSHIP = link_rule(
    ("tag_id", "user_id"), "a differentiation tag user", _MEMBER_STATUS, "accepted or deleted",
    status_optional=True)


def check_grade_publishing_result(values: Values, skip_deletes: bool) -> RowResult:
    """grade_publishing_results.csv (gateway wording: both values are needed)."""
    if not values[0].strip():
        return missing("enrollment_id", "No enrollment_id given for a grade publishing result")
    if not values[1].strip():
        return missing("grade_publishing_status",
                       "No grade_publishing_status given for a grade publishing result")
    return after_checks("", skip_deletes)


GRADE_PUBLISHING_RESULTS = RowRule(("enrollment_id", "grade_publishing_status"),
                                   check_grade_publishing_result)
