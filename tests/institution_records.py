"""Institution records for tests that run components without a config file."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from gateway.institutions import CanvasTarget, Institution


def institution(name: str = "alpha", *, base_url: str = "https://canvas.example.edu",
                account: str = "1", token: str = "test-token", **fields: Any) -> Institution:
    """An institution with a Canvas target and no SFTP login; ``fields`` override the rest."""
    values: dict[str, Any] = {
        "name": name, "username": name, "password_hash": None, "authorized_keys": (),
        "report_to": (), "report_cc": (),
        "canvas": CanvasTarget(base_url, account, SecretStr(token)),
    }
    values.update(fields)
    return Institution(**values)
