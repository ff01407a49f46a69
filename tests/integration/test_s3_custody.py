"""The gateway process with its payloads in a real S3 server (SeaweedFS on loopback): an SFTP
upload goes through to a sandbox import, and the upload, the batch zip, Canvas's errors CSV
and the archive live in the bucket, not on the data volume."""

from __future__ import annotations

import secrets
import subprocess
import sys

from gateway.sandbox.server import CanvasSandbox
from tests.integration.gateway_process import REPO, Account, GatewayProcess, wait_for
from tests.integration.sftp_clients import openssh_put
from tests.s3_server import S3Server

SAMPLES = REPO / "config" / "samples"


def _objects(server: S3Server, prefix: str) -> dict[str, bytes]:
    client = server.client()
    listed = client.list_objects_v2(Bucket=server.bucket, Prefix=prefix).get("Contents", [])
    return {item["Key"].removeprefix(prefix): client.get_object(
        Bucket=server.bucket, Key=item["Key"])["Body"].read() for item in listed}


def test_an_upload_reaches_canvas_with_its_payloads_in_the_bucket(
        gateway: GatewayProcess, sandbox: CanvasSandbox, alpha: Account,
        s3_server: S3Server) -> None:
    prefix = f"cluster-{secrets.token_hex(4)}"
    gateway.extra_config += [
        "[cluster.objects]", f'bucket = "{s3_server.bucket}"',
        f'endpoint_url = "{s3_server.endpoint_url}"', f'prefix = "{prefix}"',
        'access_key_id_env = "TEST_S3_KEY"', 'secret_access_key_env = "TEST_S3_SECRET"']
    gateway.env.update(TEST_S3_KEY=s3_server.access_key, TEST_S3_SECRET=s3_server.secret_key)
    gateway.start()

    # Rows Canvas warns about: its errors CSV is streamed to scratch and put in the bucket.
    users = (SAMPLES / "users-with-warnings.csv").read_bytes()
    openssh_put(gateway.sftp_port, alpha, [SAMPLES / "users-with-warnings.csv"])

    [imported] = wait_for(lambda: [i for i in sandbox.imports("1") if i["workflow_state"]
                                   == "imported_with_messages"], 30, "the import")
    [posted] = sandbox.payloads("1")
    def archive() -> dict[str, bytes]:
        found = _objects(s3_server, f"{prefix}/archive/alpha/batch-000001/")
        return found if "history.json" in found else {}

    archived = wait_for(archive, 30, "the archive")
    kept = _objects(s3_server, f"{prefix}/")
    assert kept["batches/00000001.zip"] == posted  # the bytes Canvas received
    [upload] = [name for name in kept if name.startswith("uploads/")]
    assert kept[upload] == users
    assert archived["sent-to-canvas.zip"] == posted
    assert archived["received/01-users-with-warnings.csv"] == users
    errors = kept["batches/00000001.errors.csv"].decode()
    assert errors.splitlines()[1].startswith(f"{imported['id']},")  # this import's rows
    assert archived["canvas-errors.csv"] == kept["batches/00000001.errors.csv"]
    spool = gateway.data_dir / "spool"
    assert list((spool / "uploads").iterdir()) == []  # nothing kept locally
    assert list((spool / "batches").iterdir()) == []
    assert not (gateway.data_dir / "archive").exists()
    assert imported["id"] == gateway.store().batch(1).import_id

    check = subprocess.run(
        [sys.executable, "-m", "gateway", "check", "payloads", "--config",
         str(gateway.config_path)], capture_output=True, text=True, cwd=REPO,
        env={"TEST_S3_KEY": s3_server.access_key, "TEST_S3_SECRET": s3_server.secret_key,
             "PATH": "/usr/bin:/bin"}, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"s3://{s3_server.bucket}/{prefix}/" in check.stdout
    assert gateway.stop() == 0
    assert s3_server.secret_key not in gateway.logs()
