"""Keyset paging of the site's long listings (issue 16): newest first, a page of
PAGE_SIZE, `?max_id=ID` for the entries older than ID, and the next page's address only
when there is one.

A page reads PAGE_SIZE + 1 rows (`WHERE id < max_id ORDER BY id DESC LIMIT n + 1`): the
extra row says whether an older page exists without counting, and no OFFSET makes deep
pages slow. A cursor that is no id a database integer holds (not digits, negative,
beyond int64) is no cursor: the listing starts at its newest entry, as if none were given.

Must not import the page modules.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final, TypeVar

from aiohttp import web

__all__ = ["PAGE_SIZE", "cursor", "next_page", "older_url"]

PAGE_SIZE: Final = 20
MAX_ID: Final = 2**63 - 1  # BIGINT on PostgreSQL, INTEGER on SQLite

T = TypeVar("T")
C = TypeVar("C")


def cursor(request: web.Request, name: str = "max_id") -> int | None:
    """The page's cursor from the query: an id (0 included: a live timeline that was
    empty asks what is newer than 0), else None (the first page)."""
    value = request.query.get(name, "")
    if not value.isascii() or not value.isdigit() or len(value) > 19:
        return None
    number = int(value)
    return number if number <= MAX_ID else None


def next_page(rows: Sequence[T], key: Callable[[T], C], size: int = PAGE_SIZE) -> C | None:
    """For rows read with LIMIT size + 1: the cursor of the page after the first `size`
    (`key` of the last one shown, usually its id), or None when that was the last page."""
    return key(rows[size - 1]) if len(rows) > size else None


def older_url(request: web.Request, value: object, name: str = "max_id") -> str | None:
    """This page's address with the cursor set to `value` (its other parameters kept), or
    None without one."""
    if value is None:
        return None
    query = request.rel_url.query.copy()
    query[name] = str(value)
    return str(request.rel_url.with_query(query))
