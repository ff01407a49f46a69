"""Where the settings come from, and errors that say which source is wrong.

Three sources, later ones winning key by key:

1. the TOML config file;
2. its drop-in folder ``institutions.d/`` beside it: one institution per ``NAME.toml`` file,
   holding what ``[institutions.NAME]`` would (``gateway institution ...`` writes them);
3. ``GATEWAY_SECTION__KEY`` environment variables, read by pydantic-settings' own
   environment source (a double underscore between levels, e.g. ``GATEWAY_SFTP__PORT=2200``,
   ``GATEWAY_INSTITUTIONS__ALPHA__CANVAS__BASE_URL=...``; lists and tables as JSON).
   Variables with one word and no ``__`` that name no setting (``GATEWAY_CONFIG``) are not
   settings and are left alone.

Every problem is reported as ``<file or variable>: <key>: <what is wrong>``, with a
suggestion for a misspelt or misplaced key or section; see :mod:`gateway.settings_errors`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_settings import EnvSettingsSource, SettingsError

from gateway.settings import ENV_DELIMITER, ENV_PREFIX, ConfigError, Settings, valid_name
from gateway.settings_errors import Key, describe_validation_error, unknown_variable

INSTITUTIONS_DIR = "institutions.d"
"""The drop-in folder, beside the config file: one ``NAME.toml`` per institution."""


class _Environment(EnvSettingsSource):
    """pydantic-settings' environment source, reading a given mapping (``os.environ`` in
    the daemon, a plain dict in tests)."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        super().__init__(Settings)
        # Settings are case-insensitive: the source looks variables up lower-cased.
        self.env_vars = {name.lower(): value for name, value in environ.items()}


def institutions_dir(config: Path) -> Path:
    """The drop-in folder that belongs to ``config``."""
    return config.parent / INSTITUTIONS_DIR


def load_settings(path: Path, environ: Mapping[str, str] | None = None,
                  replace: Mapping[str, Path] | None = None) -> Settings:
    """Read ``path`` (TOML) and its ``institutions.d`` files, apply ``GATEWAY_...`` variables
    from ``environ`` (default: the process's) and validate.  ``replace`` reads another file
    as an institution's drop-in (a change being checked before it is made); errors in it
    name the drop-in file it would become.

    Raises ConfigError naming the file or variable and the key for any problem.
    """
    raw = read_toml(path)
    sources: dict[Key, str] = {}
    files = dict(drop_in_files(institutions_dir(path)))
    for name, candidate in (replace or {}).items():
        files[name] = candidate
    for name, file in sorted(files.items()):
        shown = institutions_dir(path) / f"{name}.toml"
        if not valid_name(name):
            raise ConfigError(f"{shown}: {name!r} is no institution's name: name the file "
                              "after its institution, 1-63 lower-case letters, digits, '-' "
                              "or '_' and .toml")
        institutions = raw.setdefault("institutions", {})
        if not isinstance(institutions, dict):
            raise ConfigError(f"{path}: institutions: must be a table of [institutions.NAME]")
        if name in institutions:
            raise ConfigError(f"{shown}: institution {name!r} is also defined in {path} "
                              f"([institutions.{name}]); keep one of the two")
        institutions[name] = read_toml(file)
        sources[("institutions", name)] = str(shown)
    return settings_from_mapping(raw, source=str(path), environ=environ, sources=sources)


def read_toml(path: Path) -> dict[str, Any]:
    """One TOML file as a dict; ConfigError naming the file when unreadable or not TOML."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the config file: {error.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None


def drop_in_files(folder: Path) -> Iterator[tuple[str, Path]]:
    """``(institution name, file)`` for each ``NAME.toml`` in ``folder``, by name.  Hidden
    files (an editor's or ``gateway institution``'s temporary ones) and other suffixes
    (``.toml.bak``, ``.swp``) are not institutions."""
    if not folder.is_dir():
        return
    for file in sorted(folder.iterdir()):
        if file.suffix == ".toml" and not file.name.startswith(".") and file.is_file():
            yield file.stem, file


def settings_from_mapping(raw: dict[str, Any], *, source: str,
                          environ: Mapping[str, str] | None = None,
                          sources: Mapping[Key, str] | None = None) -> Settings:
    """Validate a settings mapping after applying the environment; see load_settings.
    ``source`` names the mapping (the config file), ``sources`` the parts that came from
    elsewhere (drop-in files)."""
    environ = os.environ if environ is None else environ
    variables = setting_variables(environ)
    from_env = _environment_values(environ, variables)
    where = {**_tables_made_by(raw, variables), **(sources or {}),
             **{key: f"environment variable {name}" for key, name in variables.items()}}
    try:
        settings = Settings.model_validate(_merged(raw, from_env))
    except ValidationError as error:
        raise ConfigError(describe_validation_error(source, error, where)) from None
    return settings.with_sources(source, where)


def _environment_values(environ: Mapping[str, str],
                        variables: Mapping[Key, str]) -> dict[str, Any]:
    """The settings the ``GATEWAY_...`` variables give, as nested tables.  Raises
    ConfigError naming the variable and key whose list or table is not JSON (its value is
    never shown: it may be a secret put in the wrong place)."""
    try:
        return _Environment(environ)()
    except SettingsError:
        pass
    for key, name in sorted(variables.items(), key=lambda item: item[1]):
        try:
            _Environment({name: environ[name]})()
        except SettingsError:
            raise ConfigError(
                f"environment variable {name}: {'.'.join(key)}: not valid JSON (a list or "
                'table is written as JSON, e.g. \'["first", "second"]\')') from None
    raise ConfigError("environment: the GATEWAY_... variables do not combine into settings "
                      "(a table and one of its keys both set?)")


def _tables_made_by(raw: Mapping[str, Any], variables: Mapping[Key, str]) -> dict[Key, str]:
    """The tables that only a variable brings into being (``GATEWAY_MAIL__SMTP__PORT``
    with no ``[mail.smtp]`` in the file), by the first such variable: a key missing from
    one is that variable's to complete, not the file's."""
    made: dict[Key, str] = {}
    for key, name in sorted(variables.items(), key=lambda item: item[1]):
        table: Any = raw
        for length in range(1, len(key)):
            table = table.get(key[length - 1]) if isinstance(table, Mapping) else None
            if table is None:
                made.setdefault(key[:length], f"environment variable {name}")
    return made


def setting_variables(environ: Mapping[str, str]) -> dict[Key, str]:
    """The ``GATEWAY_...`` variables that are settings, by the key they set.  Raises
    ConfigError for one that looks like a setting (it has ``__``) but names no section."""
    found: dict[Key, str] = {}
    for name in environ:
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX):
            continue
        key = tuple(upper[len(ENV_PREFIX):].lower().split(ENV_DELIMITER))
        if key[0] in Settings.model_fields:
            found[key] = name
        elif len(key) > 1:
            raise ConfigError(unknown_variable(name, key))
    return found


def _merged(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``over`` applied key by key into nested tables (a copy)."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged
