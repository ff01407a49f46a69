"""Institution records: the resolved, ready-to-use form of each configured institution.

Settings hold what the operator wrote (env var names, key text); an :class:`Institution`
holds what the running gateway needs (the token itself, parsed keys, the final Canvas URL).
Tokens are :class:`pydantic.SecretStr`: they print as ``**********``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh
from pydantic import SecretStr

from gateway.exports.config import ExportSettings
from gateway.intake.bans import Network, networks
from gateway.intake.config import IntakeOptions
from gateway.intake.keys import parse_authorized_key
from gateway.settings import EMBEDDED_SANDBOX, ConfigError, Settings, read_secret
from gateway.sorting.config import DEFAULT_SORTING, SortingOptions

DEFAULT_INTAKE = IntakeOptions()


@dataclass(frozen=True)
class CanvasTarget:
    """Where an institution's imports go."""

    base_url: str
    account_id: str
    token: SecretStr

    def __repr__(self) -> str:
        return f"CanvasTarget({self.base_url!r}, account {self.account_id!r})"


@dataclass(frozen=True)
class Institution:
    """One institution as the running gateway uses it."""

    name: str
    username: str
    password_hash: str | None
    authorized_keys: tuple[asyncssh.SSHKey, ...]
    canvas: CanvasTarget
    report_to: tuple[str, ...]
    report_cc: tuple[str, ...]
    report_templates: Path | None = None
    intake: IntakeOptions = DEFAULT_INTAKE
    allowed_networks: tuple[Network, ...] = ()
    sorting: SortingOptions = DEFAULT_SORTING
    zip_password: SecretStr | None = None
    time_zone: str = "UTC"
    exports: tuple[ExportSettings, ...] = ()

    def __repr__(self) -> str:
        return f"Institution({self.name!r})"


@dataclass(frozen=True)
class SandboxTarget:
    """The embedded Canvas simulator's address and its one token, once it is running."""

    base_url: str
    token: SecretStr


def resolve_institutions(settings: Settings, sandbox: SandboxTarget | None,
                         environ: dict[str, str] | None = None) -> list[Institution]:
    """Build the Institution records, reading tokens and parsing keys.

    Raises ConfigError naming the institution and key when a token is missing, a key does
    not parse, an account has no way to log in, or two institutions share a username.
    """
    institutions = [_resolve_from(settings, name, sandbox, environ)
                    for name in settings.institutions]
    check_usernames(settings)
    return institutions


def check_usernames(settings: Settings) -> None:
    """Raise ConfigError naming the file when two institutions share a SFTP username."""
    seen: dict[str, str] = {}
    for name, raw in settings.institutions.items():
        username = raw.username or name
        if username in seen:
            raise ConfigError(
                f"{settings.source_of('institutions', name)}: institutions.{name}.username: "
                f"{username!r} is already used by institution {seen[username]!r}")
        seen[username] = name


def check_sandbox_use(settings: Settings, name: str) -> None:
    """Raise ConfigError naming the file when institution ``name`` sends to the embedded
    sandbox and it is not enabled."""
    if settings.institutions[name].canvas.base_url == EMBEDDED_SANDBOX \
            and not settings.sandbox.enabled:
        raise ConfigError(f"{settings.source_of('institutions', name)}: "
                          f"{_needs_sandbox(f'institutions.{name}.canvas')}")


def _resolve_from(settings: Settings, name: str, sandbox: SandboxTarget | None,
                  environ: dict[str, str] | None) -> Institution:
    """One institution; its errors name the file (or variable) it came from."""
    try:
        return _resolve(name, settings.institutions[name], sandbox, environ)
    except ConfigError as error:
        raise ConfigError(f"{settings.source_of('institutions', name)}: {error}") from None


def _resolve(name: str, raw: Any, sandbox: SandboxTarget | None,
             environ: dict[str, str] | None) -> Institution:
    where = f"institutions.{name}"
    if not raw.password_hash and not raw.authorized_keys:
        raise ConfigError(f"{where}: set password_hash or authorized_keys, or nobody can log in")
    return Institution(
        name=name,
        username=raw.username or name,
        password_hash=raw.password_hash,
        authorized_keys=tuple(parse_authorized_key(f"{where}.authorized_keys[{index}]", text)
                              for index, text in enumerate(raw.authorized_keys)),
        canvas=_canvas_target(f"{where}.canvas", raw.canvas, sandbox, environ),
        report_to=tuple(raw.report_to),
        report_cc=tuple(raw.report_cc),
        report_templates=_template_folder(f"{where}.report_templates", raw.report_templates),
        intake=IntakeOptions(**{key: getattr(raw, key) for key in IntakeOptions.model_fields}),
        allowed_networks=networks(raw.allowed_cidrs),
        sorting=raw.sorting,
        zip_password=_zip_password(f"{where}.sorting.zip_password", raw.sorting, environ),
        time_zone=raw.time_zone,
        exports=tuple(raw.exports),
    )


def _zip_password(where: str, sorting: SortingOptions,
                  environ: dict[str, str] | None) -> SecretStr | None:
    if not (sorting.zip_password_env or sorting.zip_password_file):
        return None
    return read_secret(env=sorting.zip_password_env, file=sorting.zip_password_file,
                       what=where, environ=environ)


def _template_folder(where: str, folder: Path | None) -> Path | None:
    if folder is not None and not folder.is_dir():
        raise ConfigError(f"{where}: {folder} is not a folder")
    return folder


def _canvas_target(where: str, raw: Any, sandbox: SandboxTarget | None,
                   environ: dict[str, str] | None) -> CanvasTarget:
    if raw.base_url == EMBEDDED_SANDBOX:
        if sandbox is None:
            raise ConfigError(_needs_sandbox(where))
        return CanvasTarget(sandbox.base_url, raw.account_id, sandbox.token)
    token = read_secret(env=raw.token_env, file=raw.token_file, what=f"{where}.token",
                        environ=environ)
    return CanvasTarget(raw.base_url, raw.account_id, token)


def _needs_sandbox(where: str) -> str:
    return f"{where}.base_url: {EMBEDDED_SANDBOX!r} needs [sandbox] enabled"
