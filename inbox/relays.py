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
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.models import Actor, Follow, FollowState, RemoteActor
from actors.relations import record_received_follow
from actors.relays import (
    Relay,
    RelayState,
    answered_relay,
    relay_following_us,
    relay_host,
    relay_of_actor,
)
from federation.activities import AsObject
from federation.documents import AS_CONTEXT
from federation.posts import PUBLIC_COLLECTION
from inbox.context import HandlerContext, Incoming
from outbox.follows import accept_follow, embeddable_follow, reject_follow
from outbox.models import Activity as OutboxActivity
from outbox.publish import enqueue, new_activity_uri

log = logging.getLogger("verbund.inbox")

# Actor types of instance actors, which relays serve (ActivityRelay takes Application only;
# Pleroma's relay actor is an Application, Misskey's instance actor a Service).
SUBSCRIBER_TYPES = frozenset({"Application", "Service"})


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


async def follow_of_instance_actor(
    ctx: HandlerContext, session: AsyncSession, act: Incoming
) -> None:
    """A Follow of our instance actor (or of as:Public, Mastodon's relay subscription):
    a relay we subscribe to following back, or, when we serve as a relay, a subscriber.
    Both are accepted; a would-be subscriber that may not subscribe gets a Reject; any
    other Follow of the instance actor is ignored."""
    instance = await session.scalar(select(Actor).where(Actor.is_instance.is_(True)))
    if act.actor is None or instance is None:
        return
    relay = await relay_following_us(session, act.actor_uri)
    if relay is not None:
        relay.actor_uri = relay.actor_uri or act.actor_uri
        await _accept(ctx, session, act, instance)
        return
    if ctx.relay_subscribers is None:
        log.info("ignoring Follow %s of the instance actor: not a relay we subscribe to", act.id)
        return
    row = await _follow_row(ctx, session, act)
    allowed = relay_host(act.actor_uri) in ctx.relay_subscribers
    if not allowed or act.actor.type not in SUBSCRIBER_TYPES:
        why = "its domain is not in relay.subscribers" if not allowed else "it is no instance actor"
        log.info("refusing relay subscription %s: %s", act.id, why)
        await reject_follow(
            session,
            actor=instance,
            row=row,
            follower=act.actor,
            now=ctx.now,
            policy=ctx.policy,
        )
        return
    await _accept(ctx, session, act, instance, row)


async def _follow_row(ctx: HandlerContext, session: AsyncSession, act: Incoming) -> Follow:
    return await record_received_follow(
        session,
        follower_uri=act.actor_uri,
        followed_uri=ctx.uris.instance_actor,
        activity_uri=act.id,
        now=ctx.now,
    )


async def _accept(
    ctx: HandlerContext,
    session: AsyncSession,
    act: Incoming,
    instance: Actor,
    row: Follow | None = None,
) -> None:
    assert act.actor is not None
    await accept_follow(
        session,
        actor=instance,
        row=row or await _follow_row(ctx, session, act),
        follower=act.actor,
        now=ctx.now,
        follow_body=embeddable_follow(dict(act.activity.body)),
        policy=ctx.policy,
    )


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


async def _subscriber_inboxes(session: AsyncSession, instance_uri: str) -> dict[str, str]:
    """{subscriber host: its (shared) inbox} for the accepted follows of our instance
    actor, relays we subscribe to left out (their follow-backs are no subscriptions)."""
    rows = await session.execute(
        select(RemoteActor.uri, RemoteActor.inbox_uri, RemoteActor.shared_inbox_uri)
        .join(Follow, Follow.follower_uri == RemoteActor.uri)
        .where(Follow.followed_uri == instance_uri, Follow.state == FollowState.ACCEPTED)
    )
    relays = set(await session.scalars(select(Relay.actor_uri).where(Relay.actor_uri.is_not(None))))
    return {relay_host(uri): shared or inbox for uri, inbox, shared in rows if uri not in relays}


async def relay_for_subscribers(
    ctx: HandlerContext, session: AsyncSession, acts: Sequence[Incoming]
) -> None:
    """Serving as a relay: announce each public post a subscriber's instance sent us to
    the other subscribers (ActivityRelay's `Announce{object: the post's id}`), once per
    post."""
    if ctx.relay_subscribers is None:
        return
    instance_uri = ctx.uris.instance_actor
    inboxes: dict[str, str] | None = None
    instance: Actor | None = None
    for act in acts:
        host = relay_host(act.actor_uri)
        if host not in ctx.relay_subscribers or not _is_public(act):
            continue
        obj = act.activity.object
        post_id = obj.id if obj is not None else None
        if post_id is None:
            continue
        if inboxes is None:
            inboxes = await _subscriber_inboxes(session, instance_uri)
            instance = await session.scalar(select(Actor).where(Actor.is_instance.is_(True)))
        if host not in inboxes or instance is None:
            continue  # a permitted domain that has not subscribed
        done = await session.scalar(
            select(OutboxActivity.id).where(
                OutboxActivity.actor_id == instance.id,
                OutboxActivity.type == "Announce",
                OutboxActivity.object_uri == post_id,
            )
        )
        if done is not None:
            continue
        announce: dict[str, object] = {
            "@context": AS_CONTEXT,
            "id": new_activity_uri(instance_uri, "relayed"),
            "type": "Announce",
            "actor": instance_uri,
            "to": [ctx.uris.followers(instance_uri)],
            "object": post_id,
        }
        others = [inbox for h, inbox in inboxes.items() if h != host]
        await enqueue(
            session,
            actor=instance,
            activity=announce,
            inboxes=others,
            now=ctx.now,
            policy=ctx.policy,
        )


def _is_public(act: Incoming) -> bool:
    return any(a in PUBLIC_COLLECTION for a in (*act.activity.to, *act.activity.cc))
