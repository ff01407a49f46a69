"""What a closed upload's name means: a file to receive, a temporary name awaiting its rename,
a trigger saying "the set is complete", or a checksum sidecar for another file.

Patterns are shell-style (``*.part``) and matched without regard to case, because vendors'
tools differ in case (``.PART``, ``.FilePart``) but never mean different things by it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from fnmatch import fnmatchcase

from gateway.intake.config import IntakeOptions

SIDECAR_ALGORITHMS = {".sha256": "sha256", ".md5": "md5"}
"""Sidecar suffix -> hashlib algorithm."""


class Role(StrEnum):
    """What the gateway does with a file when its upload is closed."""

    RECEIVE = "receive"  # an ordinary upload: received on close
    TEMPORARY = "temporary"  # kept for this session until renamed onto a final name
    TRIGGER = "trigger"  # marks everything received before it as one complete delivery
    SIDECAR = "sidecar"  # a checksum to verify against the named upload


@dataclass(frozen=True)
class Sidecar:
    """A checksum sidecar: the file it vouches for and the digest algorithm."""

    target: str
    algorithm: str


@dataclass(frozen=True)
class NameRules:
    """One institution's naming conventions, from its intake options."""

    temporary: tuple[str, ...]
    triggers: tuple[str, ...]
    sidecars: bool

    @classmethod
    def of(cls, options: IntakeOptions) -> NameRules:
        """The rules an institution's options configure."""
        return cls(tuple(p.lower() for p in options.temp_name_patterns),
                   tuple(p.lower() for p in options.trigger_files), options.checksum_sidecars)

    def role(self, name: str) -> Role:
        """The role of a file called ``name`` (temporary names win: a ``.part`` is never final)."""
        lowered = name.lower()
        if any(fnmatchcase(lowered, pattern) for pattern in self.temporary):
            return Role.TEMPORARY
        if any(fnmatchcase(lowered, pattern) for pattern in self.triggers):
            return Role.TRIGGER
        if self.sidecar(name) is not None:
            return Role.SIDECAR
        return Role.RECEIVE

    def sidecar(self, name: str) -> Sidecar | None:
        """The sidecar ``name`` is, when sidecars are on and it is ``<file>.sha256|.md5``."""
        if not self.sidecars:
            return None
        for suffix, algorithm in SIDECAR_ALGORITHMS.items():
            if name.lower().endswith(suffix) and len(name) > len(suffix):
                return Sidecar(name[: -len(suffix)], algorithm)
        return None
