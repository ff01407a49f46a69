"""Settings: a bad config fails at start naming the file, the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.institutions import resolve_institutions
from gateway.settings import BatchingSettings, ConfigError
from gateway.settings_files import load_settings

REPO = Path(__file__).resolve().parents[2]
HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"

VALID = f"""
data_dir = "/tmp/gw"
[sftp]
port = 2200
[institutions.alpha]
password_hash = "{HASH}"
report_to = ["reg@alpha.edu"]
[institutions.alpha.canvas]
base_url = "https://alpha.instructure.com/"
token_env = "ALPHA_TOKEN"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    return path


def test_valid_config_loads_with_typed_values(tmp_path: Path) -> None:
    settings = load_settings(_write(tmp_path, VALID), environ={})
    assert settings.sftp.port == 2200
    assert settings.data_dir == Path("/tmp/gw")
    assert settings.institutions["alpha"].canvas.base_url == "https://alpha.instructure.com"


def test_env_overrides_nested_keys(tmp_path: Path) -> None:
    settings = load_settings(_write(tmp_path, VALID), environ={
        "GATEWAY_SFTP__PORT": "2300", "GATEWAY_DATA_DIR": "/srv/gw",
        "GATEWAY_INSTITUTIONS__ALPHA__REPORT_TO": '["x@y.edu"]',
        "GATEWAY_CONFIG": "/ignored.toml"})
    assert settings.sftp.port == 2300
    assert settings.data_dir == Path("/srv/gw")


@pytest.mark.parametrize(("change", "expected"), [
    (("port = 2200", "port = 99999"), "sftp.port: Input should be less than or equal to 65535"),
    (("port = 2200", "prot = 2200"), "sftp.prot: unknown key"),
    (('base_url = "https://alpha.instructure.com/"', 'base_url = "alpha"'),
     "institutions.alpha.canvas.base_url"),
    (('report_to = ["reg@alpha.edu"]', 'report_to = ["reg@alpha.edu\\r\\nBcc: x@y"]'),
     "institutions.alpha.report_to.0"),
    ((f'password_hash = "{HASH}"', 'password_hash = "plaintext-secret"'),
     "institutions.alpha.password_hash: must be an argon2id hash"),
])
def test_bad_values_name_file_and_key(tmp_path: Path, change: tuple[str, str],
                                      expected: str) -> None:
    path = _write(tmp_path, VALID.replace(*change))
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert str(path) in str(caught.value)
    assert expected in str(caught.value)


def test_secret_values_are_not_echoed_in_errors(tmp_path: Path) -> None:
    path = _write(tmp_path, VALID.replace(f'password_hash = "{HASH}"',
                                          'password_hash = "hunter2-plaintext"'))
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert "hunter2" not in str(caught.value)


def test_invalid_toml_names_the_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "[sftp\nport = 1\n")
    with pytest.raises(ConfigError, match=r"gateway\.toml: not valid TOML.*line 1"):
        load_settings(path, environ={})


def test_missing_token_is_named_without_a_value(tmp_path: Path) -> None:
    settings = load_settings(_write(tmp_path, VALID), environ={})
    with pytest.raises(ConfigError, match=r"institutions\.alpha\.canvas\.token: environment "
                                          r"variable ALPHA_TOKEN is not set"):
        resolve_institutions(settings, None, environ={})


@pytest.mark.parametrize("pasted", ["7~Wq9ZsecretCanvasToken", "hunter2 with spaces",
                                    "https://hooks.slack.com/services/T0/B0/secret"])
def test_a_secret_pasted_where_its_variable_is_named_is_not_echoed(tmp_path: Path,
                                                                   pasted: str) -> None:
    settings = load_settings(_write(tmp_path, VALID.replace("ALPHA_TOKEN", pasted)),
                             environ={})
    with pytest.raises(ConfigError) as caught:
        resolve_institutions(settings, None, environ={})
    assert pasted not in str(caught.value)
    assert "institutions.alpha.canvas.token: its _env setting must name an environment " \
        "variable" in str(caught.value)


def test_token_is_read_and_never_printed(tmp_path: Path) -> None:
    settings = load_settings(_write(tmp_path, VALID), environ={})
    [alpha] = resolve_institutions(settings, None, environ={"ALPHA_TOKEN": "tok-123-secret"})
    assert alpha.canvas.token.get_secret_value() == "tok-123-secret"
    assert "tok-123-secret" not in repr(alpha)
    assert "tok-123-secret" not in repr(alpha.canvas)
    assert "tok-123-secret" not in str(alpha.canvas.token)


def test_token_file(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("from-a-file\n")
    text = VALID.replace('token_env = "ALPHA_TOKEN"', f'token_file = "{token_file}"')
    [alpha] = resolve_institutions(load_settings(_write(tmp_path, text), environ={}), None,
                                   environ={})
    assert alpha.canvas.token.get_secret_value() == "from-a-file"


def test_bad_authorized_key_is_named_by_index(tmp_path: Path) -> None:
    text = VALID.replace('report_to', 'authorized_keys = ["ssh-ed25519 AAAAnotakey"]\nreport_to')
    settings = load_settings(_write(tmp_path, text), environ={})
    with pytest.raises(ConfigError, match=r"institutions\.alpha\.authorized_keys\[0\]"):
        resolve_institutions(settings, None, environ={"ALPHA_TOKEN": "t"})


def test_the_shipped_example_config_is_valid() -> None:
    settings = load_settings(REPO / "config" / "gateway.example.toml", environ={})
    assert "state-university" in settings.institutions
    assert settings.mail.smtp is not None
    assert settings.batching.workers == 4


@pytest.mark.parametrize(("workers", "cores", "expected"), [
    (4, 2, 2), (4, 8, 4), (1, 8, 1), (4, None, 1)])
def test_sorting_workers_are_bounded_by_the_cores(workers: int, cores: int | None,
                                                   expected: int) -> None:
    batching = BatchingSettings(workers=workers)
    assert batching.sorting_workers(cores) == expected


def test_a_bad_institution_name_does_not_echo_the_table(tmp_path: Path) -> None:
    path = _write(tmp_path, VALID.replace("institutions.alpha", "institutions.State-U"))
    with pytest.raises(ConfigError, match="State-U") as caught:
        load_settings(path, environ={})
    assert HASH not in str(caught.value)


def test_problem_counts_take_their_singular_and_plural(tmp_path: Path) -> None:
    one = _write(tmp_path, VALID.replace("port = 2200", "port = 99999"))
    with pytest.raises(ConfigError) as caught:
        load_settings(one, environ={})
    assert "invalid configuration (1 problem):" in str(caught.value)
    two = _write(tmp_path, VALID.replace("port = 2200", "port = 99999\nprot = 1"))
    with pytest.raises(ConfigError) as caught:
        load_settings(two, environ={})
    assert "invalid configuration (2 problems):" in str(caught.value)


def test_cluster_mode_is_off_unless_a_database_url_is_named(tmp_path: Path) -> None:
    settings = load_settings(_write(tmp_path, VALID), environ={})
    assert not settings.cluster.enabled
    assert settings.cluster.node_name  # the host name
    both = VALID + '\n[cluster]\ndatabase_url_env = "DB_URL"\ndatabase_url_file = "/x"\n'
    with pytest.raises(ConfigError, match="set database_url_env or database_url_file, "
                                          "not both"):
        load_settings(_write(tmp_path, both), environ={})
    named = VALID + '\n[cluster]\ndatabase_url_env = "DB_URL"\nnode_name = "gw-2"\n'
    with pytest.raises(ConfigError, match=r"set \[sftp\] host_key_files: every node must "
                                          "present the same host keys"):
        load_settings(_write(tmp_path, named), environ={})
    named = named.replace("port = 2200", 'port = 2200\nhost_key_files = ["/run/key"]')
    cluster = load_settings(_write(tmp_path, named), environ={}).cluster
    assert (cluster.enabled, cluster.node_name, cluster.database_connections) == (
        True, "gw-2", 16)
    with pytest.raises(ConfigError, match=r"cluster\.database_connections"):
        load_settings(_write(tmp_path, named + "database_connections = 1\n"), environ={})
