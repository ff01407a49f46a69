"""A real HAProxy in TCP mode in front of the gateway, as a load balancer runs it.

Frontends on free loopback ports: one sends the PROXY v1 header to the gateway
(``send-proxy``), one v2 (``send-proxy-v2``) and one none (a balancer without PROXY).
HAProxy itself connects to the gateway from 127.0.0.1, so clients bound to other loopback
addresses (127.0.0.2 ...) can be told apart from the balancer only through the header.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.integration.gateway_process import wait_for
from tests.integration.mail_server import free_port

BALANCER_ADDRESS = "127.0.0.1"


@dataclass(frozen=True)
class Balancer:
    """The running HAProxy's frontend ports, by the PROXY version each sends."""

    v1_port: int
    v2_port: int
    plain_port: int

    def port(self, version: int) -> int:
        """The frontend that sends PROXY ``version`` (1 or 2)."""
        return self.v1_port if version == 1 else self.v2_port


def _config(backend_port: int, balancer: Balancer) -> str:
    server = f"server gateway 127.0.0.1:{backend_port}"
    return "\n".join([
        "global", "    maxconn 1000", "    log stderr format raw local0",
        "defaults", "    mode tcp", "    log global", "    option tcplog",
        "    timeout connect 5s", "    timeout client 60s", "    timeout server 60s",
        "frontend proxy_v1", f"    bind 127.0.0.1:{balancer.v1_port}",
        "    default_backend gateway_v1",
        "frontend proxy_v2", f"    bind 127.0.0.1:{balancer.v2_port}",
        "    default_backend gateway_v2",
        "frontend plain", f"    bind 127.0.0.1:{balancer.plain_port}",
        "    default_backend gateway_plain",
        "backend gateway_v1", f"    {server} send-proxy",
        "backend gateway_v2", f"    {server} send-proxy-v2",
        "backend gateway_plain", f"    {server}",
    ]) + "\n"


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


@contextmanager
def haproxy(folder: Path, backend_port: int) -> Iterator[Balancer]:
    """Run HAProxy in the foreground in front of ``backend_port`` until the block ends.

    Fails (never skips) when HAProxy is not installed: ``.ci/run`` installs it.
    """
    binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
    assert Path(binary).exists(), "haproxy is not installed (apt-get install haproxy)"
    balancer = Balancer(free_port(), free_port(), free_port())
    config = folder / "haproxy.cfg"
    config.write_text(_config(backend_port, balancer))
    log = (folder / "haproxy.log").open("wb")
    process = subprocess.Popen([binary, "-db", "-f", str(config)], stdout=log,
                               stderr=subprocess.STDOUT)
    try:
        def up() -> bool:
            assert process.poll() is None, (folder / "haproxy.log").read_text()
            return all(_listening(port) for port in (balancer.v1_port, balancer.v2_port,
                                                     balancer.plain_port))
        wait_for(up, 10, "HAProxy to listen")
        yield balancer
    finally:
        process.terminate()
        process.wait(10)
        log.close()
