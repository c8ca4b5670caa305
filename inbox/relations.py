"""Receiving relations: Follow, Accept, Reject, Block, Undo, and Delete of an actor.

Replies (Accept of a Follow) go through `outbox`'s public functions. An Undo of a
Like or an Announce is passed on to `inbox.reactions`; a Delete of anything but the
actor itself to `inbox.posts`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.contacts import blocked_pairs
from actors.models import Actor, Block, Follow, FollowState, RemoteActor
from actors.relations import record_received_follow, record_received_follows
from actors.relays import AS_PUBLIC
from federation.activities import fits_uri
from inbox.contacts import (
    answer_received,
    contact_message,
    is_plain_follow,
    receive_contact_request,
    refuses_as_alias,
    refuses_follow,
    withdraw_received,
)
from inbox.context import HandlerContext, Incoming
from inbox.posts import forget_actor_posts, on_delete_object, on_delete_objects
from inbox.reactions import on_undo_announce, on_undo_like
from inbox.relays import answer_from_relay, follow_of_instance_actor, undo_from_relay
from outbox.follows import (
    Acceptance,
    accept_follow,
    accept_follows,
    embeddable_follow,
    find_follow,
    remove_follows_between,
)

log = logging.getLogger("verbund.inbox")

# What an Undo can take back.
UNDOABLE = ("Follow", "Block", "Like", "Announce")


async def local_actor_by_uri(
    ctx: HandlerContext, session: AsyncSession, uri: str | None
) -> Actor | None:
    """Our (non-instance) actor with this URI; usernames ignore case (`…/users/ORG`)."""
    username = ctx.uris.username_of(uri) if uri else None
    if not username:
        return None
    return await session.scalar(
        select(Actor).where(Actor.username_key == username.lower(), Actor.is_instance.is_(False))
    )


def _object_id(act: Incoming) -> str | None:
    return act.activity.object.id if act.activity.object else None


async def on_follow(ctx: HandlerContext, session: AsyncSession, act: Incoming) -> None:
    if _object_id(act) in (ctx.uris.instance_actor, AS_PUBLIC):
        await follow_of_instance_actor(ctx, session, act)
        return
    local = await local_actor_by_uri(ctx, session, _object_id(act))
    if local is None or act.actor is None:
        return
    # Usernames ignore case (`…/users/ORG` finds `org`); relations use the canonical id.
    target_uri = ctx.uris.actor(local.username)
    if await refuses_follow(ctx, session, act, local):
        return
    if await session.scalar(
        select(Block.id).where(Block.blocker_uri == act.actor_uri, Block.blocked_uri == target_uri)
    ):
        # They blocked us and now follow again: Mastodon unblocks first, so lift ours.
        await session.execute(
            delete(Block).where(Block.blocker_uri == act.actor_uri, Block.blocked_uri == target_uri)
        )
    message = contact_message(act)
    row = await record_received_follow(
        session,
        follower_uri=act.actor_uri,
        followed_uri=target_uri,
        activity_uri=act.id,
        now=ctx.now,
        message=message,
    )
    if message and row.state != FollowState.ACCEPTED:
        # A Follow with a message is a contact request: the recipient decides, locked or not.
        await receive_contact_request(
            session, act, target_uri=target_uri, message=message, now=ctx.now
        )
        return
    if row.state == FollowState.ACCEPTED or not local.manually_approves:
        await accept_follow(
            session,
            actor=local,
            row=row,
            follower=act.actor,
            now=ctx.now,
            follow_body=embeddable_follow(dict(act.activity.body)),
            policy=ctx.policy,
        )


def _plain_follow_key(ctx: HandlerContext, act: Incoming) -> tuple[str, str] | None:
    """(sender, our actor's username key) of a Follow that `on_follows` takes with others:
    of one of our (non-instance) actors by a known sender, no contact request; None for
    any other Follow, which `on_follow` handles on its own."""
    target = _object_id(act)
    if target is None or target in (ctx.uris.instance_actor, AS_PUBLIC) or act.actor is None:
        return None
    username = ctx.uris.username_of(target)
    if not username or not is_plain_follow(act):
        return None
    return act.actor_uri, username.lower()


async def on_follows(ctx: HandlerContext, session: AsyncSession, acts: Sequence[Incoming]) -> None:
    """A run of Follows in order: consecutive plain Follows of our actors together
    (`_plain_follows`), any other one (of the instance actor, a contact request, from an
    unknown sender) on its own; a second Follow of the same pair starts a new group, so
    each is decided as `on_follow` decides it alone."""
    group: list[Incoming] = []
    pairs: set[tuple[str, str]] = set()
    for act in acts:
        key = _plain_follow_key(ctx, act)
        if key is not None and key not in pairs:
            group.append(act)
            pairs.add(key)
            continue
        await _plain_follows(ctx, session, group)
        group, pairs = [], set()
        if key is None:
            await on_follow(ctx, session, act)
        else:
            group, pairs = [act], {key}
    await _plain_follows(ctx, session, group)


async def _plain_follows(
    ctx: HandlerContext, session: AsyncSession, acts: Sequence[Incoming]
) -> None:
    """Plain Follows of distinct (sender, our actor) pairs, with `on_follow`'s outcome for
    each: our actors looked up in one query, the blocks either side in one each, the
    relations recorded in two statements, the Accepts queued in two."""
    if len(acts) <= 1:
        for act in acts:
            await on_follow(ctx, session, act)
        return
    keys = {key[1] for act in acts if (key := _plain_follow_key(ctx, act))}
    found = await session.scalars(
        select(Actor).where(Actor.username_key.in_(keys), Actor.is_instance.is_(False))
    )
    locals_ = {actor.username_key: actor for actor in found}
    wanted: list[tuple[Incoming, Actor, str]] = []  # (Follow, our actor, its canonical id)
    for act in acts:
        key = _plain_follow_key(ctx, act)
        local = locals_.get(key[1]) if key else None
        if local is not None and not refuses_as_alias(ctx, act, local):
            wanted.append((act, local, ctx.uris.actor(local.username)))
    refused = await blocked_pairs(session, ((target, act.actor_uri) for act, _, target in wanted))
    for act, _, target in wanted:
        if (target, act.actor_uri) in refused:
            log.info("ignoring Follow %s: %s blocked its sender", act.id, target)
    wanted = [w for w in wanted if (w[2], w[0].actor_uri) not in refused]
    if not wanted:
        return
    # They blocked us and now follow again: Mastodon unblocks first, so lift theirs.
    theirs = {(act.actor_uri, target) for act, _, target in wanted}
    lifted = [
        block_id
        for block_id, blocker, blocked in await session.execute(
            select(Block.id, Block.blocker_uri, Block.blocked_uri).where(
                Block.blocker_uri.in_({blocker for blocker, _ in theirs}),
                Block.blocked_uri.in_({blocked for _, blocked in theirs}),
            )
        )
        if (blocker, blocked) in theirs
    ]
    if lifted:
        await session.execute(delete(Block).where(Block.id.in_(lifted)))
    unlocked = {target for _, local, target in wanted if not local.manually_approves}
    accepted = await record_received_follows(
        session,
        [(act.actor_uri, target, act.id) for act, _, target in wanted],
        accept=unlocked.__contains__,
        now=ctx.now,
    )
    await accept_follows(
        session,
        [
            Acceptance(
                actor=local,
                followed_uri=target,
                follower_uri=act.actor_uri,
                follower_inbox=act.actor.inbox_uri,
                follow_body=embeddable_follow(dict(act.activity.body)),
            )
            for act, local, target in wanted
            if act.actor is not None and (act.actor_uri, target) in accepted
        ],
        now=ctx.now,
        policy=ctx.policy,
    )


async def _our_follow(session: AsyncSession, act: Incoming) -> Follow | None:
    """The Follow of ours that an Accept/Reject from `act.actor_uri` answers."""
    obj = act.activity.object
    follow_id = obj.id if obj else None
    if follow_id:
        row = await session.scalar(
            select(Follow).where(
                Follow.activity_uri == follow_id, Follow.followed_uri == act.actor_uri
            )
        )
        if row is not None:
            return row
    if (
        obj is not None
        and obj.embedded
        and (obj.bare_object == act.actor_uri or not obj.has_object)
        and obj.bare_actor is not None
    ):
        return await find_follow(session, obj.bare_actor, act.actor_uri)
    return None


async def _answer_contact(
    ctx: HandlerContext, session: AsyncSession, act: Incoming, row: Follow | None, *, accepted: bool
) -> None:
    """A contact request of ours answered. Between two of our actors the recipient's
    decision already changed (or removed) the one Follow row both share, so the Follow
    is also found by the id the Accept/Reject names."""
    follow_id = row.activity_uri if row is not None else _object_id(act)
    if follow_id:
        await answer_received(
            session,
            act,
            follow_uri=follow_id,
            accepted=accepted,
            now=ctx.now,
            uris=ctx.uris,
            policy=ctx.policy,
            delay_seconds=ctx.alias_delay_seconds,
        )


async def on_accept(ctx: HandlerContext, session: AsyncSession, act: Incoming) -> None:
    if await answer_from_relay(ctx, session, act, accepted=True):
        return
    row = await _our_follow(session, act)
    if row is not None:
        row.state = FollowState.ACCEPTED
        row.updated_at = ctx.now
    await _answer_contact(ctx, session, act, row, accepted=True)


async def on_reject(ctx: HandlerContext, session: AsyncSession, act: Incoming) -> None:
    """Reject of a pending request drops it; after acceptance it ends the follow."""
    if await answer_from_relay(ctx, session, act, accepted=False):
        return
    row = await _our_follow(session, act)
    await _answer_contact(ctx, session, act, row, accepted=False)
    if row is not None:
        await session.delete(row)


async def on_undo(ctx: HandlerContext, session: AsyncSession, act: Incoming) -> None:
    if await undo_from_relay(ctx, session, act):
        return
    obj = act.activity.object
    inner_id = obj.id if obj else None
    embedded = obj if obj is not None and obj.embedded else None
    # A bare id may be any of these; a `type` (a list too: `["Follow"]`) says which.
    inner_type = embedded.type_in(UNDOABLE) if embedded else None
    if embedded and embedded.has_type and inner_type is None:
        log.info("ignoring Undo %s: cannot undo a %s", act.id, embedded.type_text)
        return
    if inner_id is not None and not fits_uri(inner_id):
        log.info("ignoring Undo %s: the undone id is too long", act.id)
        return
    if embedded and embedded.actor not in (None, act.actor_uri):
        log.info("ignoring Undo %s: the undone activity is another actor's", act.id)
        return  # only the Follow's own actor may undo it
    if inner_type in (None, "Follow"):
        conditions = [Follow.follower_uri == act.actor_uri]
        target = embedded.object_id if embedded else None
        local = await local_actor_by_uri(ctx, session, target)
        if local is not None:
            target = ctx.uris.actor(local.username)
        if target:
            await session.execute(delete(Follow).where(*conditions, Follow.followed_uri == target))
        if inner_id:
            await session.execute(
                delete(Follow).where(*conditions, Follow.activity_uri == inner_id)
            )
        await withdraw_received(
            session,
            sender_uri=act.actor_uri,
            recipient_uri=target,
            follow_uri=inner_id,
            now=ctx.now,
        )
    if inner_type in (None, "Block"):
        block = [Block.blocker_uri == act.actor_uri]
        if inner_id:
            await session.execute(delete(Block).where(*block, Block.activity_uri == inner_id))
        if embedded and embedded.bare_object is not None:
            await session.execute(
                delete(Block).where(*block, Block.blocked_uri == embedded.bare_object)
            )
    if inner_type in (None, "Like"):
        await on_undo_like(ctx, session, act, obj)
    if inner_type in (None, "Announce"):
        await on_undo_announce(ctx, session, act, obj)


async def on_block(ctx: HandlerContext, session: AsyncSession, act: Incoming) -> None:
    """A remote actor blocked one of ours: stop delivering to them, drop their follow."""
    local = await local_actor_by_uri(ctx, session, _object_id(act))
    if local is None:
        return
    target_uri = ctx.uris.actor(local.username)
    exists = await session.scalar(
        select(Block.id).where(Block.blocker_uri == act.actor_uri, Block.blocked_uri == target_uri)
    )
    if exists is None:
        session.add(
            Block(
                blocker_uri=act.actor_uri,
                blocked_uri=target_uri,
                activity_uri=act.id,
                created_at=ctx.now,
            )
        )
    await remove_follows_between(session, act.actor_uri, target_uri)


async def on_delete(ctx: HandlerContext, session: AsyncSession, act: Incoming) -> None:
    """Delete(actor): the account is gone; forget it, its relations and its posts.
    A Delete of anything else is a post's (`on_delete_object`)."""
    deleted = _object_id(act)
    if deleted is not None and not fits_uri(deleted):
        log.info("ignoring Delete %s: the deleted id is too long", act.id)
        return
    if deleted != act.actor_uri:
        await on_delete_object(ctx, session, act)
        return
    await forget_actor_posts(session, act.actor_uri, ctx.now)
    await session.execute(
        delete(Follow).where(
            (Follow.follower_uri == act.actor_uri) | (Follow.followed_uri == act.actor_uri)
        )
    )
    await session.execute(delete(RemoteActor).where(RemoteActor.uri == act.actor_uri))


async def on_deletes(ctx: HandlerContext, session: AsyncSession, acts: Sequence[Incoming]) -> None:
    """A run of Deletes in order: consecutive Deletes of posts together
    (`on_delete_objects`), a Delete of an actor (or of a too long id) on its own."""
    posts: list[Incoming] = []
    for act in acts:
        deleted = _object_id(act)
        if deleted is not None and fits_uri(deleted) and deleted != act.actor_uri:
            posts.append(act)
            continue
        await on_delete_objects(ctx, session, posts)
        posts = []
        await on_delete(ctx, session, act)
    await on_delete_objects(ctx, session, posts)
