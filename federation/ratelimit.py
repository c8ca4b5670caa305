"""Rate limits as a pure, clock-injected limiter: `limit` events per `period` seconds per key.

The algorithm is GCRA (the generic cell rate algorithm), which behaves as a
token bucket holding `limit` tokens that refill at `limit / period` per
second, but keeps a single float per key: its *theoretical arrival time*
(`tat`), the moment at which the key's bucket would be full again. A key
whose `tat` has passed is indistinguishable from a key never seen, so it is
dropped; memory therefore follows the keys active within one `period`, and a
hard cap (`max_keys`) evicts the least recently charged keys beyond that.
An eviction can only ever forgive a key, never refuse one wrongly.

The limiter separates *asking* (`wait`) from *charging* (`take`), so a caller
can check before expensive work and charge only for what it decides counts
(the inbox charges only requests whose signature verified); `take` may run
the bucket into debt when several requests passed the check concurrently,
which later requests then wait off. `give_back` returns a charge (a sign-in
whose password proved right). `hit` is check-and-charge in one step.

Counters live in this object, so a limit applies per process. Protocol-agnostic
and pure: no I/O, no imports of ours, no clock reads except the `clock`
callable passed in (monotonic seconds, e.g. `time.monotonic`).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["DEFAULT_MAX_KEYS", "MonotonicClock", "RateLimiter", "retry_after_seconds"]

MonotonicClock = Callable[[], float]
"""Seconds from an arbitrary origin that never go backwards (`time.monotonic`)."""

DEFAULT_MAX_KEYS = 50_000
"""Keys tracked at most per limiter: about 150 bytes each, so a few MB in the worst case
(an attacker cycling through keys); ordinary traffic stays far below it because idle
keys are dropped as soon as their bucket has refilled."""

_SLACK = 1e-6
"""Seconds of float rounding forgiven, so that waiting exactly the time `wait` returned
always succeeds."""


class RateLimiter:
    """`limit` events per `period` seconds per key, in bursts of up to `limit`.

    `limit = 0` switches the limiter off: it allows everything and keeps nothing.
    """

    __slots__ = ("_clock", "_interval", "_max_keys", "_tats", "limit", "period")

    def __init__(
        self,
        limit: int,
        period: float,
        clock: MonotonicClock,
        *,
        max_keys: int = DEFAULT_MAX_KEYS,
    ) -> None:
        if limit < 0:
            raise ValueError(f"limit must not be negative, got {limit}")
        if limit and not period > 0:
            raise ValueError(f"period must be positive, got {period}")
        if max_keys < 1:
            raise ValueError(f"max_keys must be positive, got {max_keys}")
        self.limit = limit
        self.period = float(period)
        self._clock = clock
        self._max_keys = max_keys
        self._interval = self.period / limit if limit else 0.0
        self._tats: OrderedDict[str, float] = OrderedDict()

    @classmethod
    def off(cls) -> RateLimiter:
        """A limiter that allows everything (and never reads a clock)."""
        return cls(0, 0, _no_clock)

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    def __len__(self) -> int:
        """Keys currently tracked (for tests and metrics)."""
        return len(self._tats)

    def wait(self, key: str) -> float:
        """Seconds until `key` may have one more event; 0.0 if it may now. Charges nothing."""
        if not self.limit:
            return 0.0
        now = self._clock()
        tat = self._tats.get(key, now)
        wait = max(tat, now) + self._interval - self.period - now
        return wait if wait > _SLACK else 0.0

    def take(self, key: str) -> None:
        """Charge one event to `key`, even beyond the limit (then later events wait longer)."""
        if not self.limit:
            return
        now = self._clock()
        self._prune(now)
        tats = self._tats
        tats[key] = max(tats.get(key, now), now) + self._interval
        tats.move_to_end(key)
        if len(tats) > self._max_keys:
            tats.popitem(last=False)

    def give_back(self, key: str) -> None:
        """Undo one `take` for `key` (an event that turned out not to count)."""
        tat = self._tats.get(key)
        if tat is None:
            return
        tat -= self._interval
        if tat <= self._clock():
            del self._tats[key]
        else:
            self._tats[key] = tat

    def hit(self, key: str) -> float:
        """Charge one event if `key` may have it now and return 0.0; otherwise charge
        nothing and return the seconds to wait (as `wait`)."""
        wait = self.wait(key)
        if wait == 0.0:
            self.take(key)
        return wait

    def _prune(self, now: float) -> None:
        """Drop keys, oldest charge first, whose buckets have refilled (amortised O(1))."""
        tats = self._tats
        while tats:
            key, tat = next(iter(tats.items()))
            if tat > now:
                return
            del tats[key]


def _no_clock() -> float:
    raise AssertionError("a limiter that is off never reads its clock")


def retry_after_seconds(wait: float) -> int:
    """A `Retry-After` value for `wait` seconds: whole seconds, rounded up, at least 1."""
    return max(1, math.ceil(wait))
