"""The retry policy: what each answer means, and when the next attempt comes."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from federation.errors import FetchError
from federation.fetch import (
    FetchNetworkError,
    FetchTimeoutError,
    ForbiddenAddressError,
    InvalidURLError,
)
from outbox.retry import (
    MAX_ATTEMPTS,
    MAX_DELAY,
    MAX_PAUSE,
    MAX_RETRY_AFTER,
    PAUSE_AFTER_FAILURES,
    Outcome,
    classify,
    host_pause,
    next_delay,
)


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_2xx_is_success(status: int) -> None:
    assert classify(status) is Outcome.SUCCESS


@pytest.mark.parametrize("status", [401, 408, 429, 500, 502, 503, 504, 599, 301, 302])
def test_transient_statuses_retry(status: int) -> None:
    assert classify(status) is Outcome.RETRY


@pytest.mark.parametrize("status", [400, 403, 404, 405, 406, 410, 413, 422, 451, 501])
def test_other_4xx_and_501_are_final(status: int) -> None:
    assert classify(status) is Outcome.PERMANENT


def test_errors_without_an_answer() -> None:
    assert classify(None, FetchNetworkError("reset")) is Outcome.RETRY
    assert classify(None, FetchTimeoutError("slow")) is Outcome.RETRY
    assert classify(None, ForbiddenAddressError("10.0.0.1")) is Outcome.PERMANENT
    assert classify(None, InvalidURLError("ftp://x")) is Outcome.PERMANENT
    assert classify(None, FetchError("odd")) is Outcome.PERMANENT
    # A bug of ours: retried, so that a fixed worker can still deliver.
    assert classify(None, RuntimeError("bug")) is Outcome.RETRY
    # A status always wins over the error.
    assert classify(503, ForbiddenAddressError("x")) is Outcome.RETRY


def test_backoff_grows_exponentially_within_jitter() -> None:
    rng = random.Random(7)
    previous = timedelta(0)
    for attempt in range(1, 10):
        delay = next_delay(attempt, rng)
        assert delay is not None
        nominal = timedelta(minutes=2 ** (attempt - 1))
        assert nominal * 0.8 <= delay <= nominal * 1.2
        assert delay > previous * 1.3  # jitter never hides the growth
        previous = delay


def test_backoff_is_capped_and_spans_about_three_days() -> None:
    for seed in range(20):
        rng = random.Random(seed)
        delays = [next_delay(a, rng) for a in range(1, MAX_ATTEMPTS)]
        assert all(d is not None and d <= MAX_DELAY * 1.2 for d in delays)
        total = sum((d for d in delays if d is not None), timedelta(0))
        assert timedelta(days=2.5) < total < timedelta(days=4)


def test_jitter_spreads_jobs_that_failed_together() -> None:
    rng = random.Random(1)
    delays = {next_delay(5, rng) for _ in range(50)}
    assert len(delays) == 50


def test_attempts_run_out() -> None:
    rng = random.Random(0)
    assert next_delay(MAX_ATTEMPTS - 1, rng) is not None
    assert next_delay(MAX_ATTEMPTS, rng) is None
    assert next_delay(MAX_ATTEMPTS, rng, timedelta(seconds=5)) is None
    with pytest.raises(ValueError):
        next_delay(0, rng)


def test_retry_after_is_a_lower_bound_and_capped() -> None:
    rng = random.Random(3)
    # Longer than our backoff: honoured.
    assert next_delay(1, rng, timedelta(minutes=30)) == timedelta(minutes=30)
    # Shorter than our backoff: we still back off (a 429 saying "1 s" forever must not
    # burn all attempts in a minute).
    delay = next_delay(6, rng, timedelta(seconds=1))
    assert delay is not None and delay >= timedelta(minutes=25)
    # A week: capped.
    assert next_delay(1, rng, timedelta(days=7)) == MAX_RETRY_AFTER


def test_host_pause_starts_at_the_threshold_and_grows() -> None:
    assert host_pause(0) is None
    assert host_pause(PAUSE_AFTER_FAILURES - 1) is None
    first = host_pause(PAUSE_AFTER_FAILURES)
    assert first == timedelta(minutes=1)
    later = host_pause(PAUSE_AFTER_FAILURES + 10)
    assert later is not None and later > first
    assert host_pause(10_000) == MAX_PAUSE
