"""Receiving posts: Update and Delete of Notes, Articles, Pages, Questions and the other
post types (`federation.activities.NEWS_TYPES`) from remote actors, and what Create
(`inbox.creates`) shares with them.

What is kept follows Mastodon (federation-contract §5, §7): a post is stored only
when it concerns this instance (its author is followed by a local actor, it
addresses or mentions one, or it replies to a local or followed post); its id
must share the actor's origin; a Delete that arrived first leaves a Tombstone
that refuses the later Create; only the author may edit or delete. HTML is
sanitised on ingest (`federation.posts.parse_post`), `name`/`summary` are plain text.

Handlers run inside the inbox batch transaction and never touch the network. Every
handler is idempotent: unique keys plus insert-or-ignore, and counters move only
when a row was really inserted or deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.base import insert_into
from federation.activities import MAX_OBJECTS, fits_uri
from federation.actors import same_origin
from federation.errors import ParseError
from federation.posts import Post, parse_post
from inbox.context import HandlerContext, Incoming, ignore
from inbox.rows import (
    add_mentions,
    attachments_json,
    audience,
    mark_all_deleted,
    mark_deleted,
    remember_deleted,
    remove_boosts,
    status_by_uri,
    tags_json,
)
from outbox.models import Mention, Poll, Status, Tombstone, Visibility
from outbox.polls import new_remote_poll, refresh_remote_poll
from outbox.statuses import store_tags
from outbox.timelines import add_to_timelines

IRRELEVANT = "nobody here follows its author or is addressed, mentioned or replied to"


def own_post(act: Incoming) -> tuple[Post | None, str]:
    """The embedded post of a Create/Update that is the actor's own and on its origin,
    else None and why not. `object` may be a list: its first such post is taken."""
    reason = "it has no object"
    for obj in act.activity.objects[:MAX_OBJECTS]:
        if not obj.embedded:
            reason = "its object is a reference, not embedded"
            continue
        try:
            post = parse_post(obj)
        except ParseError:
            reason = f"a {obj.type_text} is not a post we store"
            continue
        if not fits_uri(post.id):
            reason = "its object id is too long"
        elif post.author != act.actor_uri or not same_origin(post.id, act.actor_uri):
            reason = "its object is not the actor's own"
        else:
            return post, ""
    return None, reason


async def on_update(ctx: HandlerContext, session: AsyncSession, act: Incoming) -> None:
    """Apply an edit by the post's own author carrying a newer `updated`; ignore the rest.

    Updates of actors and other object types are not news and are ignored here. An
    Update of a Question refreshes its poll's counts even without a newer `updated`
    (Mastodon's implicit update, how it sends new counts).
    """
    post, reason = own_post(act)
    if post is None:
        ignore(act, reason)
        return
    status = await status_by_uri(session, post.id)
    if (
        status is None
        or status.actor_uri != act.actor_uri
        or status.local_actor_id is not None
        or status.reblog_of_id is not None
        or status.deleted_at is not None
    ):
        return
    if post.poll is not None:
        poll = await session.get(Poll, status.id)
        if poll is None:
            session.add(new_remote_poll(status.id, post.poll, ctx.now))
        else:
            refresh_remote_poll(poll, post.poll, ctx.now)
    if post.updated is None or post.updated <= (status.edited_at or status.published_at):
        return
    status.attachments = attachments_json(post)
    status.content = post.content
    status.name = post.name
    status.summary = post.summary
    status.language = post.language
    status.sensitive = post.sensitive
    status.tags = tags_json(post.tags)
    status.url = post.url
    status.edited_at = post.updated
    await store_tags(session, status.id, status.tags)
    await session.execute(
        delete(Mention).where(
            Mention.status_id == status.id, Mention.actor_uri.not_in(post.mentions)
        )
    )
    await add_mentions(session, status.id, post.mentions)
    # Whoever the edit newly mentions or addresses sees it now; visibility never changes.
    concerned = await audience(session, ctx.uris, post)
    shown_to = concerned.home_timelines(Visibility(status.visibility))
    await add_to_timelines(session, status.id, shown_to)


async def on_delete_object(ctx: HandlerContext, session: AsyncSession, act: Incoming) -> None:
    """Delete of a post (Tombstone, Note, bare id) by its author.

    An id we do not know yet is remembered as a Tombstone, so a Create that arrives
    after its Delete is refused. Deleting a boost wrapper undoes the boost.
    """
    uri = act.activity.object.id if act.activity.object else None
    if uri is None or not same_origin(uri, act.actor_uri):
        return
    status = await status_by_uri(session, uri)
    if status is None:
        await remember_deleted(session, uri, ctx.now)
        return
    if status.actor_uri != act.actor_uri or status.local_actor_id is not None:
        return
    if status.reblog_of_id is not None:
        await remove_boosts(session, [status.id])
    elif status.deleted_at is None:
        await mark_deleted(session, status, ctx.now)


async def on_delete_objects(
    ctx: HandlerContext, session: AsyncSession, acts: Sequence[Incoming]
) -> None:
    """`on_delete_object` of a run of Deletes: the deleted posts read in one query, the
    unknown ids remembered in one statement, boosts and posts removed together (boosts
    first, as a run that deletes both a boost and its post would do them one by one)."""
    named = [
        (act, uri)
        for act in acts
        if act.activity.object
        and (uri := act.activity.object.id) is not None
        and same_origin(uri, act.actor_uri)
    ]
    if not named:
        return
    found = {
        status.uri: status
        for status in await session.scalars(
            select(Status).where(Status.uri.in_({uri for _, uri in named}))
        )
    }
    unknown: dict[str, None] = {}
    wrappers: dict[int, None] = {}
    posts: dict[int, Status] = {}
    for act, uri in named:
        status = found.get(uri)
        if status is None:
            unknown[uri] = None
        elif status.actor_uri != act.actor_uri or status.local_actor_id is not None:
            continue
        elif status.reblog_of_id is not None:
            wrappers[status.id] = None
        elif status.deleted_at is None:
            posts[status.id] = status
    if unknown:
        await session.execute(
            insert_into(session, Tombstone).on_conflict_do_nothing(index_elements=["uri"]),
            [{"uri": uri, "deleted_at": ctx.now} for uri in unknown],
        )
    await remove_boosts(session, list(wrappers))
    await mark_all_deleted(session, list(posts.values()), ctx.now)


async def forget_actor_posts(session: AsyncSession, actor_uri: str, now: datetime) -> None:
    """Delete(actor): the account's posts go with it; its boosts are removed."""
    posts = await session.scalars(
        select(Status).where(
            Status.actor_uri == actor_uri,
            Status.local_actor_id.is_(None),
            Status.reblog_of_id.is_(None),
            Status.deleted_at.is_(None),
        )
    )
    for status in list(posts):
        await mark_deleted(session, status, now)
    boosts = await session.scalars(
        select(Status.id).where(
            Status.actor_uri == actor_uri,
            Status.local_actor_id.is_(None),
            Status.reblog_of_id.is_not(None),
        )
    )
    await remove_boosts(session, list(boosts))
