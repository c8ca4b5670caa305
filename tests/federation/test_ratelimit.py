"""The rate limiter: bursts, refill, debt, give-back, the off switch and bounded memory."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from federation.ratelimit import RateLimiter, retry_after_seconds
from tests.clock import ManualClock


def test_burst_of_limit_then_one_per_interval() -> None:
    clock = ManualClock()
    limiter = RateLimiter(3, 30, clock)
    assert [limiter.hit("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.hit("a") == pytest.approx(10.0)
    assert limiter.hit("b") == 0.0  # keys are independent
    clock.advance(9.99)
    assert limiter.hit("a") == pytest.approx(0.01)
    clock.advance(0.01)  # exactly the wait it named
    assert limiter.hit("a") == 0.0
    assert limiter.hit("a") == pytest.approx(10.0)


def test_refused_hits_charge_nothing() -> None:
    clock = ManualClock()
    limiter = RateLimiter(1, 60, clock)
    assert limiter.hit("a") == 0.0
    for _ in range(100):
        assert limiter.hit("a") > 0
    clock.advance(60)
    assert limiter.hit("a") == 0.0


def test_wait_only_asks_and_take_runs_into_debt() -> None:
    clock = ManualClock()
    limiter = RateLimiter(2, 10, clock)
    assert limiter.wait("a") == 0.0 and len(limiter) == 0
    for _ in range(4):  # four requests passed the check together, all are charged
        limiter.take("a")
    assert limiter.wait("a") == pytest.approx(15.0)
    clock.advance(15)
    assert limiter.wait("a") == 0.0


def test_give_back_undoes_a_take_and_forgets_a_full_bucket() -> None:
    clock = ManualClock()
    limiter = RateLimiter(1, 60, clock)
    limiter.take("a")
    assert limiter.wait("a") > 0
    limiter.give_back("a")
    assert limiter.wait("a") == 0.0 and len(limiter) == 0
    limiter.give_back("never-seen")  # harmless
    assert limiter.wait("never-seen") == 0.0


def test_zero_limit_is_off_and_keeps_nothing() -> None:
    limiter = RateLimiter(0, 0, ManualClock())
    assert not limiter.enabled
    assert all(limiter.hit("a") == 0.0 for _ in range(1000))
    assert len(limiter) == 0


def test_refilled_keys_are_dropped_and_memory_is_capped() -> None:
    clock = ManualClock()
    limiter = RateLimiter(5, 10, clock, max_keys=3)
    for key in "abc":
        limiter.take(key)
    assert len(limiter) == 3
    clock.advance(2)  # one interval: every bucket is full again
    limiter.take("d")
    assert len(limiter) == 1
    for key in "efgh":
        limiter.take(key)
    assert len(limiter) == 3  # the least recently charged were evicted


def test_invalid_parameters_are_refused() -> None:
    clock = ManualClock()
    with pytest.raises(ValueError, match="limit"):
        RateLimiter(-1, 10, clock)
    with pytest.raises(ValueError, match="period"):
        RateLimiter(1, 0, clock)
    with pytest.raises(ValueError, match="max_keys"):
        RateLimiter(1, 1, clock, max_keys=0)


@pytest.mark.parametrize(
    ("wait", "header"), [(0.0001, 1), (0.9, 1), (1.0, 1), (1.0001, 2), (359.5, 360)]
)
def test_retry_after_is_whole_seconds_rounded_up(wait: float, header: int) -> None:
    assert retry_after_seconds(wait) == header


@settings(max_examples=200, deadline=None)
@given(
    limit=st.integers(1, 20),
    period=st.floats(0.5, 100),
    steps=st.lists(st.tuples(st.floats(0, 20), st.sampled_from("abc")), min_size=1, max_size=120),
)
def test_no_window_admits_more_than_the_bucket_allows(
    limit: int, period: float, steps: list[tuple[float, str]]
) -> None:
    """Within any span of time, accepted hits per key ≤ limit + span · limit / period, and a
    refused hit is always allowed after the wait it named (the bucket never locks forever)."""
    clock = ManualClock()
    limiter = RateLimiter(limit, period, clock)
    accepted: dict[str, list[float]] = {}
    for dt, key in steps:
        clock.advance(dt)
        wait = limiter.hit(key)
        if wait == 0.0:
            accepted.setdefault(key, []).append(clock.now)
        else:
            assert 0 < wait <= period + 1e-6  # float rounding of tat arithmetic
    for times in accepted.values():
        for i, start in enumerate(times):
            for j in range(i, len(times)):
                span = times[j] - start
                assert j - i + 1 <= limit + span * limit / period + 1e-6
    probe = RateLimiter(limit, period, clock)
    for _ in range(limit):
        probe.take("x")
    wait = probe.wait("x")
    clock.advance(wait)
    assert probe.hit("x") == 0.0


def test_off_allows_everything() -> None:
    limiter = RateLimiter.off()
    assert not limiter.enabled
    limiter.take("a")
    limiter.give_back("a")
    assert limiter.hit("a") == 0.0 and limiter.wait("a") == 0.0
