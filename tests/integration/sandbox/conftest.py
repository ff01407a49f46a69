"""Fixtures of the sandbox's own tests: a sandbox with two accounts, and account 1's API.

The error file is written at the end here (no delay) so that tests about its content need
not wait; test_canvasapi.py checks the production-like delay.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.sandbox import CanvasSandbox
from tests.integration.sandbox.calls import OTHER_TOKEN, TOKEN


@pytest.fixture
def sandbox() -> Iterator[CanvasSandbox]:
    with CanvasSandbox(
        accounts={"1": TOKEN, "2": OTHER_TOKEN},
        processing_seconds=0.2,
        errors_file_delay_seconds=0.0,
    ) as running:
        yield running


@pytest.fixture
def api(sandbox: CanvasSandbox) -> str:
    return f"{sandbox.base_url}/api/v1/accounts/1/sis_imports"
