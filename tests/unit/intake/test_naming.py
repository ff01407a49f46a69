"""What a closed file's name means, per the institution's options."""

from __future__ import annotations

import pytest

from gateway.intake.config import IntakeOptions
from gateway.intake.naming import NameRules, Role, Sidecar

RULES = NameRules.of(IntakeOptions(trigger_files=("READY", "*.done"), checksum_sidecars=True))


@pytest.mark.parametrize(("name", "role"), [
    ("users.csv", Role.RECEIVE), ("users.csv.filepart", Role.TEMPORARY),
    ("users.csv.PART", Role.TEMPORARY), ("users.csv.tmp", Role.TEMPORARY),
    ("users.csv~", Role.TEMPORARY), (".users.csv", Role.TEMPORARY),
    (".in.users.csv.", Role.TEMPORARY), ("READY", Role.TRIGGER), ("set.done", Role.TRIGGER),
    ("users.csv.sha256", Role.SIDECAR), ("users.csv.MD5", Role.SIDECAR),
    (".sha256", Role.TEMPORARY), ("READY.part", Role.TEMPORARY),
])
def test_roles(name: str, role: Role) -> None:
    assert RULES.role(name) is role


def test_sidecars_name_their_file_only_when_enabled() -> None:
    assert RULES.sidecar("users.csv.sha256") == Sidecar("users.csv", "sha256")
    assert RULES.sidecar("users.csv.md5") == Sidecar("users.csv", "md5")
    plain = NameRules.of(IntakeOptions())
    assert plain.role("users.csv.sha256") is Role.RECEIVE
    assert plain.role("READY") is Role.RECEIVE
