"""One-shot set-up of the cluster trial stack (docker/compose.cluster.yaml), run as root
before the nodes start: the SFTP host key both nodes present (made once, owned by the
gateway user, uid 10001), and the bucket (the gateway never creates its own bucket)."""

import os
import time
from pathlib import Path

import asyncssh
import boto3

KEY = Path("/keys/ssh_host_ed25519_key")
GATEWAY_UID = 10001  # the image's `gateway` user (Dockerfile)

if not KEY.exists():
    KEY.write_bytes(asyncssh.generate_private_key("ssh-ed25519").export_private_key())
os.chown(KEY, GATEWAY_UID, GATEWAY_UID)
KEY.chmod(0o600)

s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:8333", region_name="us-east-1")
for _ in range(120):  # SeaweedFS takes a few seconds to accept its first request
    try:
        s3.create_bucket(Bucket="sis-gateway")
        break
    except s3.exceptions.BucketAlreadyOwnedByYou:
        break
    except Exception:  # noqa: BLE001 (not up yet: try again)
        time.sleep(1)
else:
    raise SystemExit("the S3 server never answered")
