"""Typed, validated settings: one TOML file plus ``GATEWAY_...`` environment overrides.

Loading either returns a complete :class:`Settings` or raises :class:`ConfigError` naming the
file, the key and what is wrong, so a bad config stops the gateway at start, never later.
Secret values (Canvas tokens, SMTP passwords) are read from the environment variable or file
the config names, and are held as :class:`pydantic.SecretStr` so they never print.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from gateway.intake.config import IntakeOptions, SftpSettings
from gateway.sorting.config import SortingOptions

EMBEDDED_SANDBOX = "embedded-sandbox"
"""A Canvas ``base_url`` that means "the Canvas simulator running inside this process"."""

ENV_PREFIX = "GATEWAY_"
_SECRET_WORDS = ("password", "token", "secret", "hash", "key")
_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_ADDRESS_PATTERN = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+$")


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file, the key and the fix."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BatchingSettings(_Section):
    """How uploads are grouped into batches."""

    quiet_seconds: float = Field(default=30.0, ge=0.0, le=86400.0)


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
        if value != EMBEDDED_SANDBOX and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"must be an http(s) URL or {EMBEDDED_SANDBOX!r}")
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


class SandboxSettings(_Section):
    """The embedded Canvas simulator (demo mode and local trials)."""

    enabled: bool = False
    processing_seconds: float = Field(default=1.0, ge=0.0)
    errors_file_delay_seconds: float = Field(default=5.0, ge=0.0)


class Settings(_Section):
    """Everything the gateway is told at start."""

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
    webhooks: list[WebhookSettings] = Field(default_factory=list)
    institutions: dict[str, InstitutionSettings] = Field(default_factory=dict)

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
            if not _NAME_PATTERN.match(name):
                raise ValueError(
                    f"institution name {name!r} must be 1-63 lower-case letters, digits, "
                    "'-' or '_' (it names the institution's folder)"
                )
        return value


def load_settings(path: Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Read ``path`` (TOML), apply ``GATEWAY_...`` overrides from ``environ`` and validate.

    Raises ConfigError naming the file and the key for any problem.
    """
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the config file: {error.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    return settings_from_mapping(raw, source=str(path), environ=environ)


def settings_from_mapping(
    raw: dict[str, Any], *, source: str, environ: Mapping[str, str] | None = None
) -> Settings:
    """Validate a settings mapping after applying environment overrides; see load_settings."""
    merged = apply_env_overrides(raw, os.environ if environ is None else environ)
    try:
        return Settings.model_validate(merged)
    except ValidationError as error:
        raise ConfigError(describe_validation_error(source, error)) from None


def apply_env_overrides(raw: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """Return a copy of ``raw`` with ``GATEWAY_SECTION__KEY=value`` variables applied.

    A double underscore separates levels (``GATEWAY_SFTP__PORT=2200``,
    ``GATEWAY_INSTITUTIONS__DEMO__CANVAS__BASE_URL=...``); ``GATEWAY_DATA_DIR`` sets a
    top-level key.  Values are TOML values when they parse as one (numbers, booleans, lists)
    and strings otherwise.  Other ``GATEWAY_`` variables (``GATEWAY_CONFIG``) are not settings.
    """
    merged = _deep_copy(raw)
    top_level = {"data_dir", "demo"}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX):].split("__")]
        if len(path) == 1 and path[0] not in top_level:
            continue
        target = merged
        for part in path[:-1]:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise ConfigError(f"environment {name}: {part} is not a table in the config")
        target[path[-1]] = _env_value(value)
    return merged


def _env_value(text: str) -> Any:
    """An env value read as a TOML value when it is one (``2200``, ``true``, ``["a@b"]``),
    else as the plain string it is (``/srv/data``)."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def _deep_copy(raw: dict[str, Any]) -> dict[str, Any]:
    return {key: _deep_copy(value) if isinstance(value, dict) else value
            for key, value in raw.items()}


def describe_validation_error(source: str, error: ValidationError) -> str:
    """One line per problem: ``<source>: <dotted.key>: <what is wrong>``, secrets withheld."""
    count = error.error_count()
    problems = "1 problem" if count == 1 else f"{count} problems"
    lines = [f"{source}: invalid configuration ({problems}):"]
    for problem in error.errors():
        key = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        message = problem["msg"]
        if problem["type"] == "extra_forbidden":
            message = "unknown key (check its spelling and section)"
        value = problem["input"]
        # Only plain values are echoed: a table could hold password hashes or key material.
        shown = f" (got {value!r})" if isinstance(value, str | int | float | bool) and \
            not _is_secret_key(key) and problem["type"] not in ("missing", "extra_forbidden") \
            else ""
        lines.append(f"  {key}: {message}{shown}")
    return "\n".join(lines)


def _is_secret_key(key: str) -> bool:
    return any(word in key.lower() for word in _SECRET_WORDS)


def read_secret(*, env: str | None, file: Path | None, what: str,
                environ: Mapping[str, str] | None = None) -> SecretStr:
    """Return the secret named by an env var or a file (surrounding whitespace removed).

    Raises ConfigError saying which variable or file is missing; never includes the value.
    """
    environ = os.environ if environ is None else environ
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
