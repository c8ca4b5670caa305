"""Mastodon-style ids: (unix milliseconds << 16) | sequence, sortable by age.

Mastodon clients require digit-only ids that sort by creation time (Tusky
compares by length, then lexically); this is Mastodon's own layout.
"""

from __future__ import annotations

import itertools
import secrets
from datetime import datetime

_sequence = itertools.count(secrets.randbelow(1 << 16))


def snowflake(at: datetime) -> int:
    """A new id for something created at `at` (aware datetime)."""
    return (int(at.timestamp() * 1000) << 16) | (next(_sequence) & 0xFFFF)
