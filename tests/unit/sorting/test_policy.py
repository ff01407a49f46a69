"""What blocks a batch: failure-class by default, overridable per institution."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.sorting.validation import BlockingPolicy, Code, ValidationOptions
from tests.unit.sorting.files import check


def test_default_blocks_failure_class_only() -> None:
    policy = BlockingPolicy()
    assert policy.blocks_code(Code.MALFORMED_CSV)
    assert policy.blocks_code(Code.ZIP_TOO_LARGE)
    assert not policy.blocks_code(Code.IMPROPER_STATUS)


def test_overrides_block_codes_or_every_warning_and_allow_codes() -> None:
    policy = BlockingPolicy.from_names(block=["duplicate_id"], allow=["empty_file"])
    assert policy.blocks_code(Code.DUPLICATE_ID)
    assert not policy.blocks_code(Code.EMPTY_FILE)
    assert not policy.blocks_code(Code.BAD_DATE)
    assert BlockingPolicy(warnings=True).blocks_code(Code.BAD_DATE)
    with pytest.raises(ValueError, match="unknown finding code 'typo'"):
        BlockingPolicy.from_names(block=["typo"])


def test_blocking_counts_findings_beyond_the_stored_ones(tmp_path: Path) -> None:
    rows = b"".join(b"u%d,l%d,active\n" % (i, i) for i in range(3)) + b"u9,l9,bogus\n"
    verdict = check(tmp_path, b"user_id,login_id,status\n" + b",x,active\n" + rows,
                    options=ValidationOptions(max_findings=1))
    policy = BlockingPolicy.from_names(block=["improper_status"])
    assert [f.code for f in verdict.findings] == [Code.MISSING_VALUE]
    assert verdict.blocked(policy)
    assert not verdict.blocked(BlockingPolicy())


def test_records_for_the_store(tmp_path: Path) -> None:
    verdict = check(tmp_path, b"user_id,login_id,status\n,x,active\n,y,active\n",
                    options=ValidationOptions(max_findings=1))
    records = verdict.records(BlockingPolicy(warnings=True))
    assert [(r.file, r.row, r.column, r.blocking) for r in records] == [
        ("users.csv", 2, "user_id", True), ("users.csv", None, None, False)]
    assert records[1].message == "and 1 more findings in this file"
