"""Home timelines by fan-out on write, and the queries that read them.

Both publishing (our posts) and `inbox` (received posts) add entries here; the
Mastodon API and the CLI read them. Paging follows Mastodon: newest first,
`max_id` (older than), `since_id` (newer than, newest first), `min_id` (the
page immediately above, fetched ascending then reversed).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from actors.base import among, insert_into
from actors.models import Actor, Follow, FollowState
from actors.uris import LocalUris
from outbox.models import Status, TimelineEntry, Visibility


@dataclass(frozen=True, slots=True)
class Page:
    max_id: int | None = None
    since_id: int | None = None
    min_id: int | None = None
    limit: int = 20


async def add_to_timelines(session: AsyncSession, status_id: int, actor_ids: Iterable[int]) -> None:
    """Show a post in these local actors' home timelines (idempotent)."""
    await add_entries(session, [(a, status_id) for a in actor_ids])


async def add_entries(session: AsyncSession, entries: Iterable[tuple[int, int]]) -> None:
    """Show posts in home timelines: (local actor id, status id) pairs, in one statement
    (idempotent; repeated pairs count once)."""
    rows = [{"actor_id": a, "status_id": s} for a, s in dict.fromkeys(entries)]
    if not rows:
        return
    await session.execute(
        insert_into(session, TimelineEntry).on_conflict_do_nothing(
            index_elements=["actor_id", "status_id"]
        ),
        rows,
    )


async def local_followers(
    session: AsyncSession, uris: LocalUris | str, actor_uri: str
) -> list[int]:
    """Ids of our local actors who follow `actor_uri` (accepted). `uris` may still be
    the base URL (the inbox passes that until it holds a `LocalUris`)."""
    return sorted((await local_followers_of(session, uris, [actor_uri])).get(actor_uri, ()))


async def local_followers_of(
    session: AsyncSession, uris: LocalUris | str, actor_uris: Iterable[str]
) -> dict[str, set[int]]:
    """`local_followers` of several actors in two queries: actor → ids of our local actors
    following it (accepted); actors nobody here follows are left out."""
    keys = await local_follower_keys(session, uris, actor_uris)
    if not keys:
        return {}
    ids = dict(
        (key, actor_id)
        for key, actor_id in await session.execute(
            select(Actor.username_key, Actor.id).where(
                among(Actor.username_key, set().union(*keys.values())),
                Actor.is_instance.is_(False),
            )
        )
    )
    out = {actor: {ids[k] for k in names if k in ids} for actor, names in keys.items()}
    return {actor: followers for actor, followers in out.items() if followers}


async def local_follower_keys(
    session: AsyncSession, uris: LocalUris | str, actor_uris: Iterable[str]
) -> dict[str, set[str]]:
    """Actor → username keys of our actors whose follow of it is accepted (one query), for
    callers that look those actors up together with others."""
    local = LocalUris(uris) if isinstance(uris, str) else uris
    wanted = set(actor_uris)
    if not wanted:
        return {}
    rows = await session.execute(
        select(Follow.followed_uri, Follow.follower_uri).where(
            among(Follow.followed_uri, wanted),
            Follow.state == FollowState.ACCEPTED,
            Follow.follower_uri.startswith(local.actor("")),
        )
    )
    keys: dict[str, set[str]] = {}
    for followed, follower in rows:
        if name := local.username_of(follower):
            keys.setdefault(followed, set()).add(name.lower())
    return keys


def paginate(
    query: Select[Status], page: Page, key: InstrumentedAttribute[int] = Status.id
) -> tuple[Select[Status], bool]:
    """Apply Mastodon paging to a Status query; True if results must be reversed. `key`
    is the column holding the status id to page by (`Status.id`, or a joined copy of it
    whose index gives the order)."""
    limit = max(1, min(page.limit, 40))
    if page.max_id is not None:
        query = query.where(key < page.max_id)
    if page.min_id is not None:
        return query.where(key > page.min_id).order_by(key.asc()).limit(limit), True
    if page.since_id is not None:
        query = query.where(key > page.since_id)
    return query.order_by(key.desc()).limit(limit), False


async def _run(
    session: AsyncSession,
    query: Select[Status],
    page: Page,
    key: InstrumentedAttribute[int] = Status.id,
) -> list[Status]:
    query, reverse = paginate(query, page, key)
    rows = list(await session.scalars(query))
    return rows[::-1] if reverse else rows


def _no_index_is_null(column: InstrumentedAttribute[int | None]) -> ColumnElement[bool]:
    """`column IS NULL` for an id column (ids are positive), spelled so that no index
    answers it. For `reblog_of_id IS NULL`, true of nearly every post, SQLite's planner
    took the index on `reblog_of_id` and then sorted every post it found (19 ms a page at
    100,000 posts, growing with them) instead of walking the primary key newest first
    and stopping after a page (0.03 ms)."""
    return func.coalesce(column, 0) == 0


async def home_timeline(session: AsyncSession, actor_id: int, page: Page) -> list[Status]:
    """Posts in a local actor's home timeline (not deleted), newest first."""
    query = (
        select(Status)
        .join(TimelineEntry, TimelineEntry.status_id == Status.id)
        .where(TimelineEntry.actor_id == actor_id, Status.deleted_at.is_(None))
    )
    # Paged by the entries' status id: their (actor_id, status_id) index is in that order,
    # so a page reads a page of entries instead of sorting the whole timeline.
    return await _run(session, query, page, TimelineEntry.status_id)


async def public_timeline(
    session: AsyncSession, page: Page, *, local: bool = False, remote: bool = False
) -> list[Status]:
    """Public posts known to this instance (boost wrappers excluded), newest first."""
    query = select(Status).where(
        Status.visibility == Visibility.PUBLIC,
        Status.deleted_at.is_(None),
        _no_index_is_null(Status.reblog_of_id),
    )
    if local:
        query = query.where(Status.local_actor_id.is_not(None))
    if remote:
        query = query.where(_no_index_is_null(Status.local_actor_id))
    return await _run(session, query, page)


async def actor_statuses(
    session: AsyncSession, actor_uri: str, page: Page, *, visibilities: Iterable[str]
) -> list[Status]:
    """An actor's own posts and boosts with the given visibilities, newest first."""
    query = select(Status).where(
        Status.actor_uri == actor_uri,
        Status.deleted_at.is_(None),
        Status.visibility.in_(list(visibilities)),
    )
    return await _run(session, query, page)
