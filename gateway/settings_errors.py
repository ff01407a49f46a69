"""Configuration errors people can act on: which file or variable, which key, what to do.

One line per problem: ``<file or variable>: <key>: <what is wrong>``.  A misspelt key or
section gets the nearest real one (``[sandbx]``: did you mean ``[sandbox]``?), a misplaced
one the section it belongs in (a top-level ``[smtp]`` belongs in ``[mail.smtp]``).  Values
are echoed only when plain and not secret, and only once.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Iterator, Mapping
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from gateway.settings import ENV_DELIMITER, ENV_PREFIX, Settings

Key = tuple[str, ...]
_SECRET_WORDS = ("password", "token", "secret", "hash", "key")
_PREFIXES = ("Value error, ", "Assertion failed, ")
_NAME = "NAME"  # stands for a dict key (an institution's name) in section paths


def describe_validation_error(source: str, error: ValidationError,
                              where: Mapping[Key, str]) -> str:
    """The problems of ``error``, each naming its source: the variable or drop-in file in
    ``where`` that set the key (or a parent of it), else ``source`` (the config file)."""
    count = error.error_count()
    lines = [f"invalid configuration ({count} problem{'' if count == 1 else 's'}):"]
    for problem in error.errors():
        key = tuple(str(part) for part in problem["loc"])
        origin, shown_key = _origin(key, where, source)
        lines.append(f"  {origin}: {_dotted(shown_key)}: {_message(problem, key, origin)}")
    return "\n".join(lines)


def unknown_variable(name: str, key: Key) -> str:
    """The error for a ``GATEWAY_`` variable whose section ``key[0]`` is no section, with
    the nearest one."""
    close = difflib.get_close_matches(key[0], list(Settings.model_fields), n=1, cutoff=0.6)
    hint = f"; did you mean {_variable((close[0], *key[1:]))}?" if close else ""
    return f"environment variable {name}: no setting {_dotted(key)}{hint}"


def _origin(key: Key, where: Mapping[Key, str], source: str) -> tuple[str, Key]:
    """The source of ``key`` and the key as written there (a drop-in file holds one
    institution's table, so its keys start below ``institutions.NAME``)."""
    for length in range(len(key), 0, -1):
        if key[:length] in where:
            origin = where[key[:length]]
            if origin.startswith("environment variable"):
                return origin, key
            return origin, key[length:] or key
    return source, key


def _message(problem: ErrorDetails, key: Key, origin: str) -> str:
    if problem["type"] == "extra_forbidden":
        if origin.startswith("environment variable"):
            return f"no such setting{_env_hint(key)}"
        what = "section" if isinstance(problem["input"], dict) else "key"
        return f"unknown {what}{_file_hint(key, what)}"
    message = problem["msg"]
    for prefix in _PREFIXES:
        message = message.removeprefix(prefix)
    value = problem["input"]
    # Only plain values are echoed: a table could hold password hashes or key material.
    if isinstance(value, str | int | float | bool) and not _is_secret(key) \
            and problem["type"] != "missing" and repr(value) not in message:
        message += f" (got {value!r})"
    return message


def _file_hint(key: Key, what: str) -> str:
    parent, name = key[:-1], key[-1]
    elsewhere = [path for path in _field_paths(Settings) if path[-1] == name
                 and path[:-1] != _generic(parent)]
    if elsewhere and what == "section":
        return f": did you mean {_or([f'[{_dotted(path)}]' for path in elsewhere])}?"
    if elsewhere:
        return f": it belongs in {_or([_table(path[:-1]) for path in elsewhere])}"
    close = difflib.get_close_matches(name, _fields_at(parent), n=1, cutoff=0.6)
    if close:
        return f": did you mean {_section(parent, close[0], what)}?"
    return " (check its spelling and section)"


def _env_hint(key: Key) -> str:
    parent, name = key[:-1], key[-1]
    close = difflib.get_close_matches(name, _fields_at(parent), n=1, cutoff=0.6)
    return f"; did you mean {_variable((*parent, close[0]))}?" if close else ""


def _section(parent: Key, name: str, what: str) -> str:
    return f"[{_dotted((*parent, name))}]" if what == "section" else name


def _table(key: Key) -> str:
    return f"[{_dotted(key)}]" if key else "the top level"


def _variable(key: Key) -> str:
    return ENV_PREFIX + ENV_DELIMITER.join(key).upper()


def _dotted(key: Key) -> str:
    return ".".join(key) or "(top level)"


def _or(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _is_secret(key: Key) -> bool:
    return any(word in part.lower() for part in key for word in _SECRET_WORDS)


def _generic(key: Key) -> Key:
    """``key`` with institution names and list indexes as in :func:`_field_paths`."""
    out: list[str] = []
    model: Any = Settings
    for part in key:
        model, container = _step(model, part)
        out.append(_NAME if container else part)
        if model is None:
            return key
    return tuple(out)


def _fields_at(parent: Key) -> list[str]:
    """The keys the table at ``parent`` may have (none if ``parent`` is no table)."""
    model: Any = Settings
    for part in parent:
        model, _ = _step(model, part)
    return list(model.model_fields) if _is_model(model) else []


def _step(current: Any, part: str) -> tuple[Any, bool]:
    """One level down from ``current`` (a model or a container annotation) by ``part``;
    the bool says whether ``part`` was a container key (an institution name, an index)."""
    if _is_model(current):
        field = current.model_fields.get(part)
        return (None, False) if field is None else (_unwrap(field.annotation), False)
    if get_origin(current) in (dict, list, tuple):
        return _unwrap(get_args(current)[-1]), True
    return None, False


def _unwrap(annotation: Any) -> Any:
    """``X | None`` -> ``X``; other annotations as they are."""
    if get_origin(annotation) in (Union, types.UnionType):
        options = [arg for arg in get_args(annotation) if arg is not type(None)]
        return options[0] if len(options) == 1 else annotation
    return annotation


def _field_paths(model: Any, prefix: Key = ()) -> Iterator[Key]:
    """Every key path in the settings tree (institution names as ``NAME``)."""
    for name, field in model.model_fields.items():
        path = (*prefix, name)
        yield path
        inner = _unwrap(field.annotation)
        if get_origin(inner) is dict:
            inner, path = _unwrap(get_args(inner)[-1]), (*path, _NAME)
        if _is_model(inner):
            yield from _field_paths(inner, path)


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)
