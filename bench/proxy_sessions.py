"""What the PROXY protocol costs the gateway: many concurrent SFTP sessions, direct and through
a real HAProxy sending PROXY v2, each session logged in by key and holding its SFTP channel.

    python bench/proxy_sessions.py [--sessions 500] [--rounds 2]

Prints, per path and round, the time to open every session and the gateway's RSS with all of
them open: first a gateway with ``proxy_protocol = "off"`` (asyncssh accepts connections
itself, as before), direct and through HAProxy without a header, then one with
``"optional"`` and HAProxy's address in ``proxy_networks``, direct and through HAProxy
sending PROXY v2; the paths of one gateway alternate round by round.
Needs the test extra and ``haproxy``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncssh

from tests.integration.balancer import haproxy
from tests.integration.gateway_process import Account, GatewayProcess, make_account


def rss_mib(pid: int) -> float:
    """The process's resident memory now, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


async def open_sessions(port: int, account: Account, count: int, pid: int
                        ) -> tuple[float, float, list[str]]:
    """Open ``count`` SFTP sessions at once; seconds to open them all, the RSS then, and
    the errors of those that failed."""
    async def one() -> asyncssh.SSHClientConnection:
        conn = await asyncssh.connect(
            "127.0.0.1", port, username=account.name, client_keys=[str(account.key_file)],
            known_hosts=None, agent_path=None, connect_timeout=120, login_timeout=120)
        await conn.start_sftp_client()
        return conn

    started = time.monotonic()
    results = await asyncio.gather(*(one() for _ in range(count)), return_exceptions=True)
    elapsed = time.monotonic() - started
    rss = rss_mib(pid)
    conns = [result for result in results if isinstance(result, asyncssh.SSHClientConnection)]
    failures = [repr(result) for result in results if isinstance(result, BaseException)]
    for conn in conns:
        conn.close()
    await asyncio.gather(*(conn.wait_closed() for conn in conns))
    return elapsed, rss, failures


def gateway_for(root: Path, alpha: Account, mode: str, sessions: int) -> GatewayProcess:
    """A gateway (not started) in ``root`` with room for ``sessions`` concurrent logins."""
    gateway = GatewayProcess(root=root, sandbox_url="http://127.0.0.1:9", smtp_port=9,
                             accounts=[alpha], quiet_seconds=3600)
    gateway.sftp_options = [f'proxy_protocol = "{mode}"', 'proxy_networks = ["127.0.0.1/32"]',
                            f"max_unauthenticated_per_address = {sessions * 2}"]
    gateway.intake_options = {"alpha": [f"max_sessions = {sessions * 2}"]}
    return gateway


def measure(gateway: GatewayProcess, ports: dict[str, int], sessions: int,
            rounds: int) -> None:
    """Start ``gateway``, open ``sessions`` through each of ``ports`` per round, print."""
    gateway.start()
    assert gateway.process is not None
    try:
        for round_number in range(1, rounds + 1):
            for label, port in ports.items():
                elapsed, rss, failures = asyncio.run(open_sessions(
                    port, gateway.accounts[0], sessions, gateway.process.pid))
                print(f"round {round_number} {label:22s} {sessions} sessions opened in "
                      f"{elapsed:.1f} s, gateway RSS {rss:.0f} MiB, {len(failures)} failed "
                      f"{sorted(set(failures))[:3]}", flush=True)
    finally:
        gateway.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (logs)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="proxy-bench-") as folder:
        root = args.keep or Path(folder)
        alpha = make_account("alpha", root)
        (root / "off").mkdir()
        plain = gateway_for(root / "off", alpha, "off", args.sessions)
        with haproxy(root / "off", plain.sftp_port) as balancer:
            measure(plain, {"off, direct": plain.sftp_port,
                            "off, HAProxy no header": balancer.plain_port},
                    args.sessions, args.rounds)
        (root / "optional").mkdir()
        gated = gateway_for(root / "optional", alpha, "optional", args.sessions)
        with haproxy(root / "optional", gated.sftp_port) as balancer:
            measure(gated, {"optional, direct": gated.sftp_port,
                            "optional, HAProxy v2": balancer.v2_port}, args.sessions,
                    args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
