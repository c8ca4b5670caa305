"""A monotonic clock that tests move by hand, for limiters and anything else that waits."""

from __future__ import annotations


class ManualClock:
    """Callable like `time.monotonic`; time passes only through `advance`."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        assert seconds >= 0, "a monotonic clock never goes back"
        self.now += seconds
