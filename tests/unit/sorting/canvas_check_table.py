"""Canvas's row checks, one case each, as canvas-lms raises them (``SIS::*Importer``): the
file, its header, one row, and the messages the gateway must give (none: Canvas imports the
row).  Used by test_canvas_checks.py; the README's table names each case id."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CanvasCheck:
    """One audited check: ``case`` names what Canvas does."""

    case: str
    source: str
    file: str
    header: str
    row: str
    expected: tuple[tuple[str, str], ...]
    """(column, message) of each finding on row 2; empty when Canvas imports the row."""


def _case(case: str, source: str, file: str, header: str, row: str,
          *expected: tuple[str, str]) -> CanvasCheck:
    return CanvasCheck(case, source, file, header, row, expected)


ACCOUNTS = ("lib/sis/account_importer.rb", "accounts.csv",
            "account_id,parent_account_id,name,status")
TERMS = ("lib/sis/term_importer.rb", "terms.csv",
         "term_id,name,status,start_date,end_date,date_override_enrollment_type")
ABSTRACT = ("lib/sis/abstract_course_importer.rb", "abstract_courses.csv",
            "abstract_course_id,short_name,long_name,account_id,term_id,status")
SECTIONS = ("lib/sis/section_importer.rb", "sections.csv", "section_id,course_id,name,status")
XLISTS = ("lib/sis/xlist_importer.rb", "xlists.csv", "xlist_course_id,section_id,status")
CATEGORIES = ("lib/sis/group_category_importer.rb", "group_categories.csv",
              "group_category_id,category_name,status,course_id,account_id")
GROUPS = ("lib/sis/group_importer.rb", "groups.csv", "group_id,name,status,course_id,account_id")
MEMBERS = ("lib/sis/group_membership_importer.rb", "group_users.csv", "group_id,user_id,status")
TAG_SETS = ("lib/sis/group_category_importer.rb", "tag_sets.csv",
            "tag_set_id,course_id,set_name,status")
TAGS = ("lib/sis/group_importer.rb", "tags.csv", "tag_id,tag_set_id,course_id,name,status")
TAG_USERS = ("lib/sis/group_membership_importer.rb", "tag_users.csv", "tag_id,user_id,status")
GRADES = ("lib/sis/grade_publishing_results_importer.rb", "grade_publishing_results.csv",
          "enrollment_id,grade_publishing_status")
COURSES = ("lib/sis/course_importer.rb", "courses.csv",
           "course_id,short_name,long_name,status,abstract_course_id,course_format,"
           "grade_passback_setting")
USERS = ("lib/sis/user_importer.rb", "users.csv",
         "user_id,login_id,status,declared_user_type,email")
LOGINS = ("lib/sis/csv/login_importer.rb", "logins.csv", "user_id,login_id,existing_user_id,status")
ENROLLMENTS = ("lib/sis/enrollment_importer.rb", "enrollments.csv",
               "course_id,section_id,user_id,role,status")
ADMINS = ("lib/sis/admin_importer.rb", "admins.csv", "user_id,account_id,role,status")
OBSERVERS = ("lib/sis/user_observer_importer.rb", "user_observers.csv",
             "observer_id,student_id,status")
CHANGES = ("lib/sis/change_sis_id_importer.rb", "change_sis_id.csv",
           "old_id,new_id,old_integration_id,new_integration_id,type")

CHECKS: tuple[CanvasCheck, ...] = (
    _case("account_without_account_id_is_skipped", *ACCOUNTS, ",,Math,active",
          ("account_id", "No account_id given for an account")),
    _case("new_account_without_name_is_skipped", *ACCOUNTS, "A1,,,active",
          ("name", "No name given for account A1, skipping")),
    _case("new_account_with_improper_status_is_skipped", *ACCOUNTS, "A1,,Math,gone",
          ("status", 'Improper status "gone" for account A1, skipping')),
    _case("account_status_matches_by_prefix_in_any_case", *ACCOUNTS, "A1,,Math,DELETED_X"),
    _case("term_without_term_id_is_skipped", *TERMS, ",Fall,active,,,",
          ("term_id", "No term_id given for a term")),
    _case("term_status_is_checked_before_its_name", *TERMS, "T1,,gone,,,",
          ("status", 'Improper status "gone" for term T1')),
    _case("term_without_name_is_skipped", *TERMS, "T1,,active,,,",
          ("name", "No name given for term T1")),
    _case("term_date_override_type_is_case_sensitive", *TERMS,
          "T1,,active,,,studentenrollment",
          ("date_override_enrollment_type", "Invalid date_override_enrollment_type")),
    _case("term_date_override_row_needs_no_name", *TERMS, "T1,,active,,,StudentEnrollment"),
    _case("abstract_course_without_id_is_skipped", *ABSTRACT, ",S,Long,,,active",
          ("abstract_course_id", "No abstract_course_id given for an abstract course")),
    _case("abstract_course_without_short_name_is_skipped", *ABSTRACT, "AC1,,Long,,,active",
          ("short_name", "No short_name given for abstract course AC1")),
    _case("abstract_course_without_long_name_is_skipped", *ABSTRACT, "AC1,S,,,,active",
          ("long_name", "No long_name given for abstract course AC1")),
    _case("abstract_course_with_improper_status_is_skipped", *ABSTRACT, "AC1,S,L,,,gone",
          ("status", 'Improper status "gone" for abstract course AC1')),
    _case("section_without_section_id_is_skipped", *SECTIONS, ",C1,S,active",
          ("section_id", "No section_id given for a section in course C1")),
    _case("section_without_course_id_is_skipped", *SECTIONS, "S1,,S,active",
          ("course_id", "No course_id given for a section S1")),
    _case("active_section_without_name_is_skipped", *SECTIONS, "S1,C1,,active",
          ("name", "No name given for section S1 in course C1")),
    _case("deleted_section_needs_no_name", *SECTIONS, "S1,C1,,deleted"),
    _case("section_with_improper_status_is_skipped", *SECTIONS, "S1,C1,S,gone",
          ("status", 'Improper status "gone" for section S1 in course C1')),
    _case("crosslisting_without_xlist_course_id_is_skipped", *XLISTS, ",S1,active",
          ("xlist_course_id", "No xlist_course_id given for a cross-listing")),
    _case("crosslisting_without_section_id_is_skipped", *XLISTS, "X1,,active",
          ("section_id", "No section_id given for a cross-listing")),
    _case("crosslisting_status_must_be_whole_word", *XLISTS, "X1,S1,activeX",
          ("status", 'Improper status "activeX" for a cross-listing')),
    _case("crosslisting_status_is_case_insensitive", *XLISTS, "X1,S1,ACTIVE"),
    _case("change_sis_id_without_type_is_skipped", *CHANGES, "a,b,,,",
          ("type", "No type given for change_sis_id")),
    _case("change_sis_id_without_old_ids_is_skipped", *CHANGES, ",b,,,user",
          ("old_id", "No old_id or old_integration_id given for change_sis_id")),
    _case("change_sis_id_without_new_ids_is_skipped", *CHANGES, "a,,,,user",
          ("new_id", "No new_id or new_integration_id given for change_sis_id")),
    _case("change_sis_id_with_unknown_type_is_skipped", *CHANGES, "a,b,,,person",
          ("type", "Invalid type 'person' for change_sis_id")),
    _case("change_sis_id_type_is_case_insensitive", *CHANGES, "a,b,,,USER"),
    _case("group_category_ids_change_without_integration_ids", *CHANGES,
          "a,b,,ib,group_category",
          ("old_integration_id", "Group categories should not have integration IDs.")),
    _case("group_category_without_id_is_skipped", *CATEGORIES, ",Cat,active,,",
          ("group_category_id", "No sis_id given for a group category")),
    _case("group_category_without_name_is_skipped", *CATEGORIES, "GC1,,active,,",
          ("category_name", "No name given for group category GC1")),
    _case("group_category_without_status_is_skipped", *CATEGORIES, "GC1,Cat,,,",
          ("status", "No status given for group category GC1")),
    _case("group_category_with_improper_status_is_skipped", *CATEGORIES, "GC1,Cat,open,,",
          ("status", 'Improper status "open" for group category GC1, skipping')),
    _case("group_category_in_course_and_account_is_skipped", *CATEGORIES, "GC1,Cat,active,C1,A1",
          ("account_id", "Only one context is allowed and both course_id and account_id where "
                         "provided for group category GC1.")),
    _case("group_without_group_id_is_skipped", *GROUPS, ",G,available,,",
          ("group_id", "No group_id given for a group.")),
    _case("group_without_name_is_skipped", *GROUPS, "G1,,available,,",
          ("name", "No name given for group G1.")),
    _case("group_with_improper_status_is_skipped", *GROUPS, "G1,G,open,,",
          ("status", 'Improper status "open" for group G1.')),
    _case("group_status_closed_or_completed_is_accepted", *GROUPS, "G1,G,Completed,,"),
    _case("group_in_course_and_account_is_skipped", *GROUPS, "G1,G,available,C1,A1",
          ("account_id", "Only one context is allowed and both course_id and account_id where "
                         "provided for group G1.")),
    _case("group_user_without_group_id_is_skipped", *MEMBERS, ",U1,accepted",
          ("group_id", "No group_id given for a group user")),
    _case("group_user_without_user_id_is_skipped", *MEMBERS, "G1,,accepted",
          ("user_id", "No user_id given for a group user")),
    _case("group_user_with_improper_status_is_skipped", *MEMBERS, "G1,U1,active",
          ("status", 'Improper status "active" for a group user')),
    _case("tag_set_without_id_is_skipped", *TAG_SETS, ",C1,Set,active",
          ("tag_set_id", "No sis_id given for a differentiation tag set")),
    _case("tag_set_without_name_is_skipped", *TAG_SETS, "TS1,C1,,active",
          ("set_name", "No name given for differentiation tag set TS1")),
    _case("tag_set_without_status_is_skipped", *TAG_SETS, "TS1,C1,Set,",
          ("status", "No status given for differentiation tag set TS1")),
    _case("tag_set_status_is_checked_before_its_course", *TAG_SETS, "TS1,,Set,blerged",
          ("status", 'Improper status "blerged" for differentiation tag set TS1, skipping')),
    _case("tag_set_without_course_id_is_skipped", *TAG_SETS, "TS1,,Set,active",
          ("course_id", "No course_id given for differentiation tag set TS1")),
    _case("tag_without_tag_id_is_skipped", *TAGS, ",,C1,T,available",
          ("tag_id", "No tag_id given for a differentiation tag.")),
    _case("tag_without_name_is_skipped", *TAGS, "T1,,C1,,available",
          ("name", "No name given for differentiation tag T1.")),
    _case("tag_without_status_is_skipped", *TAGS, "T1,,C1,T,",
          ("status", 'Improper status "" for differentiation tag T1.')),
    _case("tag_status_takes_the_group_statuses", *TAGS, "T1,,C1,T,closed"),
    _case("tag_user_without_tag_id_is_skipped", *TAG_USERS, ",U1,accepted",
          ("tag_id", "No tag_id given for a differentiation tag user")),
    _case("tag_user_without_user_id_is_skipped", *TAG_USERS, "T1,,accepted",
          ("user_id", "No user_id given for a differentiation tag user")),
    _case("tag_user_without_status_is_skipped", *TAG_USERS, "T1,U1,",
          ("status", 'Improper status "" for a differentiation tag user')),
    _case("grade_result_without_enrollment_id_is_skipped", *GRADES, ",published",
          ("enrollment_id", "No enrollment_id given")),
    _case("grade_result_without_status_is_skipped", *GRADES, "1,",
          ("grade_publishing_status", "No grade_publishing_status given for enrollment 1")),
    _case("grade_result_status_is_published_or_error_any_case", *GRADES, "1,asplode",
          ("grade_publishing_status",
           'Improper grade_publishing_status "asplode" for enrollment 1')),
    _case("grade_result_status_error_in_capitals_is_accepted", *GRADES, "2,ERROR"),
    _case("course_without_course_id_is_skipped", *COURSES, ",S,L,active,,,",
          ("course_id", "No course_id given for a course")),
    _case("course_without_short_name_is_skipped", *COURSES, "C1,,L,active,,,",
          ("short_name", "No short_name given for course C1")),
    _case("course_without_long_name_is_skipped", *COURSES, "C1,S,,active,,,",
          ("long_name", "No long_name given for course C1")),
    _case("course_takes_its_names_from_an_abstract_course", *COURSES, "C1,,,active,AC1,,"),
    _case("course_with_improper_status_is_skipped", *COURSES, "C1,S,L,gone,,,",
          ("status", 'Improper status "gone" for course C1')),
    _case("course_status_published_is_accepted", *COURSES, "C1,S,L,Published,,,"),
    _case("course_with_invalid_course_format_is_skipped", *COURSES, "C1,S,L,active,,hybrid,",
          ("course_format", 'Invalid course_format "hybrid" for course C1')),
    _case("course_format_matches_by_prefix_in_any_case", *COURSES, "C1,S,L,active,,Online,"),
    _case("course_with_invalid_grade_passback_setting_is_skipped", *COURSES,
          "C1,S,L,active,,,weekly",
          ("grade_passback_setting", 'Invalid grade_passback_setting "weekly" for course C1')),
    _case("course_grade_passback_setting_in_any_case_is_accepted", *COURSES,
          "C1,S,L,active,,,Nightly_Sync"),
    _case("user_without_user_id_is_skipped", *USERS, ",l1,active,,",
          ("user_id", "No user_id given for a user")),
    _case("user_without_login_id_is_skipped", *USERS, "u1,,active,,",
          ("login_id", "No login_id given for user u1")),
    _case("user_without_status_is_skipped", *USERS, "u1,l1,,,",
          ("status", "No status given for user u1")),
    _case("user_with_improper_status_is_skipped", *USERS, "u1,l1,gone,,",
          ("status", "Improper status for user u1")),
    _case("user_status_suspended_is_accepted", *USERS, "u1,l1,Suspended,,"),
    _case("user_declared_type_delete_is_accepted", *USERS, "u1,l1,active,<delete>,"),
    _case("login_without_user_id_is_skipped", *LOGINS, ",l1,e1,",
          ("user_id", "No user_id given for a user")),
    _case("login_without_login_id_is_skipped", *LOGINS, "u1,,e1,",
          ("login_id", "No login_id given for user u1")),
    _case("login_without_existing_user_is_skipped", *LOGINS, "u1,l1,,",
          ("existing_user_id", "No existing user provided for login with SIS ID u1")),
    _case("login_status_is_always_active", *LOGINS, "u1,l1,e1,bogus"),
    _case("enrollment_without_course_or_section_is_skipped", *ENROLLMENTS, ",,u1,student,active",
          ("course_id", "No course_id or section_id given for an enrollment")),
    _case("enrollment_in_a_section_alone_is_accepted", *ENROLLMENTS, ",S1,u1,student,active"),
    _case("enrollment_without_user_is_skipped", *ENROLLMENTS, "C1,,,student,active",
          ("user_id", "No user_id given for an enrollment")),
    _case("enrollment_with_improper_status_is_skipped", *ENROLLMENTS,
          "C1,,u1,student,semi-active",
          ("status", 'Improper status "semi-active" for an enrollment')),
    _case("enrollment_status_matches_by_prefix", *ENROLLMENTS, "C1,,u1,student,Inactive"),
    _case("enrollment_with_improper_role_is_skipped", *ENROLLMENTS, "C1,,u1,cheater,active",
          ("role", 'Improper role "cheater" for an enrollment')),
    _case("admin_without_user_id_is_skipped", *ADMINS, ",,AccountAdmin,active",
          ("user_id", "No user_id given for admin")),
    _case("admin_without_status_is_skipped", *ADMINS, "u1,,AccountAdmin,",
          ("status", "No status given for admin")),
    _case("admin_without_role_is_skipped", *ADMINS, "u1,,,active",
          ("role", "No role_id or role given for admin")),
    _case("admin_with_invalid_status_is_skipped", *ADMINS, "u1,,AccountAdmin,suspended",
          ("status", "Invalid status suspended for admin")),
    _case("admin_status_in_any_case_is_accepted", *ADMINS, "u1,,AccountAdmin,Deleted"),
    _case("observer_without_observer_id_is_skipped", *OBSERVERS, ",s1,active",
          ("observer_id", "No observer_id given for a user observer")),
    _case("observer_without_student_id_is_skipped", *OBSERVERS, "o1,,active",
          ("student_id", "No user_id given for a user observer")),
    _case("observer_observing_oneself_is_skipped", *OBSERVERS, "u1,u1,active",
          ("student_id", "Can't observe yourself user u1")),
    _case("observer_status_must_be_whole_word", *OBSERVERS, "o1,s1,activeX",
          ("status", 'Improper status "activeX" for a user_observer')),
    _case("observer_status_is_case_insensitive", *OBSERVERS, "o1,s1,DELETED"),
)
