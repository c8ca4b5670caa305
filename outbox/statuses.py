"""One way to write a `Status` row, and one way to move its counters.

`status_columns` is the single list of a new row's columns and their defaults, for
posts of ours, boosts of ours, and posts and boosts received (the inbox inserts it with
`INSERT … ON CONFLICT DO NOTHING`). Counters
(`replies_count`, `reblogs_count`, `favourites_count`) only ever change by an atomic
`UPDATE statuses SET x = x + :n`, never by read-modify-write, since the inbox and the
outbox move them concurrently.

A new ORM row is `Status(**status_columns(...))`. Must not import `inbox` or `server`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from actors.base import among, insert_into
from federation.hashtags import hashtag_key
from outbox.models import Status, StatusTag, Visibility

__all__ = ["StatusCounter", "bump_count", "hashtag_keys", "status_columns", "store_tags"]


def status_columns(
    *,
    id: int,
    uri: str,
    actor_uri: str,
    type: str,
    visibility: Visibility,
    published_at: datetime,
    created_at: datetime,
    url: str | None = None,
    local_actor_id: int | None = None,
    author_user_id: int | None = None,
    name: str | None = None,
    summary: str = "",
    content: str = "",
    source: str | None = None,
    language: str | None = None,
    sensitive: bool = False,
    in_reply_to_uri: str | None = None,
    reblog_of_id: int | None = None,
    to: Sequence[str] = (),
    cc: Sequence[str] = (),
    tags: Sequence[object] = (),
    attachments: Sequence[object] = (),
    edited_at: datetime | None = None,
) -> dict[str, object]:
    """Every column of a new `statuses` row; counters start at 0, nothing is deleted."""
    return {
        "id": id,
        "uri": uri,
        "url": url,
        "actor_uri": actor_uri,
        "local_actor_id": local_actor_id,
        "author_user_id": author_user_id,
        "type": type,
        "name": name,
        "summary": summary,
        "content": content,
        "source": source,
        "language": language,
        "sensitive": sensitive,
        "visibility": visibility,
        "in_reply_to_uri": in_reply_to_uri,
        "reblog_of_id": reblog_of_id,
        "recipients": {"to": list(to), "cc": list(cc)},
        "tags": list(tags),
        "attachments": list(attachments),
        "replies_count": 0,
        "reblogs_count": 0,
        "favourites_count": 0,
        "published_at": published_at,
        "edited_at": edited_at,
        "deleted_at": None,
        "created_at": created_at,
    }


def hashtag_keys(tags: Iterable[object]) -> list[str]:
    """The `status_tags` keys of a post's tag list: every tag object whose `name` is a
    hashtag (`#…`), by `hashtag_key`, once each, in order. Mentions and emoji are not."""
    keys = (
        hashtag_key(name)
        for t in tags
        if isinstance(t, dict) and isinstance(name := t.get("name"), str) and name.startswith("#")
    )
    return list(dict.fromkeys(k for k in keys if k))


async def store_tags(session: AsyncSession, status_id: int, tags: Iterable[object]) -> None:
    """Make the post's `status_tags` rows those of `tags` (its new `Status.tags`); every
    write of `Status.tags` calls this, after the row itself is flushed."""
    await session.execute(delete(StatusTag).where(StatusTag.status_id == status_id))
    keys = hashtag_keys(tags)
    if keys:
        await session.execute(
            insert_into(session, StatusTag),
            [{"status_id": status_id, "tag": key} for key in keys],
        )


class StatusCounter(enum.Enum):
    REPLIES = "replies_count"
    REBLOGS = "reblogs_count"
    FAVOURITES = "favourites_count"


async def bump_counts(
    session: AsyncSession,
    counter: StatusCounter,
    counts: Mapping[Any, int],
    key: InstrumentedAttribute[Any],
) -> None:
    """`bump_count` (unsynchronised) for many posts: `counts` maps a value of `key`
    (`Status.id`, `Status.uri`) to its increment. One UPDATE per distinct increment
    (nearly always one, of 1), not one per post: the inbox bumps the counters of a whole
    run of replies, boosts or likes, and each statement is a round trip."""
    by_delta: dict[int, list[Any]] = {}
    for value, delta in counts.items():
        by_delta.setdefault(delta, []).append(value)
    for delta, values in by_delta.items():
        await bump_count(session, counter, delta, among(key, values), synchronize=False)


async def bump_count(
    session: AsyncSession,
    counter: StatusCounter,
    delta: int,
    where: ColumnElement[bool],
    *,
    synchronize: bool = True,
) -> None:
    """`UPDATE statuses SET counter = counter + delta WHERE …`, atomically; a decrement
    never takes a counter below 0 (rows at 0 are left alone).

    `synchronize` also moves the counter on matching rows loaded in `session`, so that
    what the caller renders next shows it; the inbox, which renders nothing, turns it off.
    """
    column = getattr(Status, counter.value)
    stmt = update(Status).where(where)
    if delta < 0:
        stmt = stmt.where(column >= -delta)
    await session.execute(
        stmt.values({column: column + delta}).execution_options(
            synchronize_session="evaluate" if synchronize else False
        )
    )
