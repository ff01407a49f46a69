"""Settings of the S3-compatible object storage that keeps payloads in cluster mode
(``[cluster.objects]``).  Credentials never live in the TOML: they come from environment
variables or files (``*_env`` / ``*_file``, like Canvas tokens), or, with neither, from the
default AWS chain (``AWS_*`` variables, an instance or pod role)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


class ObjectStoreSettings(BaseModel):
    """Where and how payloads are put into a bucket (see the README's Configuration)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bucket: str
    endpoint_url: str | None = None
    region: str = "us-east-1"
    prefix: str = ""
    addressing_style: Literal["path", "virtual", "auto"] = "path"
    access_key_id_env: str | None = None
    access_key_id_file: Path | None = None
    secret_access_key_env: str | None = None
    secret_access_key_file: Path | None = None
    orphan_grace_seconds: float = Field(default=3600.0, ge=60.0)
    multipart_threshold_mib: int = Field(default=64, ge=5, le=5 * 1024)
    part_size_mib: int = Field(default=16, ge=5, le=5 * 1024)

    @field_validator("bucket")
    @classmethod
    def _check_bucket(cls, value: str) -> str:
        if not _BUCKET.match(value) or ".." in value:
            raise ValueError("must be an S3 bucket name: 3-63 lower-case letters, digits, "
                             "'.' and '-', starting and ending with a letter or digit")
        return value

    @field_validator("endpoint_url")
    @classmethod
    def _check_endpoint(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s):// URL such as https://s3.example.edu")
        # Every request is signed with the secret key and carries the payloads in clear.
        if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
            raise ValueError("must use https:// (plain http only to a loopback host such as "
                             "a local test server): the payloads would travel in clear")
        return value.rstrip("/")

    @field_validator("prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        parts = [part for part in value.strip("/").split("/") if part]
        if any(part in (".", "..") or part.startswith(".") for part in parts):
            raise ValueError("must be a plain key prefix such as 'gateway/prod' (no '.' or "
                             "'..' parts)")
        return "/".join(parts)

    @model_validator(mode="after")
    def _credentials_in_pairs(self) -> ObjectStoreSettings:
        key = self.access_key_id_env or self.access_key_id_file
        secret = self.secret_access_key_env or self.secret_access_key_file
        if bool(key) != bool(secret):
            raise ValueError("set both access_key_id_env/_file and secret_access_key_env/"
                             "_file, or neither (then the default AWS credential chain is "
                             "used)")
        return self
