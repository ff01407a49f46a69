"""Institutions kept one per file in ``institutions.d/NAME.toml``, changed safely.

A change is checked as the daemon would check it before the file is touched: the whole
configuration is loaded with the new file in place (every error names it), the keys must
parse, the account must have a way to log in and a username of its own, and the embedded
sandbox must be enabled if it is the Canvas; only the secrets (the Canvas token may be
the daemon's alone) are left for ``gateway check config`` to read.  Only then is the file
replaced, atomically (a hidden temporary file in the same folder, flushed to disk, renamed
over the old one), so the daemon, reloading at any moment, reads either the old file or the
new one, never half.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import tomli_w

from gateway.institutions import check_sandbox_use, check_usernames
from gateway.intake.keys import parse_authorized_key
from gateway.settings import ConfigError, Settings
from gateway.settings_files import institutions_dir, load_settings, read_toml
from gateway.state.spool import fsync_directory

FILE_MODE = 0o640
"""The most open a drop-in file is made: they hold password hashes, so readable by the
gateway's group at most, never by all."""


class InstitutionFileError(Exception):
    """The change does not apply (no such drop-in, one already there); the message says why."""


@contextlib.contextmanager
def changes_locked(config: Path) -> Iterator[None]:
    """Hold the lock that makes institution changes on ``config`` one at a time.

    A change reads a drop-in file, edits it and writes it back: two at once (``add-key``
    and ``set-password`` on one institution, or two ``add`` of one name) would otherwise
    lose one.  The lock is an exclusive flock on the config file itself, which every
    change can open (even on a read-only mount) and the daemon never locks.
    """
    try:
        handle = open(config, "rb")  # noqa: SIM115 -- closed below, after the unlock
    except OSError as error:
        raise ConfigError(f"{config}: cannot read the config file: {error.strerror}") from None
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def drop_in_path(config: Path, name: str) -> Path:
    """Where institution ``name``'s drop-in file is (or would be)."""
    return institutions_dir(config) / f"{name}.toml"


def read_drop_in(config: Path, name: str) -> dict[str, Any]:
    """Institution ``name``'s table from its drop-in file.  Raises InstitutionFileError when
    it has none (and says so when it is in the config file instead)."""
    path = drop_in_path(config, name)
    if path.exists():
        return read_toml(path)
    if name in read_toml(config).get("institutions", {}):
        raise InstitutionFileError(
            f"institution {name!r} is defined in {config} ([institutions.{name}]); edit it "
            f"there, or move its table into {path} to manage it with `gateway institution`")
    raise InstitutionFileError(f"there is no institution {name!r} in {institutions_dir(config)}")


def check_new_name(config: Path, name: str) -> None:
    """Raise InstitutionFileError if ``name`` is already an institution in either place."""
    if drop_in_path(config, name).exists():
        raise InstitutionFileError(f"institution {name!r} already exists "
                                   f"({drop_in_path(config, name)})")
    if name in read_toml(config).get("institutions", {}):
        raise InstitutionFileError(f"institution {name!r} already exists ({config})")


def save_drop_in(config: Path, name: str, table: Mapping[str, Any],
                 environ: Mapping[str, str] | None = None) -> Path:
    """Check ``table`` as institution ``name`` within the whole configuration, then write it
    atomically.  Raises ConfigError (naming the file) and leaves the old file as it was when
    the configuration would not load."""
    path = drop_in_path(config, name)
    text = tomli_w.dumps(dict(table))
    folder = path.parent
    if not folder.is_dir():
        folder.mkdir(parents=True)
        _give_away(folder, os.stat(config))
    temporary = _write_hidden(folder, name, text, like=path if path.exists() else config)
    try:
        _check(config, name, temporary, environ)
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    fsync_directory(folder)
    return path


def remove_drop_in(config: Path, name: str) -> Path:
    """Delete institution ``name``'s drop-in file; returns its path."""
    path = drop_in_path(config, name)
    read_drop_in(config, name)  # raises with the reason when there is none
    path.unlink()
    fsync_directory(path.parent)
    return path


def _check(config: Path, name: str, candidate: Path,
           environ: Mapping[str, str] | None) -> Settings:
    """Load the configuration as it would be with ``candidate`` as ``name``'s file."""
    settings = load_settings(config, environ=environ, replace={name: candidate})
    table = settings.institutions[name]
    where = f"{drop_in_path(config, name)}: "
    if not table.password_hash and not table.authorized_keys:
        raise ConfigError(f"{where}set a password or a key, or nobody can log in")
    for index, line in enumerate(table.authorized_keys):
        parse_authorized_key(f"{where}authorized_keys[{index}]", line)
    # What serve checks besides the secrets (the Canvas token may be the daemon's alone).
    check_usernames(settings)
    check_sandbox_use(settings, name)
    return settings


def _write_hidden(folder: Path, name: str, text: str, like: Path) -> Path:
    """``text`` in a new hidden file of ``folder`` (ignored by the loader), on disk, with
    the owner and mode of ``like`` (the file it replaces, else the config file, which the
    daemon reads), the mode never more open than FILE_MODE."""
    reference = os.stat(like)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    try:
        os.fchmod(handle, reference.st_mode & FILE_MODE | 0o600)
        _give_away(handle, reference)
        os.write(handle, text.encode("utf-8"))
        os.fsync(handle)
    finally:
        os.close(handle)
    return Path(temporary)


def _give_away(target: int | Path, reference: os.stat_result) -> None:
    """Give ``target`` the owner (root only may) and group of ``reference``: run with sudo,
    a change must stay readable by the daemon's user."""
    uid = reference.st_uid if os.geteuid() == 0 else -1
    with contextlib.suppress(PermissionError):  # not a group of ours: keep our own
        os.chown(target, uid, reference.st_gid)
