"""Process-wide tuning for the long-running commands (`verbund serve`, `verbund worker`)."""

from __future__ import annotations

import gc

__all__ = ["settle_gc"]

# Container allocations between young-generation collections (CPython's default is 700).
_YOUNG_THRESHOLD = 20_000


def settle_gc() -> None:
    """Call once start-up is done: keep the cyclic garbage collector off the hot paths.

    Start-up leaves hundreds of thousands of long-lived objects (modules, SQLAlchemy
    mappers, compiled statements); every full collection walked them all again.
    `gc.freeze()` moves them out of the collector's sight for good. Requests then
    allocate mostly short-lived containers that reference counting frees; collecting
    the young generation every 700 allocations cost the inbox and the delivery
    worker about a tenth of their CPU (bench/fanout.py: 0.2 ms of 1.9 ms per
    delivery), so it runs every 20,000 instead. Cycles are still collected.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(_YOUNG_THRESHOLD, older, oldest)
