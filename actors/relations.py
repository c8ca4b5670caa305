"""Queries over follow relations: counts, pages, pending requests."""

from __future__ import annotations

from sqlalchemy import func, select
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


async def pending_requests(session: AsyncSession, actor_uri: str) -> list[Follow]:
    rows = await session.scalars(
        select(Follow)
        .where(Follow.followed_uri == actor_uri, Follow.state == FollowState.PENDING)
        .order_by(Follow.id)
    )
    return list(rows)
