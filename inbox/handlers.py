"""Per-type handlers, run from the stored record after the 202.

Handlers are idempotent (a record may be processed twice after a crash) and
reply only through `outbox`'s public functions. A dispatch table maps the
activity type to its handler; unknown types are stored and ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from actors.documents import local_actor_id
from actors.models import Actor, Block, Follow, FollowState, RemoteActor
from actors.remote import RemoteActorError, RemoteDirectory
from inbox.posts import (
    ObjectFetcher,
    fits_index,
    forget_actor_posts,
    on_announce,
    on_create,
    on_delete_object,
    on_like,
    on_undo_announce,
    on_undo_like,
    on_update,
    prefetch_announce,
    type_in,
    type_text,
)
from outbox.follows import accept_follow, embeddable_follow, find_follow, remove_follows_between

log = logging.getLogger("verbund.inbox")

# What an Undo can take back.
UNDOABLE = ("Follow", "Block", "Like", "Announce")


@dataclass(frozen=True, slots=True)
class HandlerContext:
    directory: RemoteDirectory
    base_url: str
    now: datetime
    # Signed GET of a remote object; only prefetchers use it (never inside a transaction).
    fetch_object: ObjectFetcher | None = None


@dataclass(frozen=True, slots=True)
class Incoming:
    """A stored activity being processed: its parsed body and the actor it comes from."""

    id: str
    type: str
    actor_uri: str
    doc: dict[str, object]
    actor: RemoteActor | None  # pre-fetched outside the transaction, when the type needs it
    # Remote documents a prefetcher fetched for this activity, by id (e.g. a boosted post).
    objects: Mapping[str, dict[str, object]] = field(default_factory=dict)


Handler = Callable[[HandlerContext, AsyncSession, Incoming], Awaitable[None]]
Prefetcher = Callable[
    [HandlerContext, async_sessionmaker[AsyncSession], str, Mapping[str, object]],
    Awaitable[dict[str, dict[str, object]]],
]


def object_id(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        inner = value.get("id")
        return inner if isinstance(inner, str) else None
    return None


async def local_actor_by_uri(session: AsyncSession, base_url: str, uri: str | None) -> Actor | None:
    prefix = base_url + "/users/"
    if not uri or not uri.startswith(prefix):
        return None
    return await session.scalar(
        select(Actor).where(
            Actor.username_key == uri[len(prefix) :].lower(), Actor.is_instance.is_(False)
        )
    )


def _message(doc: dict[str, object]) -> str:
    content = doc.get("content")
    return content[:2000] if isinstance(content, str) else ""


async def on_follow(ctx: HandlerContext, session: AsyncSession, act: Incoming) -> None:
    local = await local_actor_by_uri(session, ctx.base_url, object_id(act.doc.get("object")))
    if local is None or act.actor is None:
        return
    # Usernames ignore case (`…/users/ORG` finds `org`); relations use the canonical id.
    target_uri = local_actor_id(ctx.base_url, local.username)
    if await session.scalar(
        select(Block.id).where(Block.blocker_uri == act.actor_uri, Block.blocked_uri == target_uri)
    ):
        # They blocked us and now follow again: Mastodon unblocks first, so lift ours.
        await session.execute(
            delete(Block).where(Block.blocker_uri == act.actor_uri, Block.blocked_uri == target_uri)
        )
    row = await find_follow(session, act.actor_uri, target_uri)
    if row is None:
        row = Follow(
            follower_uri=act.actor_uri,
            followed_uri=target_uri,
            activity_uri=act.id,
            state=FollowState.PENDING.value,
            message=_message(act.doc),
            created_at=ctx.now,
            updated_at=ctx.now,
        )
        session.add(row)
        await session.flush()
    else:
        # A repeated Follow: keep the newest id (Mastodon matches the Accept by it).
        row.activity_uri = act.id
        row.updated_at = ctx.now
        if _message(act.doc):
            row.message = _message(act.doc)
    if row.state == FollowState.ACCEPTED.value or not local.manually_approves:
        await accept_follow(
            session,
            actor=local,
            row=row,
            follower=act.actor,
            now=ctx.now,
            follow_body=embeddable_follow(act.doc),
        )


async def _our_follow(session: AsyncSession, act: Incoming) -> Follow | None:
    """The Follow of ours that an Accept/Reject from `act.actor_uri` answers."""
    obj = act.doc.get("object")
    follow_id = object_id(obj)
    if follow_id:
        row = await session.scalar(
            select(Follow).where(
                Follow.activity_uri == follow_id, Follow.followed_uri == act.actor_uri
            )
        )
        if row is not None:
            return row
    if isinstance(obj, dict) and obj.get("object") in (act.actor_uri, None):
        follower = obj.get("actor")
        if isinstance(follower, str):
            return await find_follow(session, follower, act.actor_uri)
    return None


async def on_accept(ctx: HandlerContext, session: AsyncSession, act: Incoming) -> None:
    row = await _our_follow(session, act)
    if row is not None:
        row.state = FollowState.ACCEPTED.value
        row.updated_at = ctx.now


async def on_reject(ctx: HandlerContext, session: AsyncSession, act: Incoming) -> None:
    """Reject of a pending request drops it; after acceptance it ends the follow."""
    row = await _our_follow(session, act)
    if row is not None:
        await session.delete(row)


async def on_undo(ctx: HandlerContext, session: AsyncSession, act: Incoming) -> None:
    obj = act.doc.get("object")
    inner_id = object_id(obj)
    # A bare id may be any of these; a `type` (a list too: `["Follow"]`) says which.
    inner_type = type_in(obj.get("type"), UNDOABLE) if isinstance(obj, dict) else None
    if isinstance(obj, dict) and obj.get("type") is not None and inner_type is None:
        log.info("ignoring Undo %s: cannot undo a %s", act.id, type_text(obj.get("type")))
        return
    if inner_id is not None and not fits_index(inner_id):
        log.info("ignoring Undo %s: the undone id is too long", act.id)
        return
    if isinstance(obj, dict) and object_id(obj.get("actor")) not in (None, act.actor_uri):
        log.info("ignoring Undo %s: the undone activity is another actor's", act.id)
        return  # only the Follow's own actor may undo it
    if inner_type in (None, "Follow"):
        conditions = [Follow.follower_uri == act.actor_uri]
        target = object_id(obj.get("object")) if isinstance(obj, dict) else None
        local = await local_actor_by_uri(session, ctx.base_url, target)
        if local is not None:
            target = local_actor_id(ctx.base_url, local.username)
        if target:
            await session.execute(delete(Follow).where(*conditions, Follow.followed_uri == target))
        if inner_id:
            await session.execute(
                delete(Follow).where(*conditions, Follow.activity_uri == inner_id)
            )
    if inner_type in (None, "Block"):
        block = [Block.blocker_uri == act.actor_uri]
        if inner_id:
            await session.execute(delete(Block).where(*block, Block.activity_uri == inner_id))
        if isinstance(obj, dict) and isinstance(obj.get("object"), str):
            await session.execute(delete(Block).where(*block, Block.blocked_uri == obj["object"]))
    if inner_type in (None, "Like"):
        await on_undo_like(ctx, session, act, obj)
    if inner_type in (None, "Announce"):
        await on_undo_announce(ctx, session, act, obj)


async def on_block(ctx: HandlerContext, session: AsyncSession, act: Incoming) -> None:
    """A remote actor blocked one of ours: stop delivering to them, drop their follow."""
    local = await local_actor_by_uri(session, ctx.base_url, object_id(act.doc.get("object")))
    if local is None:
        return
    target_uri = local_actor_id(ctx.base_url, local.username)
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
    deleted = object_id(act.doc.get("object"))
    if deleted is not None and not fits_index(deleted):
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


HANDLERS: dict[str, Handler] = {
    "Follow": on_follow,
    "Accept": on_accept,
    "Reject": on_reject,
    "Undo": on_undo,
    "Block": on_block,
    "Delete": on_delete,
    "Create": on_create,
    "Update": on_update,
    "Announce": on_announce,
    "Like": on_like,
}
# Create and Announce need the sender's followers collection to read the addressing
# (usually cached already: verifying the signature stored the actor).
NEEDS_ACTOR = frozenset({"Follow", "Create", "Announce"})
# Types whose handler needs remote documents fetched before its transaction opens.
PREFETCHERS: dict[str, Prefetcher] = {"Announce": prefetch_announce}


async def prefetch_actor(
    directory: RemoteDirectory, act_type: str, actor_uri: str
) -> RemoteActor | None:
    """Fetch what a handler needs from the network before its transaction opens."""
    if act_type not in NEEDS_ACTOR:
        return None
    try:
        return await directory.get_actor(actor_uri)
    except RemoteActorError as exc:
        log.info("cannot fetch %s: %s", actor_uri, exc)
        return None
