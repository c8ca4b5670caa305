"""Rows the news handlers share: inserting and deleting received posts, their counters,
mentions, tombstones, and who among our actors a post concerns.

Counters move only through `bump` (one atomic UPDATE, never below zero), and only when
a row was really inserted or deleted, so a record processed twice counts once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.base import insert_into
from actors.models import Actor, RemoteActor
from actors.snowflake import snowflake
from actors.uris import LocalUris
from federation.hashtags import hashtag_key
from federation.posts import PUBLIC_COLLECTION, Post, Tag
from federation.records import record
from outbox.models import Mention, Status, StatusTag, TimelineEntry, Tombstone, Visibility
from outbox.polls import new_remote_poll
from outbox.statuses import StatusCounter, bump_count, status_columns, store_tags
from outbox.timelines import local_followers


def visibility_of(to: Iterable[str], cc: Iterable[str], followers_uri: str | None) -> Visibility:
    """Mastodon's addressing table: Public in `to` → public, in `cc` → unlisted, the
    author's followers in `to` → private (followers only), anything else → direct."""
    to, cc = list(to), list(cc)
    if any(a in PUBLIC_COLLECTION for a in to):
        return Visibility.PUBLIC
    if any(a in PUBLIC_COLLECTION for a in cc):
        return Visibility.UNLISTED
    if followers_uri and followers_uri in to:
        return Visibility.PRIVATE
    return Visibility.DIRECT


def tags_json(tags: Iterable[Tag]) -> list[object]:
    """The `tags` column: tags as ActivityStreams objects. Hashtag names are stored as our
    own posts store theirs, `#` + `hashtag_key`; names with no letter left (`#<>`) and
    repeats of a key are dropped."""
    out: list[object] = []
    hashtags: set[str] = set()
    for tag in tags:
        if tag.kind == "Mention":
            out.append({"type": "Mention", "href": tag.href, "name": tag.name})
        elif tag.kind == "Hashtag":
            key = hashtag_key(tag.name)
            if key is not None and key not in hashtags:
                hashtags.add(key)
                out.append({"type": "Hashtag", "name": f"#{key}", "href": tag.href})
        elif tag.kind == "Emoji":
            out.append({"type": "Emoji", "name": tag.name, "icon": {"url": tag.icon_url}})
    return out


def attachments_json(post: Post) -> list[object]:
    return [a.as_json() for a in post.attachments]


async def insert_status(session: AsyncSession, values: dict[str, object]) -> int | None:
    """Insert a received `Status` row; its id, or None if its uri was stored already."""
    status_id = await session.scalar(
        insert_into(session, Status)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["uri"])
        .returning(Status.id)
    )
    return None if status_id is None else int(status_id)


async def local_actor_ids(
    session: AsyncSession, uris: LocalUris, actors: Iterable[str]
) -> set[int]:
    """Ids of our (non-instance) actors among `actors`."""
    keys = {name.lower() for name in map(uris.username_of, actors) if name}
    if not keys:
        return set()
    return set(
        await session.scalars(
            select(Actor.id).where(Actor.username_key.in_(keys), Actor.is_instance.is_(False))
        )
    )


async def followers_uri(
    session: AsyncSession, actor_uri: str, prefetched: RemoteActor | None
) -> str | None:
    if prefetched is not None and prefetched.uri == actor_uri:
        return prefetched.followers_uri
    return await session.scalar(
        select(RemoteActor.followers_uri).where(RemoteActor.uri == actor_uri)
    )


async def tombstoned(session: AsyncSession, uri: str) -> bool:
    return await session.scalar(select(Tombstone.id).where(Tombstone.uri == uri)) is not None


async def remember_deleted(session: AsyncSession, uri: str, now: datetime) -> None:
    """A Delete (or Undo) that beat its Create: refuse that id from now on."""
    await session.execute(
        insert_into(session, Tombstone)
        .values(uri=uri, deleted_at=now)
        .on_conflict_do_nothing(index_elements=["uri"])
    )


async def status_by_uri(session: AsyncSession, uri: str) -> Status | None:
    return await session.scalar(select(Status).where(Status.uri == uri))


async def is_stored(session: AsyncSession, uri: str) -> bool:
    return await session.scalar(select(Status.id).where(Status.uri == uri)) is not None


@record
class Audience:
    """Local actors a post concerns: who follows its author, who is addressed, who is mentioned."""

    followers: set[int]
    addressed: set[int]
    mentioned: set[int]

    def home_timelines(self, visibility: Visibility) -> set[int]:
        """Whose home timeline shows it: direct posts only the addressed, followers-only
        posts also the followers, public and unlisted posts also whoever is mentioned."""
        if visibility == Visibility.DIRECT:
            return set(self.addressed)
        if visibility == Visibility.PRIVATE:
            return self.addressed | self.followers
        return self.addressed | self.followers | self.mentioned


async def audience(session: AsyncSession, uris: LocalUris, post: Post) -> Audience:
    return Audience(
        followers=set(await local_followers(session, uris.base_url, post.author)),
        addressed=await local_actor_ids(session, uris, [*post.to, *post.cc]),
        mentioned=await local_actor_ids(session, uris, post.mentions),
    )


def post_columns(post: Post, visibility: Visibility, now: datetime) -> dict[str, object]:
    """The `statuses` row of a received post (a new snowflake id each call)."""
    published = min(post.published, now) if post.published else now
    edited = post.updated if post.updated and post.updated > published else None
    return status_columns(
        id=snowflake(published),
        uri=post.id,
        actor_uri=post.author,
        type=post.type,
        visibility=visibility,
        to=post.to,
        cc=post.cc,
        published_at=published,
        created_at=now,
        url=post.url,
        name=post.name,
        summary=post.summary,
        content=post.content,
        language=post.language,
        sensitive=post.sensitive,
        in_reply_to_uri=post.in_reply_to,
        tags=tags_json(post.tags),
        attachments=attachments_json(post),
        edited_at=edited,
    )


async def insert_post(
    session: AsyncSession, post: Post, visibility: Visibility, now: datetime
) -> int | None:
    """Store a received post; its new id, or None if that id was already stored."""
    values = post_columns(post, visibility, now)
    status_id = await insert_status(session, values)
    if status_id is None:
        return None
    tags = values["tags"]
    assert isinstance(tags, list)
    await store_tags(session, status_id, tags)
    if post.poll is not None:
        session.add(new_remote_poll(status_id, post.poll, now))
        await session.flush()
    await add_mentions(session, status_id, post.mentions)
    if post.in_reply_to:
        await bump_count(
            session, StatusCounter.REPLIES, +1, Status.uri == post.in_reply_to, synchronize=False
        )
    return status_id


async def add_mentions(session: AsyncSession, status_id: int, actor_uris: Iterable[str]) -> None:
    rows = [{"status_id": status_id, "actor_uri": uri} for uri in dict.fromkeys(actor_uris)]
    if rows:
        await session.execute(
            insert_into(session, Mention).on_conflict_do_nothing(
                index_elements=["status_id", "actor_uri"]
            ),
            rows,
        )


async def remove_boosts(session: AsyncSession, wrapper_ids: list[int]) -> None:
    """Delete boost wrappers and decrement their targets' counters."""
    if not wrapper_ids:
        return
    await session.execute(delete(TimelineEntry).where(TimelineEntry.status_id.in_(wrapper_ids)))
    targets = list(
        await session.scalars(
            delete(Status)
            .where(Status.id.in_(wrapper_ids))
            .returning(Status.reblog_of_id)
            .execution_options(synchronize_session=False)
        )
    )
    for target in targets:
        await bump_count(session, StatusCounter.REBLOGS, -1, Status.id == target, synchronize=False)


async def mark_deleted(session: AsyncSession, status: Status, now: datetime) -> None:
    """A remote post is gone: keep the row (its id stays refused), drop what it said and
    where it showed, and remove the boosts of it that remote actors made."""
    await mark_all_deleted(session, [status], now)


async def mark_all_deleted(
    session: AsyncSession, statuses: Sequence[Status], now: datetime
) -> None:
    """`mark_deleted` of several posts, each kind of row removed in one statement."""
    if not statuses:
        return
    ids = [status.id for status in statuses]
    for status in statuses:
        status.deleted_at = now
        status.content, status.summary, status.name, status.tags = "", "", None, []
        status.attachments = []
    await session.execute(delete(StatusTag).where(StatusTag.status_id.in_(ids)))
    await session.execute(delete(TimelineEntry).where(TimelineEntry.status_id.in_(ids)))
    await session.execute(delete(Mention).where(Mention.status_id.in_(ids)))
    boosts = await session.scalars(
        select(Status.id).where(Status.reblog_of_id.in_(ids), Status.local_actor_id.is_(None))
    )
    await remove_boosts(session, list(boosts))
    for status in statuses:  # one by one: a counter at 0 stays there, as for one post
        if status.in_reply_to_uri:
            await bump_count(
                session,
                StatusCounter.REPLIES,
                -1,
                Status.uri == status.in_reply_to_uri,
                synchronize=False,
            )
