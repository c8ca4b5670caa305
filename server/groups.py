"""Working groups as the CLI and the API run them (FEP-1b12): members, removing a
member, members-only. Distribution and removal of posts are `outbox.groups`' and
`outbox.posts.unboost`'s (a group's announce is a boost).

Removing a member ends its follow (a `Reject`, as Mastodon's remove-follower) and bars
it from joining again (a contact block of the group, which `inbox.contacts` checks for
every Follow).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select

from actors.contacts import add_block
from actors.local import get_actor
from actors.models import ActorType, Follow, FollowState
from outbox import posts
from outbox.models import Status
from server import actions
from server.actions import ActionError
from server.services import Services

__all__ = [
    "Members",
    "list_members",
    "list_posts",
    "remove_member",
    "remove_post",
    "set_members_only",
]


@dataclass(frozen=True, slots=True)
class Members:
    members: list[str]  # accepted followers' actor URIs, oldest first
    pending: list[str]  # follow requests waiting for approval


async def _group(svc: Services, name: str) -> str:
    async with svc.sessionmaker() as session:
        actor = await get_actor(session, name)
    if actor.type is not ActorType.GROUP:
        raise ActionError(f"{name} is not a group (it is of type {actor.type.value})")
    return svc.uris.actor(actor.username)


async def list_members(svc: Services, name: str) -> Members:
    group_uri = await _group(svc, name)
    async with svc.sessionmaker() as session:
        rows = list(
            await session.scalars(
                select(Follow).where(Follow.followed_uri == group_uri).order_by(Follow.id)
            )
        )
    accepted = [r.follower_uri for r in rows if r.state is FollowState.ACCEPTED]
    return Members(accepted, [r.follower_uri for r in rows if r.state is FollowState.PENDING])


async def remove_member(svc: Services, name: str, member: str) -> str:
    """End `member`'s membership (handle or URI) and bar it from joining again; returns
    the member's URI. ActionError when it is no member."""
    group_uri = await _group(svc, name)
    if not member.startswith(("http://", "https://")):
        member = (await actions.resolve_remote(svc, member)).uri
    async with svc.sessionmaker() as session:
        row = await session.scalar(
            select(Follow).where(Follow.followed_uri == group_uri, Follow.follower_uri == member)
        )
    if row is None:
        raise ActionError(f"{member} is no member of {name}")
    if svc.uris.username_of(member) is None:
        await actions.remove_follower(svc, name, member)
    async with svc.sessionmaker() as session:
        await session.execute(
            delete(Follow).where(Follow.followed_uri == group_uri, Follow.follower_uri == member)
        )
        await add_block(session, blocker_uri=group_uri, blocked_uri=member, now=svc.clock())
        await session.commit()
    return member


async def set_members_only(svc: Services, name: str, *, members_only: bool) -> None:
    """Members-only groups announce to their members alone and approve each join."""
    await _group(svc, name)
    async with svc.sessionmaker() as session:
        actor = await get_actor(session, name)
        actor.members_only = members_only
        await session.commit()
    await actions.update_actor(svc, name, locked=True if members_only else None)


async def list_posts(svc: Services, name: str, *, limit: int = 40) -> list[Status]:
    """The posts the group distributed (the originals of its Announces), newest first."""
    group_uri = await _group(svc, name)
    async with svc.sessionmaker() as session:
        boosts = (
            select(Status.reblog_of_id)
            .where(
                Status.actor_uri == group_uri,
                Status.reblog_of_id.is_not(None),
                Status.deleted_at.is_(None),
            )
            .order_by(Status.id.desc())
            .limit(limit)
        )
        return list(
            await session.scalars(
                select(Status)
                .where(Status.id.in_(boosts), Status.deleted_at.is_(None))
                .order_by(Status.id.desc())
            )
        )


async def remove_post(svc: Services, name: str, status_id: int) -> str:
    """Take a post out of the group (Undo of the group's Announce); `status_id` is the
    post's or the group's boost of it. Returns the post's URI; ActionError when the group
    did not distribute it."""
    group_uri = await _group(svc, name)
    async with svc.sessionmaker() as session:
        status = await session.get(Status, status_id)
        if status is not None and status.actor_uri == group_uri and status.reblog_of_id:
            status = await session.get(Status, status.reblog_of_id)
        if status is None:
            raise ActionError(f"no post {status_id} on this instance")
        group = await get_actor(session, name)
        try:
            await posts.unboost(session, svc.publish_context(), actor=group, target=status)
        except posts.NewsError:
            raise ActionError(f"{name} did not distribute post {status_id}") from None
        await session.commit()
        return status.uri
