"""Settings sources: each error names the file or variable it comes from, once, with a fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.institutions import resolve_institutions
from gateway.settings import ConfigError
from gateway.settings_files import load_settings
from tests.unit.test_settings import HASH, VALID


def _config(tmp_path: Path, text: str = VALID) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    return path


def _error(path: Path, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ=environ or {})
    return str(caught.value)


def test_a_bad_environment_value_is_blamed_on_its_variable(tmp_path: Path) -> None:
    path = _config(tmp_path)
    message = _error(path, {"GATEWAY_SFTP__PORT": "abc"})
    assert "environment variable GATEWAY_SFTP__PORT: sftp.port: Input should be a valid " \
        "integer" in message
    assert str(path) not in message


def test_an_unknown_environment_variable_is_named_with_a_suggestion(tmp_path: Path) -> None:
    message = _error(_config(tmp_path), {"GATEWAY_SFTP__PROT": "1"})
    assert "environment variable GATEWAY_SFTP__PROT: sftp.prot: no such setting; did you " \
        "mean GATEWAY_SFTP__PORT?" in message
    message = _error(_config(tmp_path), {"GATEWAY_SFTPP__PORT": "1"})
    assert "environment variable GATEWAY_SFTPP__PORT: no setting sftpp.port; did you mean " \
        "GATEWAY_SFTP__PORT?" in message


def test_environment_overrides_reach_drop_in_institutions(tmp_path: Path) -> None:
    path = _config(tmp_path, VALID.split("[institutions.alpha]")[0])
    (tmp_path / "institutions.d").mkdir()
    (tmp_path / "institutions.d" / "beta.toml").write_text(
        f'password_hash = "{HASH}"\n[canvas]\nbase_url = "https://beta.instructure.com"\n'
        'token_env = "BETA_TOKEN"\n')
    settings = load_settings(path, environ={"GATEWAY_INSTITUTIONS__BETA__CANVAS__ACCOUNT_ID": "9"})
    assert settings.institutions["beta"].canvas.account_id == "9"


@pytest.mark.parametrize(("text", "expected"), [
    ("[sandbx]\nenabled = true\n", "sandbx: unknown section: did you mean [sandbox]?"),
    ('[smtp]\nhost = "mail"\n', "smtp: unknown section: did you mean [mail.smtp]?"),
    ('[mail]\nsendr = "a@b.edu"\n', "mail.sendr: unknown key: did you mean sender?"),
    ("quiet_seconds = 3\n", "quiet_seconds: unknown key: it belongs in [batching]"),
])
def test_misspelt_and_misplaced_sections_get_a_suggestion(tmp_path: Path, text: str,
                                                          expected: str) -> None:
    path = _config(tmp_path, text + VALID)
    assert f"{path}: {expected}" in _error(path)


def test_no_value_error_prefix_and_a_cidr_value_printed_once(tmp_path: Path) -> None:
    text = VALID.replace("report_to", 'allowed_cidrs = ["10.0.0.0/33"]\nreport_to')
    message = _error(_config(tmp_path, text))
    assert "Value error" not in message
    assert message.count("10.0.0.0/33") == 1


def test_a_cidr_with_host_bits_is_refused_with_a_hint(tmp_path: Path) -> None:
    text = VALID.replace("report_to", 'allowed_cidrs = ["192.168.1.10/24"]\nreport_to')
    message = _error(_config(tmp_path, text))
    assert "institutions.alpha.allowed_cidrs.0: '192.168.1.10/24' has host bits set: write " \
        "192.168.1.0/24 for the whole block, or 192.168.1.10/32" in message


@pytest.mark.parametrize("url", ["http://alpha.instructure.com", "http://10.1.2.3:8080"])
def test_canvas_needs_https_except_on_loopback(tmp_path: Path, url: str) -> None:
    text = VALID.replace("https://alpha.instructure.com/", url)
    assert "canvas.base_url: must use https://" in _error(_config(tmp_path, text))
    for loopback in ("http://127.0.0.1:8080", "http://localhost:3000", "http://[::1]:80"):
        settings = load_settings(_config(tmp_path, VALID.replace(
            "https://alpha.instructure.com/", loopback)), environ={})
        assert settings.institutions["alpha"].canvas.base_url == loopback


def test_drop_in_errors_name_the_drop_in_file(tmp_path: Path) -> None:
    path = _config(tmp_path, VALID.split("[institutions.alpha]")[0])
    folder = tmp_path / "institutions.d"
    folder.mkdir()
    (folder / "beta.toml").write_text('report_too = []\n[canvas]\nbase_url = "https://b"\n')
    (folder / ".beta.toml.tmp").write_text("not toml at all [[[")
    (folder / "beta.toml~").write_text("not toml at all [[[")
    assert f"{folder / 'beta.toml'}: report_too: unknown key: did you mean report_to?" \
        in _error(path)


def test_an_institution_in_both_places_is_refused(tmp_path: Path) -> None:
    path = _config(tmp_path)
    (tmp_path / "institutions.d").mkdir()
    (tmp_path / "institutions.d" / "alpha.toml").write_text("")
    assert "alpha.toml: institution 'alpha' is also defined in" in _error(path)


def test_resolution_errors_name_the_file(tmp_path: Path) -> None:
    path = _config(tmp_path)
    settings = load_settings(path, environ={})
    with pytest.raises(ConfigError) as caught:
        resolve_institutions(settings, None, environ={})
    assert str(caught.value).startswith(f"{path}: institutions.alpha.canvas.token: "
                                        "environment variable ALPHA_TOKEN is not set")


@pytest.mark.parametrize(("change", "expected"), [
    (('base_url = "https://alpha.instructure.com/"', 'base_url = "embedded-sandbox"'),
     "institutions.alpha.canvas.base_url: 'embedded-sandbox' needs [sandbox] enabled"),
    (('report_to = ["reg@alpha.edu"]', 'authorized_keys = ["ssh-ed25519 AAAAnotakey"]'),
     "institutions.alpha.authorized_keys[0]: not an OpenSSH public key line"),
])
def test_sandbox_and_key_errors_name_the_drop_in_file(tmp_path: Path, change: tuple[str, str],
                                                      expected: str) -> None:
    head, table = VALID.replace(*change).split("[institutions.alpha]")
    path = _config(tmp_path, head)
    (tmp_path / "institutions.d").mkdir()
    drop_in = tmp_path / "institutions.d" / "alpha.toml"
    drop_in.write_text(table.replace("[institutions.alpha.canvas]", "[canvas]"))
    settings = load_settings(path, environ={})
    with pytest.raises(ConfigError) as caught:
        resolve_institutions(settings, None, environ={"ALPHA_TOKEN": "t"})
    assert str(caught.value).startswith(f"{drop_in}: {expected}")


def test_a_username_used_twice_names_the_file(tmp_path: Path) -> None:
    path = _config(tmp_path)
    (tmp_path / "institutions.d").mkdir()
    drop_in = tmp_path / "institutions.d" / "beta.toml"
    drop_in.write_text(f'username = "alpha"\npassword_hash = "{HASH}"\n[canvas]\n'
                       'base_url = "https://beta.instructure.com"\ntoken_env = "ALPHA_TOKEN"\n')
    settings = load_settings(path, environ={})
    with pytest.raises(ConfigError, match=rf"^{drop_in}: institutions\.beta\.username: 'alpha' "
                                          r"is already used by institution 'alpha'"):
        resolve_institutions(settings, None, environ={"ALPHA_TOKEN": "t"})


@pytest.mark.parametrize(("variable", "value", "key"), [
    ("GATEWAY_MAIL__OPS", "ops@alpha.edu", "mail.ops"),
    ("GATEWAY_WEBHOOKS", "https://hooks.example/T0/B0/secret-path", "webhooks"),
    ("GATEWAY_INSTITUTIONS__ALPHA__AUTHORIZED_KEYS", "ssh-ed25519 AAAAsecretkeymaterial",
     "institutions.alpha.authorized_keys"),
])
def test_a_list_or_table_variable_that_is_not_json_is_named_without_its_value(
        tmp_path: Path, variable: str, value: str, key: str) -> None:
    message = _error(_config(tmp_path), {variable: value, "GATEWAY_SFTP__PORT": "2201"})
    assert f"environment variable {variable}: {key}: not valid JSON" in message
    assert value not in message
    assert "_Environment" not in message


def test_a_drop_in_with_a_name_no_institution_may_have_is_blamed_on_its_file(
        tmp_path: Path) -> None:
    path = _config(tmp_path)
    (tmp_path / "institutions.d").mkdir()
    bad = tmp_path / "institutions.d" / "Beta.toml"
    bad.write_text(f'password_hash = "{HASH}"\n[canvas]\nbase_url = "https://b.example"\n'
                   'token_env = "BETA_TOKEN"\n')
    message = _error(path)
    assert message.startswith(f"{bad}: ")
    assert "'Beta' is no institution's name" in message


def test_a_section_made_by_a_variable_is_blamed_on_it(tmp_path: Path) -> None:
    # No [mail.smtp] in the file: the variable made the section, so it misses the host.
    message = _error(_config(tmp_path), {"GATEWAY_MAIL__SMTP__PORT": "587"})
    assert "environment variable GATEWAY_MAIL__SMTP__PORT: mail.smtp.host: Field required" \
        in message
