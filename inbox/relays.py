"""Receiving from relays we subscribe to (FEP-ae0c, issue 15).

- `Accept`/`Reject` of our instance actor's Follow: matched by that Follow's id, from the
  relay's host (ActivityRelay's Accept embeds a Follow whose `object` is the relay actor,
  not the `as:Public` Mastodon-style subscriptions name).
- The relay's follow-back (`Follow` of our instance actor; ActivityRelay sends one to
  everything but Mastodon): accepted while we subscribe to that relay, ignored otherwise.
- `Undo` from a relay naming our own Follow, or our own Undo of it (ActivityRelay answers
  our unsubscribe with `Undo{object: our Undo}`): the subscription is over.
- `Announce` from an accepted relay: the announced public post is kept and shown on the
  federated timeline even though nobody here follows its author — Mastodon's posts
  "requested through relay". No boost wrapper: the relay is not a booster.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.models import Actor, Follow, FollowState
from actors.relays import RelayState, answered_relay, relay_following_us, relay_of_actor
from federation.activities import AsObject
from inbox.context import HandlerContext, Incoming
from outbox.follows import accept_follow, embeddable_follow, find_follow

log = logging.getLogger("verbund.inbox")


async def answer_from_relay(
    ctx: HandlerContext, session: AsyncSession, act: Incoming, *, accepted: bool
) -> bool:
    """Whether this Accept/Reject answered our relay Follow (and recorded it)."""
    obj = act.activity.object
    follow_id = obj.id if obj else None
    if not follow_id:
        return False
    row = await answered_relay(session, act.actor_uri, follow_id)
    if row is None:
        return False
    row.actor_uri = act.actor_uri
    row.state = RelayState.ACCEPTED if accepted else RelayState.REJECTED
    row.updated_at = ctx.now
    log.info("relay %s %s our subscription", act.actor_uri, row.state)
    return True


async def follow_from_relay(ctx: HandlerContext, session: AsyncSession, act: Incoming) -> bool:
    """Whether this Follow is a relay's follow-back of our instance actor (then accepted,
    when we subscribe to that relay; any other Follow of the instance actor is ignored)."""
    obj = act.activity.object
    instance_uri = ctx.uris.instance_actor
    if obj is None or obj.id != instance_uri:
        return False
    relay = await relay_following_us(session, act.actor_uri)
    instance = await session.scalar(select(Actor).where(Actor.is_instance.is_(True)))
    if relay is None or act.actor is None or instance is None:
        log.info("ignoring Follow %s of the instance actor: not a relay we subscribe to", act.id)
        return True
    row = await find_follow(session, act.actor_uri, instance_uri)
    if row is None:
        row = Follow(
            follower_uri=act.actor_uri,
            followed_uri=instance_uri,
            activity_uri=act.id,
            state=FollowState.PENDING,
            created_at=ctx.now,
            updated_at=ctx.now,
        )
        session.add(row)
        await session.flush()
    else:
        row.activity_uri = act.id
    relay.actor_uri = relay.actor_uri or act.actor_uri
    await accept_follow(
        session,
        actor=instance,
        row=row,
        follower=act.actor,
        now=ctx.now,
        follow_body=embeddable_follow(dict(act.activity.body)),
        policy=ctx.policy,
    )
    return True


def _undone_ids(obj: AsObject | None) -> list[str]:
    """The activity ids an Undo names: its object's, and for an embedded Undo (ActivityRelay
    undoes our Undo) what that Undo undid."""
    if obj is None:
        return []
    inner = obj.object_id if obj.embedded and obj.type_in(("Undo",)) else None
    return [i for i in (obj.id, inner) if i]


async def undo_from_relay(ctx: HandlerContext, session: AsyncSession, act: Incoming) -> bool:
    """Whether this Undo is a relay ending our subscription (our Follow, or our Undo of
    it, named as its object). An Undo of the relay's own follow-back is not: the normal
    Undo handling drops that follow."""
    ids = [i for i in _undone_ids(act.activity.object) if ctx.uris.is_local(i)]
    if not ids:
        return False
    relay = await relay_of_actor(session, act.actor_uri, state=None)
    if relay is None:
        # We left already and this is the relay confirming it: nothing to do.
        log.info("ignoring Undo %s: no subscription to %s any more", act.id, act.actor_uri)
        return True
    if any(i == relay.follow_uri or i.startswith(relay.follow_uri + "#") for i in ids):
        relay.state, relay.updated_at = RelayState.REJECTED, ctx.now
        log.info("relay %s ended our subscription", act.actor_uri)
    return True


async def is_relay(session: AsyncSession, actor_uri: str) -> bool:
    """Whether `actor_uri` is a relay we subscribe to (its Announces are kept)."""
    return await relay_of_actor(session, actor_uri) is not None
