"""Delivery retry policy as pure functions: what an answer means, and when to try again.

The classification follows what Mastodon does with our answers and we with its
(federation contract §6, Mastodon `workers/activitypub/delivery_worker.rb`):
2xx is done; 401, 408, 429, 5xx (but 501) and network trouble are worth another
try; every other 4xx and 501 is final. The schedule is exponential with jitter,
16 attempts over about three days, like Mastodon's Sidekiq retries and Fedify's
`createExponentialBackoffPolicy`. No clock reads and no I/O here: the worker
passes the attempt count, a random source and the peer's `Retry-After`.
"""

from __future__ import annotations

import enum
import random
from datetime import timedelta

from federation.errors import FetchError
from federation.fetch import FetchNetworkError

__all__ = [
    "BASE_DELAY",
    "MAX_ATTEMPTS",
    "MAX_DELAY",
    "MAX_RETRY_AFTER",
    "PAUSE_AFTER_FAILURES",
    "Outcome",
    "classify",
    "host_pause",
    "next_delay",
]

MAX_ATTEMPTS = 16
"""Attempts per job, the first included; the 16th failure makes the job dead."""
BASE_DELAY = timedelta(minutes=1)
"""Wait after the first failure; doubles with every further failure…"""
MAX_DELAY = timedelta(hours=12)
"""…up to this. 1 min doubling to 8.5 h, then 12 h: the 15 waits add up to about 3.2 days."""
JITTER = 0.2
"""Each wait is scaled by a uniform factor in [1 - JITTER, 1 + JITTER], so jobs that failed
together (a host outage) do not come back together."""
MAX_RETRY_AFTER = timedelta(hours=6)
"""A peer's `Retry-After` is honoured up to this; beyond it we would rather try again."""

PAUSE_AFTER_FAILURES = 10
"""A host is paused after this many consecutive retryable failures (Mastodon: 10)."""
FIRST_PAUSE = timedelta(minutes=1)
"""The first pause; it doubles with every `PAUSE_STEP` further failures…"""
PAUSE_STEP = 5
MAX_PAUSE = timedelta(hours=6)
"""…up to this."""

_NOT_FINAL_4XX = frozenset({401, 408, 429})


class Outcome(enum.Enum):
    """What to do with a job after an attempt."""

    SUCCESS = "success"
    RETRY = "retry"
    PERMANENT = "permanent"


def classify(status: int | None, error: BaseException | None = None) -> Outcome:
    """Classify one attempt by the peer's final status, or by the error if it never answered.

    `status` wins when given. Without a status: network errors and timeouts
    (`FetchNetworkError`, including `FetchTimeoutError`) retry; other `FetchError`s
    (a forbidden address, a malformed inbox URL) can never succeed and are permanent;
    anything else is a bug of ours, retried so that a fixed worker can still deliver.
    Redirects (3xx) retry: we never follow them on POST, and Mastodon retries them too.
    """
    if status is not None:
        if 200 <= status < 300:
            return Outcome.SUCCESS
        if status == 501 or (400 <= status < 500 and status not in _NOT_FINAL_4XX):
            return Outcome.PERMANENT
        return Outcome.RETRY
    if isinstance(error, FetchNetworkError):
        return Outcome.RETRY
    if isinstance(error, FetchError):
        return Outcome.PERMANENT
    return Outcome.RETRY


def next_delay(
    attempt: int, rng: random.Random, retry_after: timedelta | None = None
) -> timedelta | None:
    """How long to wait after failed attempt number `attempt` (1 = the first), or None
    when the job has had its `MAX_ATTEMPTS` and is dead.

    The wait is `BASE_DELAY · 2^(attempt-1)`, capped at `MAX_DELAY`, scaled by a random
    factor of ±`JITTER` drawn from `rng`. A `retry_after` from the peer is a lower bound,
    capped at `MAX_RETRY_AFTER` so a peer cannot park a job for a week; it never makes
    us try sooner than the backoff would (a 429 answering "1 s" forever must not burn
    all attempts in a minute).
    """
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt}")
    if attempt >= MAX_ATTEMPTS:
        return None
    base = min(BASE_DELAY * (1 << min(attempt - 1, 30)), MAX_DELAY)
    delay = base * (1 - JITTER + 2 * JITTER * rng.random())
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return delay


def host_pause(consecutive_failures: int) -> timedelta | None:
    """How long to pause a host after `consecutive_failures` retryable failures in a row
    with no success between, or None while it is below `PAUSE_AFTER_FAILURES`.

    The pause grows with the streak (doubling every `PAUSE_STEP` failures, capped at
    `MAX_PAUSE`), so a host that is down for days costs a few requests per pause
    rather than one per job. Any success resets the streak (the worker's job).
    """
    if consecutive_failures < PAUSE_AFTER_FAILURES:
        return None
    doublings = (consecutive_failures - PAUSE_AFTER_FAILURES) // PAUSE_STEP
    return min(FIRST_PAUSE * (1 << min(doublings, 30)), MAX_PAUSE)
