"""``gateway validate``: table and JSON output, exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
import subprocess
import sys
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
    assert "users.csv: user, 1 row, 0 findings" in out
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


def test_a_folder_stands_for_every_csv_and_zip_in_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    write(folder, "users.csv", USERS + b"u1,l1,active\nu2,l2,active\n")
    write(folder, "more.zip", zip_bytes({"courses.csv": b"course_id,short_name,long_name,"
                                                       b"status\nC1,c,Course,active\n"}))
    write(folder, "notes.txt", b"not validated")
    code, out, _ = run(capsys, str(folder), "--json")
    assert code == 0
    assert [u["name"] for u in json.loads(out)["uploads"]] == ["more.zip", "users.csv"]
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run(capsys, str(empty))
    assert (code, err.strip()) == (2, f"gateway validate: {empty}: a folder without .csv or "
                                      ".zip files")


def test_json_piped_into_head_ends_quietly(tmp_path: Path) -> None:
    """A reader that stops early (``| head``) is no error: no BrokenPipe traceback."""
    path = write(tmp_path, "users.csv", USERS + b",l1,active\n" * 2000)  # 1000 findings kept
    gateway = Path(sys.executable).with_name("gateway")
    result = subprocess.run(f"'{gateway}' validate --json '{path}' | head -n 3",
                            shell=True, capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.stdout.splitlines()[0] == "{"
    assert result.stderr == ""


def test_long_cells_wrap_inside_their_column(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    long_id = "u" + "x" * 90
    path = write(tmp_path, "users.csv", USERS + f"{long_id},l1,bogus\n,l2,active\n".encode())
    _, out, _ = run(capsys, str(path))
    table = out.split("\n\n", 1)[1].splitlines()
    starts = [table[0].index(name) for name in ("ROW", "COLUMN", "SEVERITY", "MESSAGE", "FIX")]
    for line in table:  # two spaces before every column on every line: nothing spills over
        assert all(line[start - 2:start] == "  " for start in starts if len(line) > start)
    assert long_id not in out  # wrapped within the MESSAGE column
    assert long_id[:20] in out


def test_counts_take_their_singular_and_plural(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "users.csv", USERS + b"u1,l1,bogus\n")
    _, out, _ = run(capsys, str(path))
    assert "users.csv: user, 1 row, 1 finding\n" in out
