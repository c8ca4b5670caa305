"""Reading our published posts: the outbox collection, pages, feeds, tag pages.

Must not import `inbox` or `server`.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from federation.hashtags import hashtag_key, normalize_hashtag
from outbox.documents import render_announce, render_create, tags_of
from outbox.models import Status, StatusTag, Visibility
from outbox.polls import polls_of
from outbox.timelines import Page, actor_statuses

LISTED = (Visibility.PUBLIC, Visibility.UNLISTED)


async def count_listed(session: AsyncSession, actor_uri: str) -> int:
    """How many public and unlisted posts and boosts an actor has (the outbox's totalItems)."""
    n = await session.scalar(
        select(func.count())
        .select_from(Status)
        .where(
            Status.actor_uri == actor_uri,
            Status.deleted_at.is_(None),
            Status.visibility.in_(LISTED),
        )
    )
    return int(n or 0)


async def boosted_uris(session: AsyncSession, wrappers: Iterable[Status]) -> dict[int, str]:
    """reblog_of_id → the boosted post's id, for rendering Announces."""
    ids = {w.reblog_of_id for w in wrappers if w.reblog_of_id is not None}
    if not ids:
        return {}
    rows = await session.execute(select(Status.id, Status.uri).where(Status.id.in_(ids)))
    return {row_id: uri for row_id, uri in rows}


async def outbox_items(
    session: AsyncSession, actor_uri: str, page: Page
) -> list[tuple[Status, dict[str, object]]]:
    """A page of the outbox, newest first: Create for posts, Announce for boosts."""
    rows = await actor_statuses(session, actor_uri, page, visibilities=LISTED)
    targets = await boosted_uris(session, rows)
    polls = await polls_of(session, [r.id for r in rows if r.type == "Question"])
    out: list[tuple[Status, dict[str, object]]] = []
    for row in rows:
        if row.reblog_of_id is None:
            out.append((row, render_create(row, context=False, poll=polls.get(row.id))))
        elif row.reblog_of_id in targets:
            out.append((row, render_announce(row, targets[row.reblog_of_id], context=False)))
    return out


async def public_posts(session: AsyncSession, actor_uri: str, *, limit: int = 20) -> list[Status]:
    """An actor's newest public posts, boosts left out (feeds, profile pages)."""
    rows = await session.scalars(
        select(Status)
        .where(
            Status.actor_uri == actor_uri,
            Status.deleted_at.is_(None),
            Status.visibility == Visibility.PUBLIC,
            Status.reblog_of_id.is_(None),
        )
        .order_by(Status.id.desc())
        .limit(limit)
    )
    return list(rows)


async def tagged_posts(session: AsyncSession, tag: str, *, limit: int = 40) -> list[Status]:
    """Our public posts filed under a hashtag (newest first)."""
    name = normalize_hashtag(tag)
    key = hashtag_key(name)
    if key is None:
        return []
    rows = await session.scalars(
        select(Status)
        .join(StatusTag, StatusTag.status_id == Status.id)
        .where(
            StatusTag.tag == key,
            Status.local_actor_id.is_not(None),
            Status.deleted_at.is_(None),
            Status.visibility == Visibility.PUBLIC,
            Status.reblog_of_id.is_(None),
        )
        .order_by(Status.id.desc())
        .limit(limit)
    )
    # The tag index narrows the search; the tag list decides (the exact name).
    return [
        s
        for s in rows
        if any(isinstance(t, dict) and t.get("name") == f"#{name}" for t in tags_of(s))
    ]
