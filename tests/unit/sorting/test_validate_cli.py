"""``gateway validate``: table and JSON output, exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.ops.cli import main
from tests.unit.sorting.files import write, zip_bytes

USERS = b"user_id,login_id,status\n"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["validate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_clean_files_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "users.csv", USERS + b"u1,l1,active\n")
    code, out, _ = run(capsys, str(path))
    assert code == 0
    assert "users.csv: user, 1 rows, 0 findings" in out
    assert "no findings" in out


def test_warnings_are_listed_but_do_not_block(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "users.csv", USERS + b"u1,l1,bogus\n")
    code, out, _ = run(capsys, str(path))
    assert code == 0
    assert "FILE" in out
    assert "SEVERITY" in out
    assert "Improper status for user u1" in out
    assert run(capsys, str(path), "--block", "improper_status")[0] == 1
    assert run(capsys, str(path), "--block-warnings")[0] == 1


def test_failure_class_findings_exit_1_with_json(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "people.csv", b"person,email\np,e\n")
    code, out, _ = run(capsys, str(path), "--json")
    assert code == 1
    report = json.loads(out)
    assert report["blocked"] is True
    [upload] = report["uploads"]
    assert upload["findings"][0]["code"] == "unknown_header"
    assert upload["findings"][0]["blocking"] is True


def test_aes_zip_with_password_from_the_environment(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "all.zip", zip_bytes({"users.csv": USERS + b"u1,l1,active\n"},
                                                password=b"pw"))
    monkeypatch.setenv("SIS_ZIP_PASSWORD", "pw")
    code, out, _ = run(capsys, str(path), "--zip-password-env", "SIS_ZIP_PASSWORD", "--json")
    assert code == 0
    assert json.loads(out)["uploads"][0]["members"][0]["rows"] == 1
    assert run(capsys, str(path))[0] == 1  # encrypted, no password


@pytest.mark.parametrize("argv", [["missing.csv"], ["--block", "nonsense", "{file}"],
                                  ["--zip-password-env", "NO_SUCH_VARIABLE_X", "{file}"]])
def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                             argv: list[str]) -> None:
    path = write(tmp_path, "users.csv", USERS)
    code, _, err = run(capsys, *[a.format(file=path) for a in argv])
    assert code == 2
    assert err.startswith("gateway validate: ")


def test_progress_is_shown_only_on_a_terminal(tmp_path: Path) -> None:
    import io

    from gateway.sorting.validation import command

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    big = write(tmp_path, "u.csv", USERS + b"u1,l1,active\n" * 700_000)
    screen = Terminal()
    show = command._progress(big, screen)
    assert show is not None
    show(big.stat().st_size // 2)
    show(big.stat().st_size)
    drawn = screen.getvalue()
    assert "validating u.csv" in drawn
    assert f"{big.stat().st_size / 1e6:.1f}/{big.stat().st_size / 1e6:.1f} MB" in drawn
    assert drawn.endswith("\n\x1b[?25h")  # its own line, and the cursor shown again
    assert command._progress(big, io.StringIO()) is None
