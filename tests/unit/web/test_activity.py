"""The intake's recent login trouble: failed logins within the hour, bans until they end."""

from __future__ import annotations

from gateway.web.activity import RECENT_SECONDS, SftpActivity
from tests.unit.history import Clock


def test_failures_age_out_and_bans_end() -> None:
    clock = Clock()
    activity = SftpActivity(clock)
    activity.login_failed()
    activity.banned(60)
    activity.banned(600)
    clock.now += 100
    activity.login_failed()
    assert (activity.recent_failures(), activity.bans_in_force()) == (2, 1)
    clock.now += RECENT_SECONDS - 50
    assert (activity.recent_failures(), activity.bans_in_force()) == (1, 0)
