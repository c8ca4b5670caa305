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


async def public_posts(
    session: AsyncSession, actor_uri: str, *, limit: int = 20, max_id: int | None = None
) -> list[Status]:
    """An actor's newest public posts, boosts left out (feeds, profile pages); with
    `max_id`, those older than that post (keyset paging)."""
    query = select(Status).where(
        Status.actor_uri == actor_uri,
        Status.deleted_at.is_(None),
        Status.visibility == Visibility.PUBLIC,
        Status.reblog_of_id.is_(None),
    )
    if max_id is not None:
        query = query.where(Status.id < max_id)
    return list(await session.scalars(query.order_by(Status.id.desc()).limit(limit)))


async def tagged_posts(session: AsyncSession, tag: str, *, limit: int = 40) -> list[Status]:
    """Our public posts filed under a hashtag (newest first)."""
    posts, _ = await tagged_page(session, tag, limit=limit)
    return posts


async def tagged_page(
    session: AsyncSession,
    tag: str,
    *,
    limit: int,
    max_id: int | None = None,
) -> tuple[list[Status], int | None]:
    """A page of `tagged_posts` older than `max_id`, and the `max_id` of the next page
    (None on the last). The page may hold fewer than `limit` posts: the tag index
    narrows, the tag list decides, so the cursor follows the index rows read."""
    name = normalize_hashtag(tag)
    key = hashtag_key(name)
    if key is None:
        return [], None
    query = (
        select(Status)
        .join(StatusTag, StatusTag.status_id == Status.id)
        .where(
            StatusTag.tag == key,
            Status.local_actor_id.is_not(None),
            Status.deleted_at.is_(None),
            Status.visibility == Visibility.PUBLIC,
            Status.reblog_of_id.is_(None),
        )
    )
    if max_id is not None:
        query = query.where(Status.id < max_id)
    rows = list(await session.scalars(query.order_by(Status.id.desc()).limit(limit + 1)))
    older = rows[limit - 1].id if len(rows) > limit else None
    # The tag index narrows the search; the tag list decides (the exact name).
    posts = [
        s
        for s in rows[:limit]
        if any(isinstance(t, dict) and t.get("name") == f"#{name}" for t in tags_of(s))
    ]
    return posts, older
