"""SFTP intake throughput: the gateway against OpenSSH's own internal-sftp, same client, same run.

    python bench/sftp_throughput.py [--size-mib 1024] [--rounds 5] [--ciphers C1,C2]
                                    [--small 5000] [--concurrent 200] [--also NAME=DIR]

1. For each cipher of ``--ciphers`` (default AES-GCM and chacha20-poly1305), uploads one file
   of ``--size-mib`` with the OpenSSH ``sftp`` client (``-c CIPHER``) into the gateway and into
   a second ``sshd`` on a loopback port (its own config, ``internal-sftp``), alternating,
   ``--rounds`` times each; prints the medians in MB/s (10^6 bytes per second), their ratio,
   and each server's CPU seconds per GiB (the gateway process; sshd's reaped session
   processes), per run and their median, and the ratios to sshd of MB/s and of CPU per GiB
   (also the median of each round's CPU ratio: a round's uploads see about the same load).
   A gateway upload is complete only when it is durable (fsync), hashed and recorded;
   internal-sftp does neither.  Every upload, into either server, is a new file kept until
   the end (removing sshd's files after one cipher's rounds would hand it freed blocks for
   the next cipher's): the gateway keeps its waiting uploads, and writing into blocks
   a just-removed file freed costs a fraction of writing into new ones on some disks (on
   this machine's virtual disk 0.2 against 2.4 s of system CPU per GiB for the same
   ``pwrite`` loop), so removing sshd's file before its next upload measured the disk, not
   the servers.  Needs free disk for all of a cipher's uploads (checked first).
   ``--also NAME=DIR`` (repeatable) runs the gateway of another source tree too (a worktree
   of the commit before a change), interleaved with the others, so before and after are
   measured under the same load.
2. ``--small`` sequential uploads of a 1 KiB file with one asyncssh client session (the same
   client and cipher for both servers), into the gateway (with batching held off, so every
   upload stays waiting) and into sshd, alternating in windows of 200; prints the mean time
   per upload of each window for both.
3. Starts ``--concurrent`` sftp clients at once, each uploading its own 1 MiB file to the
   gateway; prints the wall time, the number of failed uploads and the gateway's peak RSS.

The machine may be shared: runs are interleaved and medians taken, so both servers see the
same load; the spread of the runs is printed too.  Needs the OpenSSH client and server
(``apt-get install openssh-client openssh-server``) and a free loopback; everything runs on
127.0.0.1 and is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import asyncssh

REPO = Path(__file__).resolve().parents[1]
CLIENT_OPTIONS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                  "-o", "BatchMode=yes", "-o", "LogLevel=ERROR"]
MB = 1_000_000
DEFAULT_CIPHERS = "aes128-gcm@openssh.com,chacha20-poly1305@openssh.com"
WINDOW = 200


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    """Block until something accepts connections on ``port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s")


def make_file(path: Path, size: int) -> None:
    """Write ``size`` random bytes (incompressible, like a real transfer's worst case)."""
    chunk = os.urandom(1 << 20)
    with open(path, "wb") as handle:
        for _ in range(size // len(chunk)):
            handle.write(chunk)
        handle.write(chunk[: size % len(chunk)])


def client_key(work: Path) -> tuple[Path, str]:
    """An ed25519 key pair for the client; returns the private key path and public line."""
    key = work / "client_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                   check=True)
    return key, (work / "client_ed25519.pub").read_text().strip()


@contextmanager
def gateway(work: Path, public_key: str, port: int, source: Path = REPO
            ) -> Iterator[subprocess.Popen[bytes]]:
    """The gateway of the source tree ``source`` as a subprocess with default [sftp] settings
    but the per-address cap on connections logging in (all clients are on 127.0.0.1), and a
    bench institution."""
    work.mkdir(exist_ok=True)
    config = work / "gateway.toml"
    config.write_text("\n".join([
        f'data_dir = "{work / "gateway-data"}"',
        "[sftp]", 'host = "127.0.0.1"', f"port = {port}",
        "max_unauthenticated_per_address = 1000",  # every client connects from 127.0.0.1
        "[http]", f"port = {free_port()}",  # not 8080: another gateway may be running
        "[batching]", "quiet_seconds = 86400",  # keep the sorter idle during the runs
        "[sandbox]", "enabled = true",
        "[institutions.bench]", f'authorized_keys = ["{public_key}"]', "max_sessions = 1000",
        f"max_pending_bytes = {1 << 40}",  # every upload waits (a new file each)
        "[institutions.bench.canvas]", 'base_url = "embedded-sandbox"', 'account_id = "1"',
    ]) + "\n")
    log = open(work / "gateway.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--config",
                                str(config), "--log-level", "WARNING"],
                               stdout=log, stderr=subprocess.STDOUT, cwd=source)
    try:
        wait_for_port(port)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
        log.close()


@contextmanager
def openssh_server(work: Path, public_key: str, port: int
                   ) -> Iterator[subprocess.Popen[bytes]]:
    """A second sshd on loopback with its own config, serving internal-sftp."""
    folder = work / "sshd"
    folder.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                    str(folder / "host_key")], check=True)
    (folder / "authorized_keys").write_text(public_key + "\n")
    (folder / "sshd_config").write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {folder / 'host_key'}",
        f"AuthorizedKeysFile {folder / 'authorized_keys'}", "StrictModes no", "UsePAM no",
        "PasswordAuthentication no", f"PidFile {folder / 'sshd.pid'}",
        "Subsystem sftp internal-sftp",
    ]) + "\n")
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
    process = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f",
                                str(folder / "sshd_config")],
                               stderr=open(folder / "sshd.log", "wb"))  # noqa: SIM115
    try:
        wait_for_port(port)
        yield process
    finally:
        process.terminate()
        process.wait(10)


def upload(port: int, user: str, key: Path, local: Path, remote: str, *, cipher: str) -> float:
    """Upload ``local`` to ``remote`` with ``sftp -b`` and ``cipher``; return the seconds."""
    started = time.perf_counter()
    done = subprocess.run(["sftp", "-b", "-", "-P", str(port), "-i", str(key), "-c", cipher,
                           *CLIENT_OPTIONS, f"{user}@127.0.0.1"],
                          input=f'put "{local}" "{remote}"\n', capture_output=True,
                          text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"upload to port {port} failed: {done.stderr.strip()}")
    return elapsed


def cpu_seconds(pid: int, *, reaped_children: bool) -> float:
    """CPU time of process ``pid`` (user + system; with ``reaped_children``, also that of
    the children it has waited for: sshd's session processes)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(value) for value in fields[11:15 if reaped_children else 13])
    return ticks / os.sysconf("SC_CLK_TCK")


def compare(work: Path, key: Path, servers: dict[str, tuple[int, int]], size: int, *,
            rounds: int, cipher: str) -> None:
    """Alternate gateway and internal-sftp uploads with ``cipher``; print medians, ratio
    and CPU per GiB."""
    big = work / "big.bin"
    if not big.exists():
        make_file(big, size)
    targets = work / "openssh-targets"
    targets.mkdir(exist_ok=True)
    needed = size * rounds * len(servers) + (1 << 30)
    if shutil.disk_usage(work).free < needed:  # earlier ciphers' files are still there
        sys.exit(f"not enough free disk in {work} for {rounds} rounds of {len(servers)} "
                 f"uploads of {size >> 20} MiB (each a new file): {needed >> 30} GiB needed")
    times: dict[str, list[float]] = {name: [] for name in servers}
    cpu: dict[str, list[float]] = {name: [] for name in servers}
    for number in range(rounds):
        for name, (port, pid) in servers.items():
            sshd = name == "openssh"
            file_name = f"{cipher}-{number}.bin"
            user, remote = ((getpass.getuser(), str(targets / file_name)) if sshd
                            else ("bench", f"inbox/{file_name}"))
            before = cpu_seconds(pid, reaped_children=sshd)
            times[name].append(upload(port, user, key, big, remote, cipher=cipher))
            time.sleep(0.3)  # sshd reaps its session processes
            cpu[name].append(cpu_seconds(pid, reaped_children=sshd) - before)
    rates = {name: size / statistics.median(spent) / MB for name, spent in times.items()}
    print(f"{size >> 20} MiB upload, {cipher}, median of {rounds} (OpenSSH sftp client):")
    width = max(len(name) for name in times)
    for name, spent in times.items():
        per_gib = statistics.median(cpu[name]) * (1 << 30) / size
        print(f"  {name:{width}} {rates[name]:7.1f} MB/s   server CPU {per_gib:4.2f} s/GiB   "
              "runs: " + ", ".join(f"{size / s / MB:.0f}" for s in spent)
              + "   CPU: " + ", ".join(f"{c * (1 << 30) / size:.2f}" for c in cpu[name]))
    for name in times:
        if name != "openssh":
            cpu_ratio = statistics.median(cpu[name]) / statistics.median(cpu["openssh"])
            paired = statistics.median(
                mine / theirs for mine, theirs in zip(cpu[name], cpu["openssh"], strict=True))
            print(f"  ratio {name}/openssh: {rates[name] / rates['openssh']:.2f} MB/s, "
                  f"{cpu_ratio:.2f} CPU per GiB (median of the rounds' ratios: {paired:.2f})",
                  flush=True)


async def small_uploads(work: Path, key: Path, servers: dict[str, tuple[int, int]],
                        count: int) -> None:
    """``count`` sequential 1 KiB uploads per server with one asyncssh session each,
    alternating windows of ``WINDOW``; print the mean per upload of each window."""
    small = work / "small.csv"
    small.write_bytes(b"user_id,login_id,status\n" + b"u,u,active\n" * 90)
    (work / "small-target").mkdir()
    sessions = {}
    for name, (port, _) in {name: servers[name] for name in ("gateway", "openssh")}.items():
        user = "bench" if name == "gateway" else getpass.getuser()
        conn = await asyncssh.connect("127.0.0.1", port, username=user,
                                      client_keys=[str(key)], known_hosts=None,
                                      agent_path=None,
                                      encryption_algs=["aes128-gcm@openssh.com"])
        sessions[name] = (conn, await conn.start_sftp_client())
    print(f"{count} sequential 1 KiB uploads (asyncssh client, aes128-gcm), ms per upload:")
    print(f"  {'uploads':>13} {'gateway':>8} {'openssh':>8}")
    for start in range(0, count, WINDOW):
        means = []
        for name, (_, sftp) in sessions.items():
            folder = "inbox" if name == "gateway" else str(work / "small-target")
            started = time.perf_counter()
            for number in range(start, min(start + WINDOW, count)):
                await sftp.put(str(small), f"{folder}/u{number:05d}.csv")
            means.append((time.perf_counter() - started) * 1000 / WINDOW)
        print(f"  {start + 1:>6}-{min(start + WINDOW, count):<6} {means[0]:8.2f} "
              f"{means[1]:8.2f}", flush=True)
    for conn, _ in sessions.values():
        conn.close()


def concurrent(work: Path, key: Path, port: int, count: int, pid: int) -> None:
    """``count`` sftp clients at once, 1 MiB each; print wall time, errors, peak RSS."""
    files = []
    for number in range(count):
        path = work / f"small-{number:03d}.bin"
        make_file(path, 1 << 20)
        files.append(path)
    started = time.perf_counter()
    clients = [subprocess.Popen(["sftp", "-b", "-", "-P", str(port), "-i", str(key),
                                 *CLIENT_OPTIONS, "bench@127.0.0.1"],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL) for _ in files]
    for client, path in zip(clients, files, strict=True):
        assert client.stdin is not None
        client.stdin.write(f'put "{path}" inbox/\n'.encode())
        client.stdin.close()
    errors = sum(client.wait(300) != 0 for client in clients)
    wall = time.perf_counter() - started
    print(f"{count} concurrent 1 MiB uploads: wall {wall:.1f} s, errors {errors}, "
          f"gateway peak RSS {peak_rss_mib(pid):.0f} MiB")


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set size (VmHWM) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _named_tree(option: str) -> tuple[str, Path]:
    """``NAME=DIR`` of ``--also``, checked."""
    name, _, folder = option.partition("=")
    source = Path(folder).resolve()
    if not name or name in ("gateway", "openssh") or not (source / "gateway").is_dir():
        raise SystemExit(f"--also {option}: give NAME=DIR, NAME not gateway or openssh, DIR "
                         "a source tree of the gateway (with a gateway/ package)")
    return name, source


def main() -> None:
    """Run the measurements and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--ciphers", default=DEFAULT_CIPHERS)
    parser.add_argument("--small", type=int, default=5000)
    parser.add_argument("--concurrent", type=int, default=200)
    parser.add_argument("--also", action="append", default=[], metavar="NAME=DIR",
                        help="also run the gateway of source tree DIR (a git worktree of "
                             "another commit: before and after a change), interleaved in the "
                             "large uploads, printed as NAME")
    args = parser.parse_args()
    others = dict(_named_tree(option) for option in args.also)
    work = Path(tempfile.mkdtemp(prefix="sftp-bench-"))
    try:
        key, public = client_key(work)
        ports = (free_port(), free_port())
        with gateway(work, public, ports[0]) as process, \
                openssh_server(work, public, ports[1]) as sshd, ExitStack() as stack:
            servers = {"gateway": (ports[0], process.pid), "openssh": (ports[1], sshd.pid)}
            for name, source in others.items():
                port = free_port()
                other = stack.enter_context(gateway(work / name, public, port, source))
                servers[name] = (port, other.pid)
            for cipher in filter(None, args.ciphers.split(",")):
                compare(work, key, servers, args.size_mib << 20, rounds=args.rounds,
                        cipher=cipher)
            if args.small:
                asyncio.run(small_uploads(work, key, servers, args.small))
            if args.concurrent:
                concurrent(work, key, ports[0], args.concurrent, process.pid)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
