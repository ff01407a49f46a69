"""No name or text from a sender or from Canvas can start a line in a report (issue 11, item 8):
control characters become visible escapes in the text body, the subject and the HTML."""

from __future__ import annotations

import unicodedata
from dataclasses import replace
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.reporting.facts import BatchReport, CanvasMessage, Finding, Outcome
from gateway.reporting.render import ReportRenderer, subject_line, text_line
from tests.unit.reporting.samples import USERS, sample_report

# Every character some viewer or mail client may take for a line break or a direction
# change, mixed with ordinary ones so that runs and neighbours are tried too.
BREAKERS = "\r\n\t\x0b\x0c\x1c\x1d\x1e\x00\x1b\x7f\x85\x9b\u2028\u2029\u202e\u2066\u200f"
HOSTILE = st.text(st.one_of(st.sampled_from(BREAKERS + "a \\:"), st.characters()), max_size=40)
BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _one_line(text: str) -> bool:
    """True when nothing in ``text`` can end a line or turn its direction."""
    return not any(unicodedata.category(c) in ("Cc", "Zl", "Zp") or c in BIDI for c in text)


@given(st.text())
def test_text_line_leaves_no_line_break_for_any_text(value: str) -> None:
    line = text_line(value)

    assert _one_line(line)
    assert len(line.splitlines()) <= 1
    assert text_line(line) == line


@given(HOSTILE)
def test_text_line_changes_only_what_could_break_a_line(value: str) -> None:
    if _one_line(value):
        assert text_line(value) == value
    else:
        assert text_line(value) != value


def test_escapes_read_as_a_programmer_writes_them() -> None:
    assert text_line("a\r\nb\tc\x00\x1b\x7f\x85 \u2028\u202e z ") == \
        "a\\r\\nb\\tc\\x00\\x1b\\x7f\\x85 \\u2028\\u202e z "


def test_a_subject_spread_over_lines_by_an_override_becomes_one_line() -> None:
    assert subject_line("\n  [Held] demo\r\n batch-000001:\tx \n\n") == \
        "[Held] demo batch-000001:\\tx"


def _everywhere(text: str) -> BatchReport:
    """A report whose every sender or Canvas text is ``text``."""
    named = replace(USERS, name=text, kind=text, problem=text)
    message = CanvasMessage(text, text)
    return replace(sample_report(Outcome.FAILED), files=(named, named), reason=text,
                   canvas_state=text, counts={text: 1, "error_count": 2},
                   canvas_errors=(message,), canvas_warnings=(message,), notes=(text,),
                   findings=(Finding(text, 2, text, text, text, True),), findings_total=3,
                   attachments=(text, "findings-batch-000012.csv"))


@settings(max_examples=60, deadline=None)
@given(HOSTILE.filter(bool))
def test_no_value_adds_a_line_to_the_text_report_or_the_subject(value: str) -> None:
    renderer = ReportRenderer()
    plain = renderer.render(_everywhere("x"))

    hostile = renderer.render(_everywhere(value))

    assert len(hostile.text.splitlines()) == len(plain.text.splitlines())
    assert [line.split(":")[0] for line in hostile.text.splitlines() if line[:1].isalpha()] \
        == [line.split(":")[0] for line in plain.text.splitlines() if line[:1].isalpha()]
    assert _one_line(hostile.subject)
    assert all(_one_line(line) for line in hostile.text.splitlines())


def test_a_member_name_in_a_finding_cannot_forge_report_lines() -> None:
    forged = "users\r\nOutcome:     Imported\r\n.csv: No login_id given for user u7"
    report = replace(sample_report(Outcome.FAILED),
                     findings=(Finding("roster.zip", 2, None, forged, "add it", False),),
                     findings_total=1)

    text = ReportRenderer().render(report).text

    assert [line for line in text.splitlines() if "Outcome:" in line] == [
        "Outcome:     Failed",
        "  - roster.zip, row 2: users\\r\\nOutcome:     Imported\\r\\n.csv: No login_id given "
        "for user u7"]


def test_override_templates_print_values_on_one_line_even_without_a_filter(
        tmp_path: Path) -> None:
    (tmp_path / "report.txt").write_text("{{ report.files[0].name }}|{{ report.reason }}\n")
    report = replace(sample_report(Outcome.FAILED), files=(replace(USERS, name="a\nb.csv"),),
                     reason="see\r\nbelow")

    assert ReportRenderer(tmp_path).render(report).text == "a\\nb.csv|see\\r\\nbelow\n"


def test_html_shows_the_same_escapes_and_escapes_html_once() -> None:
    report = replace(sample_report(Outcome.FAILED), files=(replace(USERS, name="<b>\n.csv"),),
                     attachments=("a&b.csv",))

    html = ReportRenderer().render(report).html

    assert "&lt;b&gt;\\n.csv" in html
    assert "Attached: a&amp;b.csv</p>" in html
