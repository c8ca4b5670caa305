"""Mastodon-style ids: (unix milliseconds << 16) | sequence, sortable by age.

Mastodon clients require digit-only ids that sort by creation time (Tusky
compares by length, then lexically); this is Mastodon's own layout.
"""

from __future__ import annotations

import itertools
import secrets
from datetime import datetime

_sequence = itertools.count(secrets.randbelow(1 << 16))


# Ids are positive BIGINTs: times before 1970 (a peer's `published` of year 1) would make
# them negative, which clients cannot page with; 47 bits of milliseconds reach year 6429.
_MAX_MILLIS = (1 << 47) - 1


def snowflake(at: datetime) -> int:
    """A new id for something created at `at` (aware datetime), clamped to 1970..6429."""
    millis = min(max(int(at.timestamp() * 1000), 0), _MAX_MILLIS)
    return (millis << 16) | (next(_sequence) & 0xFFFF)
