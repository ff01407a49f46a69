"""Typed, validated settings: the sections of the config and the secrets they name.

Where the values come from (the TOML file, ``institutions.d/NAME.toml`` drop-in files and
``GATEWAY_...`` environment variables) is :mod:`gateway.settings_files`'s business: loading
either returns a complete :class:`Settings` or raises :class:`ConfigError` naming the file
or variable, the key and what is wrong, so a bad config stops the gateway at start, never
later.  Secret values (Canvas tokens, SMTP passwords) are read from the environment variable
or file the config names, and are held as :class:`pydantic.SecretStr` so they never print.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from gateway.exports.config import ExportSettings, ExportsSettings
from gateway.intake.config import IntakeOptions, SftpSettings
from gateway.sorting.config import SortingOptions
from gateway.state.objects_config import ObjectStoreSettings

EMBEDDED_SANDBOX = "embedded-sandbox"
"""A Canvas ``base_url`` that means "the Canvas simulator running inside this process"."""

ENV_PREFIX = "GATEWAY_"
ENV_DELIMITER = "__"
_LOOPBACK_NAMES = frozenset({"localhost"})
_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_VARIABLE_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ADDRESS_PATTERN = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+$")


def valid_name(name: str) -> bool:
    """Whether ``name`` may name an institution (and so its folder and drop-in file)."""
    return bool(_NAME_PATTERN.match(name))


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file, the key and the fix."""


def loopback_host(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine: plain http is safe only there."""
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def reachable_host(host: str) -> str:
    """The address (URL form) to reach, from this machine, a listener bound to ``host``."""
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 - compared against, never bound
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BatchingSettings(_Section):
    """How uploads are grouped into batches."""

    quiet_seconds: float = Field(default=30.0, ge=0.0, le=86400.0)
    workers: int = Field(default=4, ge=1, le=64)
    """Institutions sorted (validated, batched) side by side; the daemon uses at most the
    machine's cores (``sorting_workers``)."""

    def sorting_workers(self, cores: int | None) -> int:
        """The sorter's threads: ``workers``, never more than ``cores`` (unknown: one)."""
        return max(1, min(self.workers, cores or 1))


class ForwardingSettings(_Section):
    """How batches are sent to Canvas and followed until they finish."""

    workers: int = Field(default=4, ge=1, le=64)
    request_timeout_seconds: float = Field(default=60.0, gt=0.0)
    poll_initial_seconds: float = Field(default=2.0, gt=0.0)
    poll_max_seconds: float = Field(default=30.0, gt=0.0)
    retry_initial_seconds: float = Field(default=5.0, gt=0.0)
    retry_max_seconds: float = Field(default=600.0, gt=0.0)
    max_recoveries: int = Field(default=3, ge=1)
    retry_lifetime_seconds: float = Field(default=24 * 3600.0, gt=0.0)
    reconcile_grace_seconds: float = Field(default=30.0, ge=0.0)
    max_import_seconds: float = Field(default=4 * 3600.0, gt=0.0)
    errors_file_wait_seconds: float = Field(default=300.0, ge=0.0)
    abort_after_max_wait: bool = False


class SmtpSettings(_Section):
    """An SMTP relay for reports."""

    host: str
    port: int = Field(default=25, ge=1, le=65535)
    security: Literal["plain", "starttls", "tls"] = "starttls"
    username: str | None = None
    password_env: str | None = None
    password_file: Path | None = None
    timeout_seconds: float = Field(default=30.0, gt=0.0)

    @model_validator(mode="after")
    def _login_is_complete(self) -> SmtpSettings:
        has_password = bool(self.password_env or self.password_file)
        if bool(self.username) != has_password:
            raise ValueError("username and password_env/password_file go together")
        return self


def _check_address(address: str) -> str:
    """A mail address: one line, one @, no spaces (header injection stops here)."""
    if not _ADDRESS_PATTERN.match(address):
        raise ValueError(f"{address!r} is not a mail address like name@example.edu")
    return address


Address = Annotated[str, AfterValidator(_check_address)]


class MailSettings(_Section):
    """Where reports go: an SMTP relay, or .eml files in ``<data>/mail`` when none is set."""

    sender: Address = "sis-gateway@localhost"
    ops: list[Address] = Field(default_factory=list)
    smtp: SmtpSettings | None = None
    retry_initial_seconds: float = Field(default=30.0, gt=0.0)
    retry_max_seconds: float = Field(default=1800.0, gt=0.0)
    lifetime_seconds: float = Field(default=5 * 86400.0, gt=0.0)
    ops_alert_interval_seconds: float = Field(default=900.0, ge=0.0)


WebhookEvent = Literal["batch_held", "batch_failed", "import_overdue", "duplicate_import",
                       "report_undeliverable", "gateway_error"]
WEBHOOK_EVENTS: tuple[WebhookEvent, ...] = (
    "batch_held", "batch_failed", "import_overdue", "duplicate_import", "report_undeliverable",
    "gateway_error")
"""What a webhook can be told of: every event an operator must act on."""


class WebhookSettings(_Section):
    """``[[webhooks]]``: a URL told of the events ops must act on, through the outbox.

    The URL is a secret (Slack's and Teams' carry their key in the path): it is read from
    ``url_env`` or ``url_file`` and never logged.  ``https://`` is required except on a
    loopback host.
    """

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    format: Literal["json", "slack", "teams"] = "json"
    url_env: str | None = None
    url_file: Path | None = None
    events: list[WebhookEvent] = Field(default_factory=lambda: list(WEBHOOK_EVENTS))
    timeout_seconds: float = Field(default=10.0, gt=0.0, le=120.0)
    retry_initial_seconds: float = Field(default=10.0, gt=0.0)
    retry_max_seconds: float = Field(default=900.0, gt=0.0)
    lifetime_seconds: float = Field(default=2 * 86400.0, gt=0.0)

    @model_validator(mode="after")
    def _one_source(self) -> WebhookSettings:
        if bool(self.url_env) == bool(self.url_file):
            raise ValueError(f"webhook {self.name!r}: set exactly one of url_env or url_file")
        return self


class CanvasSettings(_Section):
    """One institution's Canvas target.  The token comes from an env var or a file."""

    base_url: str
    account_id: str = "self"
    token_env: str | None = None
    token_file: Path | None = None

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if value == EMBEDDED_SANDBOX:
            return value
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"must be an https:// URL or {EMBEDDED_SANDBOX!r}")
        parts = urlsplit(value)
        # The token travels in every request's Authorization header.
        if parts.scheme == "http" and not loopback_host(parts.hostname or ""):
            raise ValueError("must use https:// (plain http only to a loopback host such as "
                             "a local test server): Canvas's token would travel in clear")
        return value.rstrip("/")


class InstitutionSettings(IntakeOptions):
    """One institution: its SFTP account and intake options (see gateway.intake.config),
    its Canvas target and who gets its reports."""

    username: str | None = None
    password_hash: str | None = None
    authorized_keys: list[str] = Field(default_factory=list)
    canvas: CanvasSettings
    report_to: list[Address] = Field(default_factory=list)
    report_cc: list[Address] = Field(default_factory=list)
    report_templates: Path | None = None
    sorting: SortingOptions = SortingOptions()
    time_zone: str = "UTC"
    exports: list[ExportSettings] = Field(default_factory=list)

    @field_validator("time_zone")
    @classmethod
    def _check_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone such as "
                             "'America/Chicago'") from None
        return value

    @field_validator("exports")
    @classmethod
    def _unique_exports(cls, value: list[ExportSettings]) -> list[ExportSettings]:
        names = [export.export_name for export in value]
        if len(set(names)) != len(names):
            raise ValueError("export names must be unique (each has its own /outbox folder); "
                             "set name on exports of the same report")
        return value

    @field_validator("password_hash")
    @classmethod
    def _check_hash(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("$argon2id$"):
            raise ValueError("must be an argon2id hash (make one with `gateway hash-password`)")
        return value


class ArchiveSettings(_Section):
    """How long ended batches keep their files (uploads, zip, Canvas answers, reports)."""

    retention_days: float = Field(default=90.0, gt=0.0)


class HttpSettings(_Section):
    """The HTTP port: health checks, Prometheus metrics and the read-only status page.

    Loopback by default because the status page has no login: publish it only to the
    network your monitoring lives on.  A connection whose request has not arrived whole
    within ``request_timeout_seconds`` (or that does not take its answer within as long) is
    closed; at most ``max_connections`` are served at once, further ones closed on arrival.
    """

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    request_timeout_seconds: float = Field(default=10.0, gt=0.0, le=300.0)
    max_connections: int = Field(default=64, ge=1, le=1024)


class StorageSettings(_Section):
    """The data volume: below ``min_free_mb`` free, new uploads are refused and /readyz fails,
    so the disk never fills up under work already accepted."""

    min_free_mb: int = Field(default=512, ge=0)

    @property
    def min_free_bytes(self) -> int:
        """The floor in bytes."""
        return self.min_free_mb * 1024 * 1024


class ClusterSettings(_Section):
    """Cluster mode: what several gateway nodes share.

    The store is in PostgreSQL when ``database_url_env`` or ``database_url_file`` names the
    database URL (``postgresql://user:password@host:5432/dbname``): a secret, read like a
    Canvas token and never written in this file.  ``node_name`` names this gateway to the
    others and in the database's list of sessions; ``database_connections`` bounds its
    connection pool (each runner and worker thread holds one only for a query or a
    transaction).  ``lease_seconds``: how long an institution's lease lasts unrenewed (the
    failover time; see ``gateway.cluster.keeper``).  ``objects``: the bucket that keeps
    payloads (None: the local spool).
    """

    database_url_env: str | None = None
    database_url_file: Path | None = None
    node_name: str = Field(default_factory=socket.gethostname, min_length=1, max_length=63)
    database_connections: int = Field(default=16, ge=2, le=200)
    lease_seconds: float = Field(default=15.0, ge=1.0, le=600.0)
    objects: ObjectStoreSettings | None = None

    @model_validator(mode="after")
    def _one_source(self) -> ClusterSettings:
        if self.database_url_env and self.database_url_file:
            raise ValueError("set database_url_env or database_url_file, not both")
        return self

    @property
    def enabled(self) -> bool:
        """Whether the store is in PostgreSQL."""
        return bool(self.database_url_env or self.database_url_file)


class SandboxSettings(_Section):
    """The embedded Canvas simulator (demo mode and local trials)."""

    enabled: bool = False
    processing_seconds: float = Field(default=1.0, ge=0.0)
    errors_file_delay_seconds: float = Field(default=5.0, ge=0.0)
    report_seconds: float = Field(default=1.0, ge=0.0)


class Settings(BaseSettings):
    """Everything the gateway is told at start.

    A pydantic-settings model: ``GATEWAY_SECTION__KEY`` environment variables override the
    file (see :mod:`gateway.settings_files`, which applies them and names each value's source
    in errors).  Made directly (``Settings(...)``) it reads nothing but its arguments.
    """

    model_config = SettingsConfigDict(
        extra="forbid", frozen=True, env_prefix=ENV_PREFIX, env_nested_delimiter=ENV_DELIMITER,
        case_sensitive=False)

    data_dir: Path = Path("/data")
    demo: bool = False
    sftp: SftpSettings = SftpSettings()
    batching: BatchingSettings = BatchingSettings()
    forwarding: ForwardingSettings = ForwardingSettings()
    mail: MailSettings = MailSettings()
    sandbox: SandboxSettings = SandboxSettings()
    archive: ArchiveSettings = ArchiveSettings()
    http: HttpSettings = HttpSettings()
    storage: StorageSettings = StorageSettings()
    exports: ExportsSettings = ExportsSettings()
    cluster: ClusterSettings = ClusterSettings()
    webhooks: list[WebhookSettings] = Field(default_factory=list)
    institutions: dict[str, InstitutionSettings] = Field(default_factory=dict)
    _sources: dict[tuple[str, ...], str] = PrivateAttr(default_factory=dict)
    _default_source: str = PrivateAttr(default="settings")

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the arguments: loading applies the file and the environment explicitly, so
        it knows which one each value came from."""
        return (init_settings,)

    def source_of(self, *key: str) -> str:
        """The file or variable the value at ``key`` came from (its longest known prefix),
        e.g. ``/config/institutions.d/alpha.toml`` for ``("institutions", "alpha", ...)``."""
        for length in range(len(key), 0, -1):
            if key[:length] in self._sources:
                return self._sources[key[:length]]
        return self._default_source

    def with_sources(self, default: str, sources: Mapping[tuple[str, ...], str]) -> Settings:
        """Record where the values came from (see :meth:`source_of`); returns self."""
        self._default_source = default
        self._sources = dict(sources)
        return self

    @model_validator(mode="after")
    def _cluster_host_keys(self) -> Settings:
        # Nodes behind one address must present one set of host keys, or vendors' clients
        # meet a changed key whenever the balancer picks another node.
        if self.cluster.enabled and not self.sftp.host_key_files:
            raise ValueError("with [cluster] database_url_env or database_url_file, set [sftp] "
                             "host_key_files: every node must present the same host keys "
                             "(a secret mount), and cluster nodes never generate them")
        return self

    @field_validator("webhooks")
    @classmethod
    def _unique_hooks(cls, value: list[WebhookSettings]) -> list[WebhookSettings]:
        names = [hook.name for hook in value]
        if len(set(names)) != len(names):
            raise ValueError("webhook names must be unique (each keeps its own delivery log)")
        return value

    @field_validator("institutions")
    @classmethod
    def _check_names(
        cls, value: dict[str, InstitutionSettings]
    ) -> dict[str, InstitutionSettings]:
        for name in value:
            if not valid_name(name):
                raise ValueError(
                    f"institution name {name!r} must be 1-63 lower-case letters, digits, "
                    "'-' or '_' (it names the institution's folder)"
                )
        return value


def read_secret(*, env: str | None, file: Path | None, what: str,
                environ: Mapping[str, str] | None = None) -> SecretStr:
    """Return the secret named by an env var or a file (surrounding whitespace removed).

    Raises ConfigError saying which variable or file is missing; never includes the value,
    nor ``env`` when it is no variable's name (the secret pasted in its place).
    """
    environ = os.environ if environ is None else environ
    if env and not _VARIABLE_PATTERN.match(env):
        # Most likely the secret itself, pasted where its variable's name belongs.
        raise ConfigError(f"{what}: its _env setting must name an environment variable "
                          "(letters, digits and _), not hold the secret itself")
    if env:
        value = environ.get(env)
        if not value:
            raise ConfigError(f"{what}: environment variable {env} is not set or empty")
        return SecretStr(value.strip())
    if file:
        try:
            value = file.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise ConfigError(f"{what}: cannot read {file}: {error.strerror}") from None
        if not value:
            raise ConfigError(f"{what}: {file} is empty")
        return SecretStr(value)
    raise ConfigError(f"{what}: set token_env or token_file")
