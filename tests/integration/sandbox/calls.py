"""Calls to the Canvas sandbox over real HTTP, shared by its tests (as the forwarder makes them)."""

from __future__ import annotations

import io
import time
import zipfile
from typing import Any

import requests

TOKEN = "token-one"
OTHER_TOKEN = "token-two"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
OTHER_AUTH = {"Authorization": f"Bearer {OTHER_TOKEN}"}
TERMINAL = {"imported", "imported_with_messages", "failed", "failed_with_messages", "aborted"}
USERS = b"user_id,login_id,status\r\nu1,l1,active\r\nu2,l2,active\r\n"
NOT_FOUND = {"errors": [{"message": "The specified resource does not exist."}]}


def post_file(api: str, name: str, data: bytes, **fields: str) -> dict[str, Any]:
    response = requests.post(api, headers=AUTH, files={"attachment": (name, data)}, data=fields)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_until(api: str, import_id: int, states: set[str], timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = requests.get(f"{api}/{import_id}", headers=AUTH).json()
        if body["workflow_state"] in states or time.monotonic() > deadline:
            return body
        time.sleep(0.02)


def make_zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()
