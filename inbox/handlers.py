"""Per-type handlers, run from the stored record after the 202: the dispatch table.

Handlers are idempotent (a record may be processed twice after a crash) and
reply only through `outbox`'s public functions. `HANDLERS` maps each activity type
to its `HandlerSpec`; unknown types are stored and ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from actors.models import RemoteActor
from actors.remote import RemoteActorError, RemoteDirectory
from federation.activities import Activity, AsObject
from federation.actors import ACTOR_TYPES, parse_embedded_actor
from federation.errors import ParseError
from inbox.contacts import keep_as_statuses
from inbox.context import BatchHandler, Handler, HandlerContext, Incoming, Prefetcher
from inbox.creates import on_creates
from inbox.groups import distribute_group_posts
from inbox.links import on_link_answer, on_offer, on_undo_link, relay_news
from inbox.posts import on_update
from inbox.reactions import on_announce, on_announces, on_like, on_likes, prefetch_announce
from inbox.relations import (
    on_accept,
    on_block,
    on_delete,
    on_deletes,
    on_follow,
    on_follows,
    on_reject,
    on_undo,
)
from inbox.relays import relay_for_subscribers
from inbox.reports import on_flag

log = logging.getLogger("verbund.inbox")


@dataclass(frozen=True, slots=True)
class HandlerSpec:
    """How one activity type is handled.

    `needs_actor`: the sender's actor document is fetched (usually cached already:
    verifying the signature stored it) before the transaction, e.g. for the followers
    collection that the addressing is read against. `prefetcher`: remote documents the
    handler needs, fetched before its transaction opens. `batch`: handles a run of
    consecutive records of this type at once, with the same outcome as `handler` on
    each in turn (a record of another type ends the run); `handler` still serves a
    record retried on its own.
    """

    handler: Handler
    needs_actor: bool = False
    prefetcher: Prefetcher | None = None
    batch: BatchHandler | None = None


async def prefetch_actor_update(
    ctx: HandlerContext, sessionmaker: async_sessionmaker[AsyncSession], activity: Activity
) -> dict[str, AsObject]:
    """An Update of the sender's own actor document (Mastodon sends one when a profile
    changes): names, keys and the directory profile are made current from it.

    The stored record's actor is the owner of the key that signed it (the receiver
    refused anything else), so an embedded actor whose id is that actor comes from the
    actor itself and is stored as sent, as Mastodon does (`ActivityPub::Activity::Update`);
    one GET per profile change is saved. Only an embedded copy that does not parse as
    an actor (or a bare reference) is fetched again from its origin instead. A failure
    is logged and the cached actor stays as it was. Nothing is left for `on_update`,
    which ignores what is no post."""
    obj = activity.object
    if (
        obj is None
        or obj.id != activity.actor
        or obj.type_in(ACTOR_TYPES) is None
        or ctx.uris.is_local(activity.actor)
    ):
        return {}
    try:
        embedded = parse_embedded_actor(obj) if obj.embedded else None
    except ParseError as exc:
        log.info("refetching %s: its Update embeds no usable actor: %s", activity.actor, exc)
        embedded = None
    try:
        if embedded is not None and embedded.id == activity.actor:
            await ctx.directory.store_actor(embedded)
        else:
            await ctx.directory.fetch_actor(activity.actor)
    except RemoteActorError as exc:
        log.info("cannot refresh %s after its Update: %s", activity.actor, exc)
    return {}


async def on_create_unless_contact(
    ctx: HandlerContext, session: AsyncSession, act: Incoming
) -> None:
    """`on_create`, except for the direct messages of contact requests that their thread
    holds instead (`inbox.contacts.keep_as_statuses`)."""
    await on_creates_unless_contact(ctx, session, [act])


async def on_creates_unless_contact(
    ctx: HandlerContext, session: AsyncSession, acts: Sequence[Incoming]
) -> None:
    kept = await keep_as_statuses(ctx, session, acts)
    if kept:
        await on_creates(ctx, session, kept)
        await relay_news(ctx, session, kept)  # a linked branch's news, stored just now
        await distribute_group_posts(ctx, session, kept)
        await relay_for_subscribers(ctx, session, kept)


async def on_accept_any(ctx: HandlerContext, session: AsyncSession, act: Incoming) -> None:
    """Accept of an organisation link's Offer (`inbox.links`), else of a Follow."""
    if not await on_link_answer(ctx, session, act, accepted=True):
        await on_accept(ctx, session, act)


async def on_reject_any(ctx: HandlerContext, session: AsyncSession, act: Incoming) -> None:
    if not await on_link_answer(ctx, session, act, accepted=False):
        await on_reject(ctx, session, act)


async def on_announce_and_relay(ctx: HandlerContext, session: AsyncSession, act: Incoming) -> None:
    """`on_announce`, then a linked branch's boost is relayed on (`inbox.links`)."""
    await on_announce(ctx, session, act)
    await relay_news(ctx, session, [act])


async def on_announces_and_relay(
    ctx: HandlerContext, session: AsyncSession, acts: Sequence[Incoming]
) -> None:
    await (
        on_announce(ctx, session, acts[0]) if len(acts) == 1 else on_announces(ctx, session, acts)
    )
    await relay_news(ctx, session, acts)


async def on_undo_any(ctx: HandlerContext, session: AsyncSession, act: Incoming) -> None:
    if not await on_undo_link(ctx, session, act):
        await on_undo(ctx, session, act)


HANDLERS: dict[str, HandlerSpec] = {
    "Follow": HandlerSpec(on_follow, needs_actor=True, batch=on_follows),
    "Accept": HandlerSpec(on_accept_any),
    "Reject": HandlerSpec(on_reject_any),
    "Undo": HandlerSpec(on_undo_any),
    "Offer": HandlerSpec(on_offer, needs_actor=True),
    "Block": HandlerSpec(on_block),
    "Delete": HandlerSpec(on_delete, batch=on_deletes),
    "Create": HandlerSpec(
        on_create_unless_contact, needs_actor=True, batch=on_creates_unless_contact
    ),
    "Update": HandlerSpec(on_update, prefetcher=prefetch_actor_update),
    "Announce": HandlerSpec(
        on_announce_and_relay,
        needs_actor=True,
        prefetcher=prefetch_announce,
        batch=on_announces_and_relay,
    ),
    "Like": HandlerSpec(on_like, batch=on_likes),
    "Flag": HandlerSpec(on_flag),
}


async def prefetch_actor(directory: RemoteDirectory, actor_uri: str) -> RemoteActor | None:
    """The sender's actor, fetched before the transaction opens; None if unavailable."""
    try:
        return await directory.get_actor(actor_uri)
    except RemoteActorError as exc:
        log.info("cannot fetch %s: %s", actor_uri, exc)
        return None
