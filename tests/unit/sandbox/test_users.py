"""API users per token, their ids across restarts, and the user and account JSON."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from gateway.sandbox.users import account_json, register, self_json, user_json

NOW = datetime(2026, 11, 22, 11, 10, 26, tzinfo=UTC)


def test_each_token_is_one_admin_and_ids_are_kept_by_account_not_token() -> None:
    ids = itertools.count(1)
    directory, saved = register(
        {"1": "t1", "2": "t2"}, {"x1": "1", "x2": "1"}, None, lambda: next(ids), NOW
    )
    users = {token: directory.user_for(token) for token in ("t1", "t2", "x1", "x2")}
    assert {t: (u.id, u.account_id) for t, u in users.items() if u} == {
        "t1": (1, "1"),
        "t2": (2, "2"),
        "x1": (3, "1"),
        "x2": (4, "1"),
    }
    assert directory.user_for("nope") is None
    assert directory.user_for(None) is None
    # A new token for account 1 (the daemon draws one per start) is still user 1.
    again, _ = register({"1": "new", "2": "t2"}, {"x2": "1"}, saved, lambda: next(ids), NOW)
    assert [again.user_for(t).id for t in ("new", "t2", "x2")] == [1, 2, 4]  # type: ignore[union-attr]
    assert again.user(3) is not None  # x1's imports still show their user
    assert saved
    assert all("t1" not in str(doc) for doc in saved.values())  # no token is kept


def test_other_users_must_be_new_tokens_of_known_accounts() -> None:
    with pytest.raises(ValueError, match="other_users"):
        register({"1": "t1"}, {"t1": "1"}, None, lambda: 9, NOW)
    with pytest.raises(ValueError, match="other_users"):
        register({"1": "t1"}, {"x": "2"}, None, lambda: 9, NOW)


def test_user_json_shapes() -> None:
    directory, _ = register({"1": "t1"}, {"x": "1"}, None, itertools.count(5).__next__, NOW)
    integration = directory.user_for("t1")
    assert integration is not None
    assert user_json(integration) == {
        "id": 5,
        "name": "SIS Integration",
        "created_at": "2026-11-22T11:10:26Z",
        "sortable_name": "Integration, SIS",
        "short_name": "SIS Integration",
        "sis_user_id": None,
        "integration_id": None,
        "sis_import_id": None,
        "login_id": "sis.integration+1@sandbox.invalid",
    }
    me = self_json(integration)
    assert (me["first_name"], me["last_name"]) == ("SIS", "Integration")
    assert (me["email"], me["locale"], me["effective_locale"]) == (integration.login_id, None, "en")
    assert me["permissions"] == {
        "can_update_name": True,
        "can_update_avatar": False,
        "limit_parent_app_web_access": False,
    }
    other = directory.user_for("x")
    assert other is not None
    assert user_json(other)["name"] == "Avery Admin"


def test_account_json_of_a_root_account() -> None:
    body = account_json("1")
    assert list(body) == [
        "id", "name", "workflow_state", "parent_account_id", "root_account_id", "uuid",
        "default_storage_quota_mb", "default_user_storage_quota_mb",
        "default_group_storage_quota_mb", "default_time_zone",
    ]  # fmt: skip
    assert (body["id"], body["root_account_id"], body["default_time_zone"]) == (1, None, "Etc/UTC")
    assert body["uuid"] == account_json("1")["uuid"]  # stable across restarts
    assert account_json("self-hosted")["id"] == "self-hosted"
