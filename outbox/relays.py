"""Subscribing to relays and leaving them (FEP-ae0c, issue 15), through the instance actor.

Relays such as ActivityRelay accept only `Application` followers, which our instance
actor is. Mastodon subscribes by POSTing `Follow{object: as:Public}` to the relay's inbox
(`app/models/relay.rb`); Pleroma and Akkoma follow the relay actor itself. Which one we
send depends on what the operator named: an inbox URL, or the relay's actor. Leaving
sends `Undo` of that Follow. Our public posts go to every accepted relay
(`outbox.addressing`).

Must not import `inbox`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from actors.models import Actor, Follow
from actors.relays import AS_PUBLIC, Relay, RelayState, find_relay
from federation.documents import AS_CONTEXT
from federation.policy import FederationPolicy
from outbox.publish import enqueue, new_activity_uri


class RelayError(Exception):
    """A subscription that cannot be made or found; the message says why."""


def render_relay_follow(*, follow_uri: str, actor_uri: str, object_uri: str) -> dict[str, object]:
    return {
        "@context": AS_CONTEXT,
        "id": follow_uri,
        "type": "Follow",
        "actor": actor_uri,
        "object": object_uri,
    }


async def subscribe(
    session: AsyncSession,
    *,
    instance: Actor,
    instance_uri: str,
    inbox_uri: str,
    relay_actor_uri: str | None,
    now: datetime,
    policy: FederationPolicy,
) -> Relay:
    """Queue the instance actor's Follow to a relay and record the subscription as
    pending. `relay_actor_uri` given: LitePub style (the Follow names the relay actor);
    None: Mastodon style (`as:Public`). Subscribing again re-sends the Follow with a
    fresh id (how a lost subscription is repaired). RelayError when `policy` refuses the
    relay's host. The caller commits."""
    for url in (inbox_uri, relay_actor_uri):
        if url is not None and not policy.allows_url(url):
            raise RelayError(f"cannot subscribe to {url}: its domain is blocked")
    follow_uri = new_activity_uri(instance_uri, "relays")
    object_uri = relay_actor_uri or AS_PUBLIC
    row = await find_relay(session, inbox_uri)
    if row is None:
        row = Relay(inbox_uri=inbox_uri, created_at=now)
        session.add(row)
    row.actor_uri = relay_actor_uri or row.actor_uri
    row.object_uri, row.follow_uri = object_uri, follow_uri
    row.state, row.updated_at = RelayState.PENDING, now
    await session.flush()
    activity = render_relay_follow(
        follow_uri=follow_uri, actor_uri=instance_uri, object_uri=object_uri
    )
    await enqueue(
        session, actor=instance, activity=activity, inboxes=[inbox_uri], now=now, policy=policy
    )
    return row


async def unsubscribe(
    session: AsyncSession,
    *,
    instance: Actor,
    instance_uri: str,
    url: str,
    now: datetime,
    policy: FederationPolicy,
) -> Relay:
    """Queue `Undo` of our Follow to the relay, forget the subscription and the relay's
    follow-back. RelayError when no subscription has this inbox or actor URL. The caller
    commits."""
    row = await find_relay(session, url)
    if row is None:
        raise RelayError(f"no relay subscription for {url}")
    follow = render_relay_follow(
        follow_uri=row.follow_uri, actor_uri=instance_uri, object_uri=row.object_uri
    )
    del follow["@context"]
    undo: dict[str, object] = {
        "@context": AS_CONTEXT,
        "id": row.follow_uri + "#undo",
        "type": "Undo",
        "actor": instance_uri,
        "object": follow,
    }
    await enqueue(
        session, actor=instance, activity=undo, inboxes=[row.inbox_uri], now=now, policy=policy
    )
    if row.actor_uri is not None:
        await session.execute(
            delete(Follow).where(
                Follow.follower_uri == row.actor_uri, Follow.followed_uri == instance_uri
            )
        )
    await session.delete(row)
    return row
