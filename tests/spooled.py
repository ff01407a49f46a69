"""Payload files of the local custody, for tests that write or read them directly."""

from __future__ import annotations

from pathlib import Path

from gateway.state.custody import PayloadKey
from gateway.state.local_custody import LocalCustody
from gateway.state.spool import Spool


def spooled(spool: Spool, key: PayloadKey) -> Path:
    """The local custody's file for ``key``."""
    return LocalCustody(spool).path_of(key)
