"""Working groups as FEP-1b12 groups (issue 15): what a local `Group` actor sends.

A post addressed to the group (in `to`, `cc` or `audience`, or mentioning it) by one of
its members (an accepted follower) is distributed by the group: an `Announce` whose
`object` is the member's `Create`, exactly as received (FEP-1b12: the wrapped activity is
kept unchanged), to the group's followers — Lemmy, Friendica and our own inbox read
that; Mastodon fetches the `Create` by its id. Here the Announce is also a boost
wrapper, so the group's local followers see the post in their home timelines with
"boosted by" the group, and the group's moderators remove it with the ordinary Undo of
a boost (`outbox.posts.unboost`).

A members-only group (`actors.members_only`) announces to its followers collection only,
never publicly, whatever the post's own addressing; its Follows always wait for approval.

Must not import `inbox`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.base import among
from actors.models import Actor, ActorType, Follow, FollowState
from actors.uris import LocalUris
from federation.documents import AS_CONTEXT, format_datetime
from federation.policy import FederationPolicy
from federation.rendering import PUBLIC
from outbox.addressing import _recipient_inboxes
from outbox.boosts import store_boost
from outbox.documents import create_activity_uri
from outbox.models import Status, Visibility
from outbox.publish import enqueue


async def addressed_groups(
    session: AsyncSession, uris: LocalUris, addressed: Iterable[str]
) -> list[Actor]:
    """The local Group actors among `addressed` actor URIs (none without a local one)."""
    keys = {n.lower() for u in addressed if (n := uris.username_of(u)) is not None}
    if not keys:
        return []
    rows = await session.scalars(
        select(Actor).where(
            among(Actor.username_key, keys),
            Actor.type == ActorType.GROUP,
            Actor.is_instance.is_(False),
        )
    )
    return list(rows)


async def is_member(session: AsyncSession, group_uri: str, actor_uri: str) -> bool:
    """Whether `actor_uri` follows the group, accepted (a pending request is no member)."""
    row = await session.scalar(
        select(Follow.id).where(
            Follow.follower_uri == actor_uri,
            Follow.followed_uri == group_uri,
            Follow.state == FollowState.ACCEPTED,
        )
    )
    return row is not None


async def announce_for_group(
    session: AsyncSession,
    *,
    group: Actor,
    uris: LocalUris,
    status: Status,
    create: Mapping[str, object],
    now: datetime,
    policy: FederationPolicy,
) -> Status | None:
    """Distribute a member's post: the Announce of its `create` and the local boost
    wrapper. None when the group announced it already, or the post is deleted or a
    boost. The caller has checked membership and commits."""
    if status.deleted_at is not None or status.reblog_of_id is not None:
        return None
    group_uri = uris.actor(group.username)
    announced = await session.scalar(
        select(Status.id).where(Status.actor_uri == group_uri, Status.reblog_of_id == status.id)
    )
    if announced is not None:
        return None
    followers = uris.followers(group_uri)
    public = not group.members_only and status.visibility in (
        Visibility.PUBLIC,
        Visibility.UNLISTED,
    )
    to, cc = ([PUBLIC], [followers]) if public else ([followers], [])
    wrapper = await store_boost(
        session,
        uris=uris,
        actor=group,
        target=status,
        visibility=Visibility.PUBLIC if public else Visibility.PRIVATE,
        to=to,
        cc=cc,
        now=now,
    )
    inboxes = await _recipient_inboxes(
        session,
        actor_uri=group_uri,
        uris=uris,
        visibility=wrapper.visibility,
        addressed=[],
    )
    announce: dict[str, object] = {
        "@context": AS_CONTEXT,
        "id": create_activity_uri(wrapper),
        "type": "Announce",
        "actor": group_uri,
        "published": format_datetime(now),
        "to": to,
        "cc": cc,
        "audience": group_uri,
        "object": dict(create),
    }
    await enqueue(session, actor=group, activity=announce, inboxes=inboxes, now=now, policy=policy)
    return wrapper


async def distribute_local_post(
    session: AsyncSession,
    *,
    author_uri: str,
    uris: LocalUris,
    status: Status,
    create: Mapping[str, object],
    mentioned: Iterable[str],
    now: datetime,
    policy: FederationPolicy,
) -> None:
    """A local member's post that mentions local groups: each group it is a member of
    announces it, as for a remote member's."""
    for group in await addressed_groups(session, uris, mentioned):
        if await is_member(session, uris.actor(group.username), author_uri):
            await announce_for_group(
                session,
                group=group,
                uris=uris,
                status=status,
                create=create,
                now=now,
                policy=policy,
            )
