"""Follow relations: counts, pages, pending requests, and recording a received Follow."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.models import Follow, FollowState


async def count_relations(session: AsyncSession, actor_uri: str, *, followers: bool) -> int:
    side = Follow.followed_uri if followers else Follow.follower_uri
    n = await session.scalar(
        select(func.count())
        .select_from(Follow)
        .where(side == actor_uri, Follow.state == FollowState.ACCEPTED)
    )
    return int(n or 0)


async def page_relations(
    session: AsyncSession, actor_uri: str, *, followers: bool, offset: int, limit: int
) -> list[str]:
    """URIs of accepted followers (or followed actors), newest first."""
    side, other = (
        (Follow.followed_uri, Follow.follower_uri)
        if followers
        else (Follow.follower_uri, Follow.followed_uri)
    )
    rows = await session.scalars(
        select(other)
        .where(side == actor_uri, Follow.state == FollowState.ACCEPTED)
        .order_by(Follow.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(rows)


async def relations_before(
    session: AsyncSession,
    actor_uri: str,
    *,
    followers: bool,
    max_id: int | None,
    limit: int,
) -> list[tuple[int, str]]:
    """(Follow id, URI) of accepted followers (or followed actors), newest first, those
    with a Follow id below `max_id` when given: keyset pages for long lists."""
    side, other = (
        (Follow.followed_uri, Follow.follower_uri)
        if followers
        else (Follow.follower_uri, Follow.followed_uri)
    )
    query = select(Follow.id, other).where(side == actor_uri, Follow.state == FollowState.ACCEPTED)
    if max_id is not None:
        query = query.where(Follow.id < max_id)
    rows = await session.execute(query.order_by(Follow.id.desc()).limit(limit))
    return [(follow_id, uri) for follow_id, uri in rows]


async def pending_requests(session: AsyncSession, actor_uri: str) -> list[Follow]:
    rows = await session.scalars(
        select(Follow)
        .where(Follow.followed_uri == actor_uri, Follow.state == FollowState.PENDING)
        .order_by(Follow.id)
    )
    return list(rows)


async def record_received_follow(
    session: AsyncSession,
    *,
    follower_uri: str,
    followed_uri: str,
    activity_uri: str,
    now: datetime,
    message: str = "",
) -> Follow:
    """The relation a received Follow asks for: new and pending, or the existing one with
    the newest Follow id (Mastodon matches the Accept or Reject by it) and message."""
    row = await session.scalar(
        select(Follow).where(
            Follow.follower_uri == follower_uri, Follow.followed_uri == followed_uri
        )
    )
    if row is None:
        row = Follow(
            follower_uri=follower_uri,
            followed_uri=followed_uri,
            activity_uri=activity_uri,
            state=FollowState.PENDING,
            message=message,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        await session.flush()
        return row
    row.activity_uri, row.updated_at = activity_uri, now
    if message:
        row.message = message
    return row


async def record_received_follows(
    session: AsyncSession,
    follows: Sequence[tuple[str, str, str]],
    *,
    accept: Callable[[str], bool],
    now: datetime,
) -> set[tuple[str, str]]:
    """`record_received_follow` of several plain Follows (no message), given as
    (follower, followed, Follow id) of distinct pairs, in two statements; each relation
    that is accepted already, or whose followed actor `accept`s at once, is recorded as
    accepted (as `outbox.follows.accept_follow` then does). Returns those pairs."""
    if not follows:
        return set()
    ids = {(follower, followed): uri for follower, followed, uri in follows}
    existing = await session.scalars(
        select(Follow).where(
            Follow.follower_uri.in_({follower for follower, _ in ids}),
            Follow.followed_uri.in_({followed for _, followed in ids}),
        )
    )
    accepted: set[tuple[str, str]] = set()
    for row in existing:
        key = (row.follower_uri, row.followed_uri)
        if key not in ids:
            continue
        row.activity_uri, row.updated_at = ids.pop(key), now
        if row.state == FollowState.ACCEPTED or accept(row.followed_uri):
            row.state = FollowState.ACCEPTED
            accepted.add(key)
    new = [
        {
            "follower_uri": follower,
            "followed_uri": followed,
            "activity_uri": uri,
            "state": FollowState.ACCEPTED if accept(followed) else FollowState.PENDING,
            "message": "",
            "created_at": now,
            "updated_at": now,
        }
        for (follower, followed), uri in ids.items()
    ]
    if new:  # on the Table: one executemany, no ORM objects
        await session.execute(insert(Follow.__table__), new)  # type: ignore[arg-type]  # a Table
        accepted.update(key for key in ids if accept(key[1]))
    return accepted
