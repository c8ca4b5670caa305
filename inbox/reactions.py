"""Receiving reactions: Like and Announce (boosts) and their Undo.

A Like counts only on our own posts. A boost is stored as a wrapper post when the
booster is followed here or boosts one of our posts. The one fetch this module
needs (the unknown post a followed actor boosts) happens in `prefetch_announce`,
before the transaction opens; the handlers never touch the network.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute

from actors.base import insert_into
from actors.remote import RemoteActorError
from actors.snowflake import snowflake
from federation.activities import Activity, AsObject, fits_uri
from federation.actors import is_http_url, same_origin
from federation.errors import FetchError, ParseError
from federation.posts import PUBLIC_COLLECTION, Post, parse_post
from inbox.context import HandlerContext, Incoming, ignore
from inbox.relays import is_relay
from inbox.rows import (
    Audience,
    followers_uri,
    insert_post,
    insert_status,
    is_stored,
    remember_deleted,
    remove_boosts,
    status_by_uri,
    tombstoned,
    visibility_of,
)
from outbox.models import Favourite, Status, Tombstone, Visibility
from outbox.statuses import StatusCounter, bump_count, bump_counts, status_columns
from outbox.timelines import add_entries, add_to_timelines, local_followers, local_followers_of

log = logging.getLogger("verbund.inbox")

# Activities a group may relay in an Announce (FEP-1b12: Lemmy, Guppe). Only a relayed
# Create is a boost (of its object); the others are not news of their own.
_RELAYED_TYPES = (
    "Create",
    "Update",
    "Delete",
    "Like",
    "Dislike",
    "Undo",
    "Announce",
    "Add",
    "Remove",
    "Block",
    "Follow",
    "Accept",
    "Reject",
    "Flag",
    "Move",
    "EmojiReact",
)


def _post_of(obj: AsObject | None) -> Post | None:
    if obj is None:
        return None
    try:
        return parse_post(obj)
    except ParseError:
        return None


@dataclass(frozen=True, slots=True)
class _Announced:
    """What an Announce's `object` boosts: the post's id and what was sent for it (an
    embedded post or a reference), and the Create that wrapped it (FEP-1b12), if any.
    `target` None: not a boost, `reason` says why."""

    target: str | None
    value: AsObject | None = None
    relayed_create: AsObject | None = None
    reason: str = ""


def _announced(obj: AsObject | None) -> _Announced:
    """Unwrap an embedded `Create` (Lemmy's `Announce{Create{Page}}`, signed by the group)
    to its object; refuse other embedded activities. A bare reference is taken as the post
    (a reference to a Create is unwrapped after fetching it, in `prefetch_announce`)."""
    if obj is not None and obj.embedded:
        kind = obj.type_in(_RELAYED_TYPES)
        if kind == "Create":
            inner = obj.objects[0] if obj.objects else None
            target = inner.id if inner else None
            if target is None:
                return _Announced(None, reason="the relayed Create has no object id")
            return _Announced(target, inner, obj)
        if kind is not None:
            return _Announced(None, reason=f"a relayed {kind} is not a boost")
    target = obj.id if obj else None
    if target is None:
        return _Announced(None, reason="its object has no id")
    return _Announced(target, obj)


def _trusted_embedded(obj: AsObject | None, booster: str) -> AsObject | None:
    """An embedded boosted post we may take as sent: a self-boost on the booster's origin
    (Mastodon treats it like a Create), or a post a group relays in a Create (FEP-1b12)
    when the post, its author and the Create's actor are all on the group's origin (the
    group's server signed it and hosts them). Anything else must be fetched from its
    origin."""
    announced = _announced(obj)
    value = announced.value
    if value is None or not value.embedded:
        return None
    post_id, authors = value.id, value.attributed_to
    if post_id is None or not authors or not same_origin(post_id, booster):
        return None
    if announced.relayed_create is None:
        return value if authors[0] == booster else None
    creator = announced.relayed_create.actor
    if same_origin(authors[0], booster) and creator in (None, authors[0]):
        return value
    return None


def _group_vouched(act: Incoming, announced: _Announced) -> AsObject | None:
    """A post a `Group` relays in its author's Create that is addressed to that group
    (to, cc or audience: the group or its followers): taken as the group sent it, even
    when not public. The author's server serves a members-only post to nobody here, and
    FEP-1b12 has the group's Announce vouch for what it wraps; the post is shown only as
    the group's boost, to the group's followers."""
    value, create = announced.value, announced.relayed_create
    if act.actor is None or act.actor.type != "Group" or create is None or value is None:
        return None
    authors = value.attributed_to
    if not value.embedded or value.id is None or not authors or create.actor != authors[0]:
        return None
    if not same_origin(value.id, authors[0]):
        return None
    wire = value.wire or {}
    names: set[object] = set()
    for key in ("to", "cc", "audience"):
        field = wire.get(key)
        names.update(field if isinstance(field, list) else [field])
    group = {act.actor_uri, act.actor.followers_uri}
    return value if names & group else None


async def prefetch_announce(
    ctx: HandlerContext,
    sessionmaker: async_sessionmaker[AsyncSession],
    activity: Activity,
) -> dict[str, AsObject]:
    """Before the transaction: fetch the boosted post if we lack it and the boost matters.

    Returns {id the Announce names: post}; empty when nothing needs or may be fetched.
    When that id turns out to be a Create (a group relaying it, FEP-1b12), the post is
    its object: taken as embedded when on the Create's origin, else fetched too, so the
    returned post's id may differ from the key. Network failures are logged and leave
    the boost to be ignored.
    """
    announced = _announced(activity.object)
    target = announced.target
    if (
        ctx.fetch_object is None
        or target is None
        or not is_http_url(target)
        or ctx.uris.is_local(target)
        or _trusted_embedded(activity.object, activity.actor) is not None
    ):
        return {}
    async with sessionmaker() as session:
        if (
            await is_stored(session, target)
            or await tombstoned(session, target)
            or not (
                await local_followers(session, ctx.uris.base_url, activity.actor)
                or await is_relay(session, activity.actor)
            )
        ):
            return {}
    fetched = await _fetch_post(ctx, target)
    if fetched is not None and announced.relayed_create is None and fetched.type_in(("Create",)):
        inner = fetched.objects[0] if fetched.objects else None
        inner_id = inner.id if inner else None
        if inner is not None and inner.embedded and inner_id and same_origin(inner_id, target):
            fetched = inner
        elif inner_id and is_http_url(inner_id) and not ctx.uris.is_local(inner_id):
            fetched = await _fetch_post(ctx, inner_id)
        else:
            fetched = None
    post = _post_of(fetched)
    if fetched is None or post is None or not same_origin(post.id, post.author):
        return {}
    try:  # its author, so that the post can be shown with an account and addressed right
        await ctx.directory.get_actor(post.author)
    except RemoteActorError as exc:
        log.info("cannot fetch author %s of boosted post: %s", post.author, exc)
    return {target: fetched}


async def _fetch_post(ctx: HandlerContext, uri: str) -> AsObject | None:
    assert ctx.fetch_object is not None  # prefetch_announce checked
    try:
        fetched = await ctx.fetch_object(uri)
    except FetchError as exc:
        log.info("cannot fetch boosted post %s: %s", uri, exc)
        return None
    return fetched if fetched.embedded else None


async def _boosted_post(
    ctx: HandlerContext,
    session: AsyncSession,
    act: Incoming,
    target: str,
    sent: AsObject | None,
) -> Status | None:
    """The boosted post: known, or stored from `sent` (an embedded post we may trust, or
    the one the prefetch step fetched)."""
    status = await status_by_uri(session, target)
    if status is not None:
        return status
    if sent is None or await tombstoned(session, target):
        return None
    post = _post_of(sent)
    if post is None or post.id != target or not same_origin(post.id, post.author):
        return None
    visibility = visibility_of(
        post.to, post.cc, await followers_uri(session, post.author, act.actor)
    )
    if await insert_post(session, post, visibility, ctx.now) is None:
        return None
    return await status_by_uri(session, target)


def _boost_target(act: Incoming) -> tuple[str | None, AsObject | None, str]:
    """The boosted post's id and what we may store it from (trusted embedded, or what the
    prefetch fetched), or None and why it is no boost."""
    announced = _announced(act.activity.object)
    target = announced.target
    if target is None or not fits_uri(target):
        return None, None, announced.reason or "the boosted id is too long"
    sent = _trusted_embedded(act.activity.object, act.actor_uri)
    if sent is None:
        sent = act.objects.get(target)
        fetched_id = sent.id if sent else None
        if fetched_id is not None and fetched_id != target:
            target = fetched_id  # the Announce named a Create; its object is the post
    return target, sent or _group_vouched(act, announced), ""


def _vouched(act: Incoming) -> bool:
    return _group_vouched(act, _announced(act.activity.object)) is not None


def _unboostable(
    original: Status | None, target: str, booster: str, *, vouched: bool = False
) -> str:
    """Why `original` cannot be boosted by `booster` ("" if it can). `vouched`: a group
    relays a post addressed to it (`_group_vouched`), which may be non-public."""
    if original is None or original.deleted_at is not None or original.reblog_of_id is not None:
        return f"the boosted post {target} is unavailable, deleted or itself a boost"
    public = original.visibility in (Visibility.PUBLIC, Visibility.UNLISTED)
    if not public and original.actor_uri != booster and not vouched:
        # Mastodon ignores boosts of non-public posts except self-boosts
        return "a boost of someone else's non-public post"
    return ""


async def _wrapper_columns(
    ctx: HandlerContext, session: AsyncSession, act: Incoming, original_id: int
) -> tuple[dict[str, object], Visibility]:
    """The `statuses` row of a boost wrapper, and its visibility."""
    to, cc = act.activity.to, act.activity.cc
    visibility = visibility_of(to, cc, await followers_uri(session, act.actor_uri, act.actor))
    published = act.activity.published
    published = min(published, ctx.now) if published else ctx.now
    columns = status_columns(
        id=snowflake(published),
        uri=act.id,
        actor_uri=act.actor_uri,
        type="Announce",
        visibility=visibility,
        to=to,
        cc=cc,
        published_at=published,
        created_at=ctx.now,
        reblog_of_id=original_id,
    )
    return columns, visibility


def _boost_readers(followers: set[int], visibility: Visibility) -> set[int]:
    # Only the booster's followers see a boost at home; the boosted author is in `cc`
    # for a notification, not for a timeline entry.
    return Audience(followers=followers, addressed=set(), mentioned=set()).home_timelines(
        visibility
    )


async def on_announce(ctx: HandlerContext, session: AsyncSession, act: Incoming) -> None:
    """A boost: stored as a wrapper post when the booster is followed here or boosts one
    of our posts; the wrapper goes into the home timelines of the booster's local followers.

    A group's Announce of a Create (FEP-1b12) is a boost of the Create's object by the
    group; Announces of other activities (a relayed Delete, Update or Like) are ignored.
    """
    target, sent, reason = _boost_target(act)
    if target is None:
        ignore(act, reason)
        return
    if await tombstoned(session, act.id):
        ignore(act, "it was undone before it arrived")
        return
    if await is_stored(session, act.id):
        return
    followers = set(await local_followers(session, ctx.uris.base_url, act.actor_uri))
    known = await status_by_uri(session, target)
    if not followers and await is_relay(session, act.actor_uri):
        await _keep_relayed(ctx, session, act, target, known, sent)
        return
    if not followers and (known is None or known.local_actor_id is None):
        ignore(act, "nobody here follows the booster and the post is not ours")
        return
    original = known or await _boosted_post(ctx, session, act, target, sent)
    if reason := _unboostable(original, target, act.actor_uri, vouched=_vouched(act)):
        ignore(act, reason)
        return
    assert original is not None  # `_unboostable` said why otherwise
    already = await session.scalar(
        select(Status.id).where(
            Status.reblog_of_id == original.id, Status.actor_uri == act.actor_uri
        )
    )
    if already is not None:
        return
    columns, visibility = await _wrapper_columns(ctx, session, act, original.id)
    wrapper_id = await insert_status(session, columns)
    if wrapper_id is None:
        return
    await bump_count(
        session, StatusCounter.REBLOGS, +1, Status.id == original.id, synchronize=False
    )
    await add_to_timelines(session, wrapper_id, _boost_readers(followers, visibility))


async def on_announces(
    ctx: HandlerContext, session: AsyncSession, acts: Sequence[Incoming]
) -> None:
    """A run of Announces, each decided as `on_announce` decides it alone, with what they
    ask (undone before? stored? who follows the booster, the boosted posts, boosted
    already?) read once for the run and the wrappers, counters and timeline rows written
    together. A boost of a post we do not have yet goes through `on_announce` on its own:
    the post must be stored before its wrapper."""
    picked: list[tuple[Incoming, str]] = []
    for act in acts:
        target, _, reason = _boost_target(act)
        if target is None:
            ignore(act, reason)
        else:
            picked.append((act, target))
    if not picked:
        return
    ids = [act.id for act, _ in picked]
    boosters = {act.actor_uri for act, _ in picked}
    refused = set(await session.scalars(select(Tombstone.uri).where(Tombstone.uri.in_(ids))))
    stored = set(await session.scalars(select(Status.uri).where(Status.uri.in_(ids))))
    followers = await local_followers_of(session, ctx.uris, boosters)
    known = {
        status.uri: status
        for status in await session.scalars(
            select(Status).where(Status.uri.in_({target for _, target in picked}))
        )
    }
    boosted: set[tuple[int, str]] = set()
    if known:
        rows = await session.execute(
            select(Status.reblog_of_id, Status.actor_uri).where(
                Status.reblog_of_id.in_([status.id for status in known.values()]),
                Status.actor_uri.in_(boosters),
            )
        )
        boosted = {(int(original_id), actor) for original_id, actor in rows if original_id}
    wrappers: list[dict[str, object]] = []
    readers: dict[str, set[int]] = {}  # wrapper uri → home timelines
    for act, target in picked:
        if act.id in refused:
            ignore(act, "it was undone before it arrived")
            continue
        if act.id in stored:
            continue
        stored.add(act.id)
        fans = followers.get(act.actor_uri, set())
        original = known.get(target)
        if original is None:
            await on_announce(ctx, session, act)  # stores the post first, if it may
            continue
        if not fans and original.local_actor_id is None:
            ignore(act, "nobody here follows the booster and the post is not ours")
            continue
        if reason := _unboostable(original, target, act.actor_uri, vouched=_vouched(act)):
            ignore(act, reason)
            continue
        if (original.id, act.actor_uri) in boosted:
            continue
        boosted.add((original.id, act.actor_uri))
        columns, visibility = await _wrapper_columns(ctx, session, act, original.id)
        wrappers.append(columns)
        readers[act.id] = _boost_readers(fans, visibility)
    if not wrappers:
        return
    inserted = list(
        await session.execute(
            insert_into(session, Status)
            .on_conflict_do_nothing(index_elements=["uri"])
            .returning(Status.id, Status.uri, Status.reblog_of_id),
            wrappers,
        )
    )
    boosts = Counter(original for _, _, original in inserted)
    await bump_counts(session, StatusCounter.REBLOGS, boosts, Status.id)
    await add_entries(
        session, [(reader, wrapper) for wrapper, uri, _ in inserted for reader in readers[uri]]
    )


async def _keep_relayed(
    ctx: HandlerContext,
    session: AsyncSession,
    act: Incoming,
    target: str,
    known: Status | None,
    sent: AsObject | None,
) -> None:
    """A relay's Announce: keep the announced post if it is public (it then shows on the
    federated timeline); the relay is no booster, so no wrapper and no boost count."""
    if known is not None:
        return
    post = _post_of(sent)
    if post is None or not PUBLIC_COLLECTION.intersection((*post.to, *post.cc)):
        ignore(act, "a relay announced a post that is unknown, unavailable or not public")
        return
    await _boosted_post(ctx, session, act, target, sent)


def _undone(
    inner: AsObject | None,
    by_id: InstrumentedAttribute[str],
    by_post: InstrumentedAttribute[int | None] | InstrumentedAttribute[int],
) -> ColumnElement[bool] | None:
    """The rows an Undo names: the undone activity by its id (`by_id`), or (Mastodon) by
    the post it was about (`by_post` holds a `Status.id`); None when it names neither."""
    if inner is None:
        return None
    conditions: list[ColumnElement[bool]] = []
    if inner.id:
        conditions.append(by_id == inner.id)
    if inner.object_id:
        conditions.append(by_post.in_(select(Status.id).where(Status.uri == inner.object_id)))
    return or_(*conditions) if conditions else None


async def on_undo_announce(
    ctx: HandlerContext, session: AsyncSession, act: Incoming, inner: AsObject | None
) -> None:
    """Undo(Announce) by the booster: by the Announce id, or by the boosted post.

    An Undo for a boost we never saw is remembered, so the late Announce is refused.
    """
    undone = _undone(inner, Status.uri, Status.reblog_of_id)
    if undone is None:
        return
    query = select(Status.id).where(
        Status.actor_uri == act.actor_uri,
        Status.reblog_of_id.is_not(None),
        Status.local_actor_id.is_(None),
    )
    found = list(await session.scalars(query.where(undone)))
    await remove_boosts(session, found)
    assert inner is not None  # `_undone` named something
    if not found and inner.embedded and inner.id and same_origin(inner.id, act.actor_uri):
        await remember_deleted(session, inner.id, ctx.now)


async def on_like(ctx: HandlerContext, session: AsyncSession, act: Incoming) -> None:
    """Count a Like of one of our own posts; Likes of anything else are not kept."""
    await on_likes(ctx, session, [act])


async def on_likes(ctx: HandlerContext, session: AsyncSession, acts: Sequence[Incoming]) -> None:
    """A run of Likes: the liked posts looked up in one query, the favourites inserted in
    one statement, each post's counter moved once by the Likes that really were new."""
    targets = {
        act.id: target
        for act in acts
        if act.activity.object
        and (target := act.activity.object.id) is not None
        and ctx.uris.is_local(target)
    }
    if not targets:
        return
    found = await session.execute(
        select(Status.uri, Status.id).where(
            Status.uri.in_(set(targets.values())),
            Status.local_actor_id.is_not(None),
            Status.reblog_of_id.is_(None),
            Status.deleted_at.is_(None),
        )
    )
    liked: dict[str, int] = {uri: status_id for uri, status_id in found}
    rows: dict[tuple[int, str], dict[str, object]] = {}
    for act in acts:
        status_id = liked.get(targets.get(act.id, ""))
        if status_id is not None:  # the first Like of a post by an actor in the run counts
            rows.setdefault(
                (status_id, act.actor_uri),
                {
                    "status_id": status_id,
                    "actor_uri": act.actor_uri,
                    "activity_uri": act.id,
                    "created_at": ctx.now,
                },
            )
    if not rows:
        return
    inserted = Counter(
        await session.scalars(
            insert_into(session, Favourite)
            .on_conflict_do_nothing(index_elements=["status_id", "actor_uri"])
            .returning(Favourite.status_id),
            list(rows.values()),
        )
    )
    await bump_counts(session, StatusCounter.FAVOURITES, inserted, Status.id)


async def on_undo_like(
    ctx: HandlerContext, session: AsyncSession, act: Incoming, inner: AsObject | None
) -> None:
    """Undo(Like) by the same actor: by the Like id, or (Mastodon) by the liked post."""
    undone = _undone(inner, Favourite.activity_uri, Favourite.status_id)
    if undone is None:
        return
    removed = list(
        await session.scalars(
            delete(Favourite)
            .where(Favourite.actor_uri == act.actor_uri, undone)
            .returning(Favourite.status_id)
            .execution_options(synchronize_session=False)
        )
    )
    for status_id in removed:
        await bump_count(
            session, StatusCounter.FAVOURITES, -1, Status.id == status_id, synchronize=False
        )
