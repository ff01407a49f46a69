"""Brute-force bans: N failures in a window ban, repeat bans double, safelist never bans."""

from __future__ import annotations

from gateway.intake.bans import BanList, BanPolicy, address_in, networks


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _bans(clock: Clock, **changes: object) -> BanList:
    policy = BanPolicy(failures=3, window=60, ban=100, ban_max=300,
                       safelist=networks(["10.0.0.0/8"]))
    return BanList(policy if not changes else BanPolicy(**{**policy.__dict__, **changes}),
                   clock)


def test_failures_within_the_window_ban_and_the_ban_ends() -> None:
    clock = Clock()
    bans = _bans(clock)
    assert bans.failed("192.0.2.1") == 0
    assert bans.failed("192.0.2.1") == 0
    assert bans.failed("192.0.2.1") == 100
    assert bans.banned_for("192.0.2.1") == 100
    assert bans.banned_for("192.0.2.2") == 0
    clock.now += 101
    assert bans.banned_for("192.0.2.1") == 0


def test_failures_spread_beyond_the_window_do_not_ban() -> None:
    clock = Clock()
    bans = _bans(clock)
    for _ in range(5):
        assert bans.failed("192.0.2.1") == 0
        clock.now += 31


def test_repeat_bans_double_up_to_the_maximum() -> None:
    clock = Clock()
    bans = _bans(clock)
    lengths = []
    for _ in range(4):
        for _ in range(3):
            length = bans.failed("192.0.2.1")
        lengths.append(length)
        clock.now += length + 1
    assert lengths == [100, 200, 300, 300]


def test_safelisted_addresses_are_never_banned() -> None:
    bans = _bans(Clock())
    for _ in range(10):
        assert bans.failed("10.1.2.3") == 0
    assert address_in("::ffff:10.1.2.3", networks(["10.0.0.0/8"]))
    assert not address_in("not an address", networks(["10.0.0.0/8"]))
