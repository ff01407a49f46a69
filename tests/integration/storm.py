"""A crash storm: the real gateway SIGKILLed at random moments while vendors upload and
Canvas misbehaves, then the end state checked upload by upload.

Three institutions share one Canvas account and one API token (the hardest case for
recognising the gateway's own imports: same user, same options).  Each upload is a users.csv
with one row whose ``user_id`` is unique to the upload and try (``alpha-00042-1``); an upload
counts once the client's close was acknowledged.  A try whose acknowledgement a kill cut is
sent again as a new try: it may have been received too, and then it is imported once.
Canvas (the sandbox, in the test process, so it outlives every kill) answers POSTs with 5xx
after creating the import, resets connections after creating it, resets before reading it,
all seeded.

At the end every acknowledged upload must be in an import Canvas imported (0 lost), no try
in two (0 duplicated), each institution's tries in the order sent across imports (0
reordered), and no batch held.  Used by tests/integration/test_storm.py (CI size) and
bench/storm.py.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import random
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from gateway.sandbox import ErrorFault, Faults, RequestFault
from gateway.sandbox.server import CanvasSandbox
from gateway.state.states import BatchState
from tests.integration.gateway_process import Account, GatewayProcess, make_account, wait_for
from tests.integration.mail_server import free_port

INSTITUTIONS = ("alpha", "beta", "gamma")
TOKEN = "storm-canvas-token"
SUCCESS = {"imported", "imported_with_messages"}


@dataclass(frozen=True)
class StormPlan:
    """How big and how hostile the storm is."""

    uploads: int = 300  # acknowledged uploads wanted, over all institutions
    kills: int = 50  # SIGKILLs wanted
    seed: int = 7
    kill_every: tuple[float, float] = (0.4, 2.0)  # seconds of uptime between kills
    fault_rate: float = 0.08  # per kind: 5xx-after-create, reset-after, reset-before, GET 5xx


@dataclass
class StormResult:
    """What happened, and what the end state shows."""

    kills: int = 0
    acknowledged: int = 0
    failed_uploads: int = 0  # uploads cut by a kill (not acknowledged; sent again)
    imports: int = 0
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    reordered: list[str] = field(default_factory=list)
    held: list[int] = field(default_factory=list)
    faults_fired: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> str:
        return (f"kills={self.kills} acknowledged={self.acknowledged} "
                f"cut={self.failed_uploads} imports={self.imports} lost={len(self.lost)} "
                f"duplicated={len(self.duplicated)} reordered={len(self.reordered)} "
                f"held={len(self.held)} faults={self.faults_fired} "
                f"seconds={self.seconds:.0f}")


class _Uploader(threading.Thread):
    """One institution's vendor: bursts of 1-3 users.csv uploads, each retried until its
    close is acknowledged (a kill cuts the session; the file is sent again afterwards)."""

    def __init__(self, name: str, gateway: GatewayProcess, folder: Path, quota: int,
                 rng: random.Random, stop: threading.Event) -> None:
        super().__init__(name=f"uploader-{name}", daemon=True)
        self.institution = name
        self.acknowledged: list[str] = []
        self.cut = 0
        self._gateway, self._folder, self._quota = gateway, folder, quota
        self._rng, self._halt = rng, stop
        self._account = next(a for a in gateway.accounts if a.name == name)
        self._session: tuple[paramiko.SSHClient, paramiko.SFTPClient] | None = None

    def run(self) -> None:
        number = 0
        while len(self.acknowledged) < self._quota and not self._halt.is_set():
            for _ in range(self._rng.randint(1, 3)):
                number += 1
                self._upload_until_acknowledged(f"{self.institution}-{number:05d}")
            self._close()
            time.sleep(self._rng.uniform(0.6, 1.2))  # quiet: the burst becomes a batch

    def _upload_until_acknowledged(self, number: str) -> None:
        """Send upload ``number`` until its close is acknowledged.  Each try carries its own
        marker (``alpha-00042-2``): a try whose acknowledgement a kill cut may still have
        been received, and then it is rightly imported too; no marker may be imported
        twice."""
        for attempt in itertools.count(1):
            if self._halt.is_set():
                return
            marker = f"{number}-{attempt}"
            local = self._folder / f"{marker}.csv"
            local.write_text(f"user_id,login_id,status\n{marker},{marker},active\n")
            try:
                _, sftp = self._connected()
                sftp.put(str(local), f"inbox/users-{marker}.csv", confirm=False)
            except (OSError, EOFError, paramiko.SSHException):
                self.cut += 1
                self._close()
                time.sleep(0.2)
                continue
            self.acknowledged.append(marker)
            return

    def _connected(self) -> tuple[paramiko.SSHClient, paramiko.SFTPClient]:
        if self._session is None:
            client = paramiko.SSHClient()
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
            client.connect("127.0.0.1", port=self._gateway.sftp_port,
                           username=self._account.name, password=self._account.password,
                           look_for_keys=False, allow_agent=False, timeout=5,
                           banner_timeout=5, auth_timeout=5)
            self._session = (client, client.open_sftp())
        return self._session

    def _close(self) -> None:
        if self._session is not None:
            client, sftp = self._session
            self._session = None
            for closing in (sftp.close, client.close):
                with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
                    closing()


def _faults(plan: StormPlan) -> Faults:
    rate = plan.fault_rate
    return Faults(seed=plan.seed,
                  errors=ErrorFault(rate=rate, methods=("POST",), after=True),
                  reset_after=RequestFault(rate=rate, methods=("POST",)),
                  reset_before=RequestFault(rate=rate))


def _markers(payload: bytes) -> list[str]:
    """The user ids in a posted zip, in file order."""
    found = []
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        for name in archive.namelist():
            rows = csv.DictReader(io.StringIO(archive.read(name).decode("utf-8-sig")))
            found += [row["user_id"] for row in rows]
    return found


def _upload_order(marker: str) -> tuple[int, int]:
    """(upload number, try) of a marker such as ``alpha-00042-2``."""
    _, number, attempt = marker.split("-")
    return int(number), int(attempt)


def _judge(result: StormResult, sandbox: CanvasSandbox, gateway: GatewayProcess,
           acknowledged: dict[str, list[str]]) -> None:
    imports, payloads = sandbox.imports("1"), sandbox.payloads("1")
    result.imports = len(imports)
    seen: dict[str, int] = {}
    order: dict[str, list[str]] = {name: [] for name in INSTITUTIONS}
    for item, payload in zip(imports, payloads, strict=True):
        if item["workflow_state"] not in SUCCESS:
            continue
        for marker in _markers(payload):
            seen[marker] = seen.get(marker, 0) + 1
            order[marker.split("-")[0]].append(marker)
    every = [m for markers in acknowledged.values() for m in markers]
    result.lost = [m for m in every if m not in seen]
    result.duplicated = sorted(m for m, count in seen.items() if count > 1)
    for name, markers in order.items():
        if markers != sorted(markers, key=_upload_order):
            result.reordered.append(name)
    result.held = [b.id for b in gateway.store().batches()
                   if b.state in (BatchState.HELD, BatchState.FAILED)]


def _settled(gateway: GatewayProcess, acknowledged: dict[str, list[str]]) -> bool:
    store = gateway.store()
    uploads = store.uploads()
    if len(uploads) < sum(len(m) for m in acknowledged.values()):
        return False
    return all(b.state in (BatchState.IMPORTED, BatchState.IMPORTED_WITH_MESSAGES,
                           BatchState.HELD, BatchState.FAILED, BatchState.REJECTED)
               for b in store.batches()) and all(u.batch_id is not None for u in uploads)


def run_storm(plan: StormPlan, root: Path, log: Callable[[str], None] = print) -> StormResult:
    """Run one storm in ``root`` (a scratch folder) and return what it found."""
    started = time.monotonic()
    rng = random.Random(plan.seed)
    accounts = [make_account(name, root) for name in INSTITUTIONS]
    result = StormResult()
    with CanvasSandbox(accounts={"1": TOKEN}, processing_seconds=0.05) as sandbox:
        sandbox.faults = _faults(plan)
        gateway = GatewayProcess(root=root, sandbox_url=sandbox.base_url,
                                 smtp_port=free_port(), accounts=accounts, token=TOKEN,
                                 quiet_seconds=0.3)
        gateway.start()
        try:
            _storm(plan, gateway, accounts, sandbox, rng, result, log)
        finally:
            if gateway.process is not None:
                gateway.kill()
    result.seconds = time.monotonic() - started
    return result


def _storm(plan: StormPlan, gateway: GatewayProcess, accounts: list[Account],
           sandbox: CanvasSandbox, rng: random.Random, result: StormResult,
           log: Callable[[str], None]) -> None:
    """Upload and kill until the plan is met, then let the gateway settle and judge."""
    root = gateway.root
    stop = threading.Event()
    quota = -(-plan.uploads // len(INSTITUTIONS))
    uploaders = [_Uploader(a.name, gateway, root, quota, random.Random(rng.random()), stop)
                 for a in accounts]
    for uploader in uploaders:
        uploader.start()
    try:
        while any(u.is_alive() for u in uploaders) or result.kills < plan.kills:
            time.sleep(rng.uniform(*plan.kill_every))
            gateway.kill()
            result.kills += 1
            gateway.start()
            if result.kills % 10 == 0:
                log(f"storm: {result.kills} kills, "
                    f"{sum(len(u.acknowledged) for u in uploaders)} acknowledged")
    finally:
        stop.set()
        for uploader in uploaders:
            uploader.join(30)
    acknowledged = {u.institution: u.acknowledged for u in uploaders}
    result.acknowledged = sum(len(m) for m in acknowledged.values())
    result.failed_uploads = sum(u.cut for u in uploaders)
    result.faults_fired = sandbox.faults_fired()
    sandbox.faults = Faults()  # the storm is over: let the last imports through
    wait_for(lambda: _settled(gateway, acknowledged), 180, "the gateway to settle")
    _judge(result, sandbox, gateway, acknowledged)
    gateway.stop()
