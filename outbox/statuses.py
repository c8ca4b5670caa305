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
import json
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, update
from sqlalchemy.ext.asyncio import AsyncSession

from outbox.models import Status, Visibility

__all__ = ["StatusCounter", "bump_count", "status_columns"]


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
    attachments: str = "[]",
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
        "visibility": visibility.value,
        "in_reply_to_uri": in_reply_to_uri,
        "reblog_of_id": reblog_of_id,
        "recipients": json.dumps({"to": list(to), "cc": list(cc)}, ensure_ascii=False),
        "tags": json.dumps(list(tags), ensure_ascii=False),
        "attachments": attachments,
        "replies_count": 0,
        "reblogs_count": 0,
        "favourites_count": 0,
        "published_at": published_at,
        "edited_at": edited_at,
        "deleted_at": None,
        "created_at": created_at,
    }


class StatusCounter(enum.Enum):
    REPLIES = "replies_count"
    REBLOGS = "reblogs_count"
    FAVOURITES = "favourites_count"


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
