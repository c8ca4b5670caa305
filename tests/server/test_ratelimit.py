"""The server's limit keys and sign-in charges, without HTTP (tests/test_rate_limits.py has it)."""

from __future__ import annotations

import pytest

from federation.ratelimit import RateLimiter
from server.config import LimitsConfig
from server.ratelimit import RateLimitedError, RateLimits, SignInAttempt, address_key
from tests.clock import ManualClock


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        (" 203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("[2001:DB8:1:2::ffff]", "2001:db8:1:2::/64"),  # one /64, one key
        ("::ffff:198.51.100.3", "198.51.100.3"),
        ("unix-socket", "unix-socket"),
        ("", ""),
    ],
)
def test_address_keys_are_canonical_and_ipv6_counts_per_64(raw: str, key: str) -> None:
    assert address_key(raw) == key


def test_from_config_builds_each_limit_with_its_period() -> None:
    limits = RateLimits.from_config(
        LimitsConfig(inbox_per_host=5, inbox_per_host_seconds=10, follows_per_host=0),
        ManualClock(),
    )
    assert (limits.inbox.per_host.limit, limits.inbox.per_host.period) == (5, 10.0)
    assert not limits.inbox.follows_per_host.enabled
    defaults = LimitsConfig()
    assert limits.sign_in_per_account.limit == defaults.sign_in_per_account
    assert limits.api_writes.period == defaults.api_writes_per_token_seconds


def test_a_refused_charge_gives_back_what_the_attempt_held() -> None:
    clock = ManualClock()
    address, account = RateLimiter(5, 60, clock), RateLimiter(1, 60, clock)
    first = SignInAttempt(account)
    first.charge(address, "203.0.113.7")
    first.charge_account("Anna ")
    second = SignInAttempt(account)
    second.charge(address, "203.0.113.7")
    with pytest.raises(RateLimitedError) as info:
        second.charge_account("anna")  # the same account: no room
    assert (info.value.retry_after, info.value.limit) == (60, 1)
    assert address.wait("203.0.113.7") == 0.0
    for _ in range(4):  # the refused attempt left the address its four remaining
        address.take("203.0.113.7")
    assert address.wait("203.0.113.7") > 0


def test_a_successful_attempt_counts_for_nothing() -> None:
    clock = ManualClock()
    address, account = RateLimiter(1, 60, clock), RateLimiter(1, 60, clock)
    for _ in range(10):
        attempt = SignInAttempt(account)
        attempt.charge(address, "a")
        attempt.charge_account("anna")
        attempt.succeeded()
    assert len(address) == 0 and len(account) == 0
