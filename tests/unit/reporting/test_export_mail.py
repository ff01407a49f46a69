"""The export mails: what a published and a failed run say, one line per value, and an
institution's own template winning over the packaged one."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from gateway.exports.runs import ExportRun
from gateway.reporting.export_mail import ExportMailRenderer
from gateway.state.states import ExportRunState

PUBLISHED = ExportRun(
    id=3, institution="alpha", export="grades", report="grade_export_csv",
    slot="cron:2027-01-15T08:00:00Z", trigger="schedule", state=ExportRunState.PUBLISHED,
    parameters={}, created_at=1_800_000_000.0, updated_at=1_800_000_060.0,
    next_attempt_at=0.0, attempts=0, trouble_since=None, starting_at=1_800_000_001.0,
    report_id=77, canvas_state="complete", file_name="20270115-080100Z-grade_export_csv.csv",
    size=2048, sha256="ab" * 32, published_at=1_800_000_060.0, reason=None)


def test_a_published_run_names_the_file_in_the_outbox() -> None:
    mail = ExportMailRenderer().render(PUBLISHED)
    assert mail.subject == "[Export published] alpha grades: 20270115-080100Z-grade_export_csv.csv"
    path = "/outbox/grades/20270115-080100Z-grade_export_csv.csv"
    assert path in mail.text
    assert f"<code>{path}</code>" in mail.html
    assert "its schedule" in mail.text
    assert "2027-01-15 08:01:00 UTC" in mail.text


def test_a_failed_run_says_why_in_one_line() -> None:
    failed = replace(PUBLISHED, state=ExportRunState.FAILED, file_name=None,
                     published_at=None, reason="Canvas ended report 77\nFAKE: line",
                     trigger="request")
    mail = ExportMailRenderer().render(failed)
    assert mail.subject == "[Export failed] alpha grades"
    assert "Reason:      Canvas ended report 77\\nFAKE: line" in mail.text
    assert "\nFAKE" not in mail.text
    assert "/inbox/requests/grades" in mail.text
    assert "a request file" in mail.text


def test_an_institution_template_overrides_the_packaged_one(tmp_path: Path) -> None:
    (tmp_path / "export_subject.txt").write_text("Registrar feed {{ run.export }} ready\n")
    mail = ExportMailRenderer(tmp_path).render(PUBLISHED)
    assert mail.subject == "Registrar feed grades ready"
    assert "/outbox/grades/" in mail.text  # the body is still the packaged one


def test_a_missing_override_folder_is_refused_not_ignored(tmp_path: Path) -> None:
    # As for the batch reports: falling back to the packaged templates would hide the mistake.
    with pytest.raises(ValueError, match="template override directory not found"):
        ExportMailRenderer(tmp_path / "missing")
