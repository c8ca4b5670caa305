"""Receiving Create: posts stored when they concern us, votes counted, in runs.

Create{Note} is most of what peers send. Each one asks the database some ten
questions (deleted before? stored already? who here follows the author, is
addressed, is mentioned, is the parent ours?) and writes the post, its tags,
mentions and timeline rows. Record by record that was as many round trips through
SQLAlchemy and the driver, and on SQLite each write held the write lock a little
longer while the inbox's group commit waited for it. `on_creates` takes a run of
consecutive Creates of one processing batch, asks each question once for the whole
run and writes each kind of row with one statement, the writes last, so the lock is
held only for them; `on_create` is the run of one (a record retried on its own).

What is kept is decided record by record in arrival order (`inbox.posts` says what
counts): the same post twice in a run counts once (the first), a reply whose parent
came earlier in the run sees it as stored, a vote on our polls is counted, not stored.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.base import among, insert_into
from actors.models import Actor, RemoteActor
from actors.uris import LocalUris
from federation.posts import Post
from inbox.context import YIELD_EVERY, HandlerContext, Incoming, ignore
from inbox.polls import count_vote
from inbox.posts import IRRELEVANT, own_post
from inbox.rows import Audience, post_columns, visibility_of
from outbox.models import Mention, Status, StatusTag, Tombstone
from outbox.polls import new_remote_poll
from outbox.statuses import StatusCounter, bump_counts, hashtag_keys
from outbox.timelines import add_entries, local_follower_keys

__all__ = ["on_create", "on_creates"]


async def on_create(ctx: HandlerContext, session: AsyncSession, act: Incoming) -> None:
    """Store a relevant post and put it in the home timelines it belongs to."""
    await on_creates(ctx, session, [act])


async def on_creates(ctx: HandlerContext, session: AsyncSession, acts: Sequence[Incoming]) -> None:
    """Handle a run of Create records, each as if it came on its own, in order."""
    candidates: list[tuple[Incoming, Post]] = []
    seen: set[str] = set()
    for n, act in enumerate(acts, 1):
        if n % YIELD_EVERY == 0:
            await asyncio.sleep(0)  # parsing is CPU work: let requests in between
        if await count_vote(ctx, session, act):
            continue
        post, reason = own_post(act)
        if post is None:
            ignore(act, reason)
        elif post.id not in seen:  # the same post twice in the run: the first counts
            seen.add(post.id)
            candidates.append((act, post))
    if not candidates:
        return
    fresh = await _not_seen_before(session, candidates)
    if fresh:
        known = await _Locals.load(session, ctx.uris, [post for _, post in fresh])
        await _store(ctx, session, known, fresh)


async def _not_seen_before(
    session: AsyncSession, candidates: Sequence[tuple[Incoming, Post]]
) -> list[tuple[Incoming, Post]]:
    """Drop posts deleted before (said) and posts stored already (a redelivery)."""
    ids = [post.id for _, post in candidates]
    refused = set(await session.scalars(select(Tombstone.uri).where(among(Tombstone.uri, ids))))
    stored = set(await session.scalars(select(Status.uri).where(among(Status.uri, ids))))
    fresh = []
    for act, post in candidates:
        if post.id in refused:
            ignore(act, f"{post.id} was deleted before")
        elif post.id not in stored:
            fresh.append((act, post))
    return fresh


@dataclass(frozen=True, slots=True)
class _Locals:
    """What the run's posts need to know about this instance, read in a few queries."""

    uris: LocalUris
    followers: Mapping[str, set[int]]  # remote actor → ids of our actors following it
    ids: Mapping[str, int]  # username key → id of our (non-instance) actor
    parents: Mapping[str, tuple[int | None, str]]  # stored parent uri → (local id, author)
    followers_uris: Mapping[str, str | None]  # author → its followers collection

    @classmethod
    async def load(cls, session: AsyncSession, uris: LocalUris, posts: Sequence[Post]) -> _Locals:
        parent_uris = {p.in_reply_to for p in posts if p.in_reply_to}
        parents: dict[str, tuple[int | None, str]] = {}
        if parent_uris:
            rows = await session.execute(
                select(Status.uri, Status.local_actor_id, Status.actor_uri).where(
                    among(Status.uri, parent_uris)
                )
            )
            parents = {uri: (local_id, author) for uri, local_id, author in rows}
        remotes = {p.author for p in posts} | {a for i, a in parents.values() if i is None}
        following = await local_follower_keys(session, uris, remotes)
        names = {key for keys in following.values() for key in keys}
        for post in posts:
            names |= _username_keys(uris, [*post.to, *post.cc, *post.mentions])
        ids = await _local_ids(session, names)
        followers = {
            remote: {ids[key] for key in keys if key in ids} for remote, keys in following.items()
        }
        authors = {p.author for p in posts}
        collections = await session.execute(
            select(RemoteActor.uri, RemoteActor.followers_uri).where(
                among(RemoteActor.uri, authors)
            )
        )
        return cls(
            uris, followers, ids, parents, {uri: followers for uri, followers in collections}
        )

    def audience(self, post: Post) -> Audience:
        return Audience(
            followers=set(self.followers.get(post.author, ())),
            addressed=self._ids_of([*post.to, *post.cc]),
            mentioned=self._ids_of(post.mentions),
        )

    def _ids_of(self, actor_uris: Iterable[str]) -> set[int]:
        return {self.ids[k] for k in _username_keys(self.uris, actor_uris) if k in self.ids}

    def replies_to_relevant(self, post: Post, earlier: Mapping[str, str]) -> bool:
        """A reply to one of our posts, or to a post by an actor one of ours follows; the
        run's earlier posts (`earlier`: uri → author) count as stored."""
        if post.in_reply_to is None:
            return False
        if post.in_reply_to in earlier:
            local_id, author = None, earlier[post.in_reply_to]
        elif post.in_reply_to in self.parents:
            local_id, author = self.parents[post.in_reply_to]
        else:
            return False
        return local_id is not None or bool(self.followers.get(author))


async def _store(
    ctx: HandlerContext,
    session: AsyncSession,
    known: _Locals,
    fresh: Sequence[tuple[Incoming, Post]],
) -> None:
    """Decide for each post in order, then write every row of the run."""
    rows: list[dict[str, object]] = []
    kept: list[tuple[Post, set[int]]] = []
    earlier: dict[str, str] = {}
    for act, post in fresh:
        concerned = known.audience(post)
        if not (
            concerned.followers
            or concerned.addressed
            or concerned.mentioned
            or known.replies_to_relevant(post, earlier)
        ):
            ignore(act, IRRELEVANT)
            continue
        if act.actor is not None and act.actor.uri == post.author:
            collection = act.actor.followers_uri
        else:
            collection = known.followers_uris.get(post.author)
        visibility = visibility_of(post.to, post.cc, collection)
        rows.append(post_columns(post, visibility, ctx.now))
        kept.append((post, concerned.home_timelines(visibility)))
        earlier[post.id] = post.author
    if not rows:
        return
    result = await session.execute(
        insert_into(session, Status)
        .on_conflict_do_nothing(index_elements=["uri"])
        .returning(Status.id, Status.uri),
        rows,
    )
    inserted: dict[str, int] = {uri: status_id for status_id, uri in result}
    await _write_dependents(ctx, session, rows, kept, inserted)


async def _write_dependents(
    ctx: HandlerContext,
    session: AsyncSession,
    rows: Sequence[dict[str, object]],
    kept: Sequence[tuple[Post, set[int]]],
    inserted: Mapping[str, int],
) -> None:
    """Tags, polls, mentions, reply counters and timeline rows of the inserted posts."""
    tags: list[dict[str, object]] = []
    mentions: list[dict[str, object]] = []
    entries: list[tuple[int, int]] = []
    replies: Counter[str] = Counter()
    for values, (post, readers) in zip(rows, kept, strict=True):
        status_id = inserted.get(post.id)
        if status_id is None:
            continue  # stored meanwhile by another process: its rows are its own
        post_tags = values["tags"]
        assert isinstance(post_tags, list)
        tags += [{"status_id": status_id, "tag": key} for key in hashtag_keys(post_tags)]
        mentions += [{"status_id": status_id, "actor_uri": u} for u in dict.fromkeys(post.mentions)]
        entries += [(reader, status_id) for reader in readers]
        if post.poll is not None:
            session.add(new_remote_poll(status_id, post.poll, ctx.now))
        if post.in_reply_to:
            replies[post.in_reply_to] += 1
    if tags:
        await session.execute(insert_into(session, StatusTag), tags)
    if mentions:
        await session.execute(
            insert_into(session, Mention).on_conflict_do_nothing(
                index_elements=["status_id", "actor_uri"]
            ),
            mentions,
        )
    await session.flush()  # the polls
    await bump_counts(session, StatusCounter.REPLIES, replies, Status.uri)
    await add_entries(session, entries)


def _username_keys(uris: LocalUris, actor_uris: Iterable[str]) -> set[str]:
    return {name.lower() for name in map(uris.username_of, actor_uris) if name}


async def _local_ids(session: AsyncSession, keys: set[str]) -> dict[str, int]:
    if not keys:
        return {}
    rows = await session.execute(
        select(Actor.username_key, Actor.id).where(
            among(Actor.username_key, keys), Actor.is_instance.is_(False)
        )
    )
    return {key: actor_id for key, actor_id in rows}
