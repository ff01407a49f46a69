"""Rendering is pure: facts in, subject/text/HTML out.  These tests drive it directly."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from jinja2 import TemplateSyntaxError, UndefinedError
from markupsafe import escape

from gateway.reporting.facts import BatchReport, FileFate, Finding, Outcome, ReceivedFile
from gateway.reporting.render import (
    RenderedReport,
    ReportRenderer,
    canvas_state_words,
    format_duration,
    format_when,
    report_files,
    shown_counts,
)
from tests.unit.reporting.samples import RECEIVED, UNKNOWN, USERS, mixed_report, sample_report


def expected_facts(report: BatchReport) -> list[str]:
    """Every fact a reader must find in both bodies, as plain strings."""
    facts = [report.institution, report.reference, report.headline, report.next_step,
             format_when(report.received_at)]
    for file in report.files:
        facts += [file.name, f"{file.size:,} bytes" if file.size != 1 else "1 byte",
                  file.sha256, file.kind or "not recognised",
                  str(file.rows) if file.rows is not None else "not counted", file.fate_words]
        if file.problem:
            facts += file.problem.splitlines()
        if file.next_step:
            facts.append(file.next_step)
    if report.reason:
        facts.append(report.reason)
    if report.canvas_import_id is not None:
        facts += [str(report.canvas_import_id), canvas_state_words(report.canvas_state)]
    for message in report.canvas_errors + report.canvas_warnings:
        facts += [message.file or "(whole import)", message.message]
    facts += [format_when(moment) for moment in (report.posted_at, report.finished_at)
              if moment is not None]
    return facts


@pytest.mark.parametrize("outcome", list(Outcome))
def test_every_fact_appears_in_text_and_html(outcome: Outcome) -> None:
    report = sample_report(outcome)
    rendered = ReportRenderer().render(report)

    for fact in expected_facts(report):
        assert fact in rendered.text, fact
        assert str(escape(fact)) in rendered.html, fact
    for name, value in shown_counts(report.counts):
        assert f"{name}: {value}" in rendered.text
        assert f">{name}</th>" in rendered.html


@pytest.mark.parametrize("outcome", list(Outcome))
def test_subject_states_outcome_first(outcome: Outcome) -> None:
    report = sample_report(outcome)

    subject = ReportRenderer().render(report).subject

    assert subject.startswith(f"[{report.headline}] demo {report.reference}: ")


def test_subject_examples() -> None:
    renderer = ReportRenderer()

    batch = renderer.render(sample_report(Outcome.IMPORTED_WITH_MESSAGES)).subject
    upload = renderer.render(sample_report(Outcome.REJECTED)).subject

    assert batch == ("[Imported with warnings] demo batch-000012: users.csv imported with "
                     "warnings; enrollments.csv imported; Canvas import 45")
    assert upload == "[Rejected] demo upload-000034: people.csv rejected: not sent"


def test_a_batch_with_a_rejected_file_never_reads_as_a_success() -> None:
    renderer = ReportRenderer()

    result = renderer.render(mixed_report())
    receipt = renderer.render(mixed_report(Outcome.ACCEPTED))

    assert result.subject == (
        "[Partly imported: 1 of 2 files rejected] demo batch-000012: users.csv rejected: "
        "not sent; enrollments.csv imported; Canvas import 45")
    assert result.text.startswith("Partly imported: 1 of 2 files rejected: batch-000012")
    assert "     Status:  rejected: not sent\n" in result.text
    assert "     To do:   Fix it, then upload users.csv again" in result.text
    assert ">rejected: not sent</td>" in result.html
    assert receipt.subject == ("[Partly accepted: 1 of 2 files rejected] demo batch-000012: "
                               "users.csv rejected: not sent; enrollments.csv accepted")


def test_a_subject_names_three_files_then_counts_the_rest() -> None:
    files = tuple(ReceivedFile(f"f{n}.csv", 1, "0" * 64, "user", 1, fate=FileFate.IMPORTED)
                  for n in range(5))
    report = replace(sample_report(Outcome.IMPORTED), files=files)

    subject = ReportRenderer().render(report).subject

    assert subject.endswith(": f0.csv imported; f1.csv imported; f2.csv imported; "
                            "2 more files; Canvas import 45")


def test_subject_escapes_control_characters_from_file_names() -> None:
    hostile = replace(UNKNOWN, name="users.csv\r\nBcc: evil@x\t\x00\u2028end")
    report = replace(sample_report(Outcome.REJECTED), files=(hostile,))

    subject = ReportRenderer().render(report).subject

    assert subject == ("[Rejected] demo upload-000034: "
                       "users.csv\\r\\nBcc: evil@x\\t\\x00\\u2028end rejected: not sent")


def test_html_escapes_untrusted_names_and_messages() -> None:
    script = replace(USERS, name="<script>x</script>.csv")
    report = replace(sample_report(Outcome.FAILED), files=(script,))

    rendered = ReportRenderer().render(report)

    assert "<script>" not in rendered.html
    assert "&lt;script&gt;x&lt;/script&gt;.csv" in rendered.html
    assert "Improper role &#34;boss&#34;" in rendered.html
    # The text body is not HTML: no entities there.
    assert "<script>x</script>.csv" in rendered.text
    assert "&lt;" not in rendered.text


def test_text_cannot_be_forged_by_line_breaks_in_names() -> None:
    forged = replace(USERS, name="a.csv\nOutcome:     Imported")
    report = replace(sample_report(Outcome.FAILED), files=(forged,))

    text = ReportRenderer().render(report).text

    assert "  1. a.csv\\nOutcome:     Imported\n" in text
    assert [line for line in text.splitlines() if line.startswith("Outcome:")] == [
        "Outcome:     Failed"]


def test_bidirectional_overrides_are_escaped_in_names() -> None:
    spoof = replace(USERS, name="report\u202etxt.exe")
    report = replace(sample_report(Outcome.REJECTED), files=(spoof,))

    rendered = ReportRenderer().render(report)

    assert "\u202e" not in rendered.subject + rendered.text + rendered.html
    assert "report\\u202etxt.exe" in rendered.text


def test_a_line_break_in_a_problem_shows_as_an_escape_on_its_line() -> None:
    text = ReportRenderer().render(sample_report(Outcome.REJECTED)).text

    assert ("     Problem: The header row matches no Canvas SIS file type.\\n"
            "It looks like users.csv but lacks: login_id\n") in text


def test_counts_are_the_non_zero_ones_in_plain_words() -> None:
    counts = {"users": 120, "courses": 0, "xlists": 2, "error_count": 0, "warning_count": 3}

    assert shown_counts(counts) == [("users", 120), ("cross-listings", 2), ("warnings", 3)]
    assert shown_counts({"new_kinds": 1}) == [("new kinds", 1)]
    assert shown_counts({}) == []


def test_zero_counts_and_canvas_words_are_left_out_of_the_report() -> None:
    rendered = ReportRenderer().render(sample_report(Outcome.IMPORTED_WITH_MESSAGES))

    for body in (rendered.text, rendered.html):
        assert "courses" not in body
        for internal in ("error_count", "warning_count", "imported_with_messages", "errors"):
            assert internal not in body
    assert "    warnings: 1\n" in rendered.text
    assert "  State:     imported with warnings\n" in rendered.text


def test_report_without_canvas_import_says_whether_it_will_be_sent() -> None:
    rejected = ReportRenderer().render(sample_report(Outcome.REJECTED))
    receipt = ReportRenderer().render(sample_report(Outcome.ACCEPTED))

    assert "Not sent to Canvas: nothing in this batch could be imported." in rejected.text
    assert "Not sent to Canvas: nothing in this batch could be imported." in rejected.html
    assert "Counts" not in rejected.text
    assert "  Not sent yet: the batch goes to Canvas when its turn comes.\n" in receipt.text
    assert "Not sent to Canvas" not in receipt.text


def test_timings_state_durations() -> None:
    text = ReportRenderer().render(sample_report(Outcome.IMPORTED)).text

    assert "Received:          2024-05-01 10:00:00 UTC\n" in text
    assert "Posted to Canvas:  2024-05-01 10:00:05 UTC (5 s after received)\n" in text
    assert ("Finished:          2024-05-01 10:02:10 UTC "
            "(2 min 5 s after posted; 2 min 10 s in all)\n") in text


def test_timings_skip_steps_that_did_not_happen() -> None:
    report = replace(sample_report(Outcome.IMPORTED), posted_at=None)

    text = ReportRenderer().render(report).text

    assert "Posted to Canvas" not in text
    assert "(2 min 10 s after received)" in text


@pytest.mark.parametrize(
    ("delta", "words"),
    [(timedelta(0), "0 s"), (timedelta(seconds=59), "59 s"), (timedelta(minutes=2), "2 min"),
     (timedelta(hours=1, minutes=2, seconds=5), "1 h 2 min"),
     (timedelta(days=2, seconds=7), "2 d 7 s"), (timedelta(seconds=-30), "0 s")],
)
def test_format_duration(delta: timedelta, words: str) -> None:
    assert format_duration(delta) == words


def test_times_are_shown_in_utc() -> None:
    paris = timezone(timedelta(hours=2))

    assert format_when(datetime(2024, 5, 1, 12, 0, tzinfo=paris)) == "2024-05-01 10:00:00 UTC"
    assert format_when(datetime(2024, 5, 1, 10, 0)) == "2024-05-01 10:00:00 UTC"


def test_text_body_ends_with_a_newline_and_html_is_a_document() -> None:
    rendered = ReportRenderer().render(sample_report(Outcome.IMPORTED))

    assert rendered.text.endswith("\n")
    assert rendered.html.startswith("<!DOCTYPE html>")
    assert ("<title>[Imported] demo batch-000012: users.csv imported; enrollments.csv "
            "imported; Canvas import 45</title>") in rendered.html
    assert "http" not in rendered.html  # no external assets


def test_override_directory_wins_by_template_name(tmp_path: Path) -> None:
    (tmp_path / "subject.txt").write_text(
        "{{ report.institution | upper }} {{ report.reference }} {{ outcome_words }}")

    rendered = ReportRenderer(tmp_path).render(sample_report(Outcome.IMPORTED))

    assert rendered.subject == "DEMO batch-000012 Imported"
    assert "Files (2)" in rendered.text  # packaged report.txt still used


def test_override_html_is_autoescaped_and_text_is_not(tmp_path: Path) -> None:
    (tmp_path / "report.html").write_text("<p>{{ report.files[0].name }}</p>")
    (tmp_path / "report.txt").write_text("{{ report.files[0].name }}")
    report = replace(sample_report(Outcome.REJECTED),
                     files=(replace(UNKNOWN, name="a&b<c>.csv"),))

    rendered = ReportRenderer(tmp_path).render(report)

    assert rendered.html == "<p>a&amp;b&lt;c&gt;.csv</p>"
    assert rendered.text == "a&b<c>.csv"


def test_override_naming_an_unknown_value_raises(tmp_path: Path) -> None:
    (tmp_path / "report.txt").write_text("Dear {{ report.contact_name }},\n")

    with pytest.raises(UndefinedError, match="contact_name"):
        ReportRenderer(tmp_path).render(sample_report(Outcome.IMPORTED))


def test_override_with_undefined_variable_raises(tmp_path: Path) -> None:
    (tmp_path / "report.html").write_text("{% if colour == 'red' %}red{% endif %}")

    with pytest.raises(UndefinedError, match="colour"):
        ReportRenderer(tmp_path).render(sample_report(Outcome.IMPORTED))


def test_override_with_syntax_error_raises(tmp_path: Path) -> None:
    (tmp_path / "subject.txt").write_text("{{ report.reference ")

    with pytest.raises(TemplateSyntaxError):
        ReportRenderer(tmp_path).render(sample_report(Outcome.IMPORTED))


def test_missing_override_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="override directory"):
        ReportRenderer(tmp_path / "absent")


def test_report_files_hold_text_html_and_json_facts() -> None:
    report = sample_report(Outcome.IMPORTED_WITH_MESSAGES)
    rendered = ReportRenderer().render(report)

    files = report_files(report, rendered)

    assert sorted(files) == ["batch-000012.result.html", "batch-000012.result.json",
                             "batch-000012.result.txt"]
    assert files["batch-000012.result.txt"].decode() == rendered.text
    assert files["batch-000012.result.html"].decode() == rendered.html
    facts = json.loads(files["batch-000012.result.json"])
    assert facts["report_format"] == 2
    assert facts["stage"] == "result"
    assert facts["outcome"] == "imported_with_messages"
    assert facts["outcome_words"] == "Imported with warnings"
    assert facts["headline"] == "Imported with warnings"
    assert facts["canvas_state_words"] == "imported with warnings"
    assert facts["received_at"] == "2024-05-01T10:00:00+00:00"
    assert facts["finished_at"] == "2024-05-01T10:02:10+00:00"
    assert facts["files"][0] == {"name": "users.csv", "size": 12_345, "sha256": "a1" * 32,
                                 "kind": "user", "rows": 120, "problem": None,
                                 "fate": "imported_with_warnings",
                                 "fate_words": "imported with warnings", "next_step": None}
    assert facts["canvas_warnings"] == [
        {"file": "users.csv", "message": "user u7: invalid email 'x@'"}]
    assert facts["counts"]["warning_count"] == 1


def test_report_json_keeps_untrusted_names_verbatim_and_naive_times_as_utc() -> None:
    report = replace(sample_report(Outcome.REJECTED), received_at=RECEIVED.replace(tzinfo=None),
                     files=(ReceivedFile("Zoë\r\n.csv", 3, "d4" * 32, None, None),))

    files = report_files(report, RenderedReport("s", "t", "h"))

    facts = json.loads(files["upload-000034.result.json"].decode("utf-8"))
    assert facts["files"][0]["name"] == "Zoë\r\n.csv"
    assert facts["received_at"] == "2024-05-01T10:00:00+00:00"
    assert facts["batch_id"] is None


@pytest.mark.parametrize("reference", ["../etc/passwd", "a/b", ".hidden", "", "x\ny"])
def test_report_files_refuse_unsafe_references(reference: str) -> None:
    report = replace(sample_report(Outcome.IMPORTED), reference=reference)

    with pytest.raises(ValueError, match="safe file name"):
        report_files(report, RenderedReport("s", "t", "h"))


def test_naive_and_aware_times_render_alike() -> None:
    aware = sample_report(Outcome.IMPORTED)
    naive = replace(aware, received_at=aware.received_at.replace(tzinfo=None))

    renderer = ReportRenderer()

    assert renderer.render(naive).text == renderer.render(aware).text
    assert aware.received_at.tzinfo is UTC


def test_a_receipt_and_a_result_are_separate_files() -> None:
    renderer = ReportRenderer()
    receipt, result = sample_report(Outcome.ACCEPTED), sample_report(Outcome.IMPORTED)

    names = set(report_files(receipt, renderer.render(receipt))) | \
        set(report_files(result, renderer.render(result)))

    assert names == {f"batch-000012.{stage}.{suffix}" for stage in ("receipt", "result")
                     for suffix in ("txt", "html", "json")}


def test_json_says_a_rejecting_finding_rejects_its_file() -> None:
    finding = Finding("users.csv", 3, None, "Malformed CSV", "quote the field", blocking=True)
    report = replace(mixed_report(), findings=(finding,), findings_total=1)
    rendered = ReportRenderer().render(report)

    facts = json.loads(report_files(report, rendered)["batch-000012.result.json"])

    assert facts["findings"][0]["rejects_file"] is True
    assert facts["findings"][0]["blocking"] is True  # format 1's name, kept
    assert facts["headline"] == "Partly imported: 1 of 2 files rejected"
    assert [f["fate_words"] for f in facts["files"]] == ["rejected: not sent", "imported"]
    assert "users.csv, row 3 [rejects this file]: Malformed CSV" in rendered.text
    assert "blocks the batch" not in rendered.text + rendered.html
