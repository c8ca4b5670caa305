"""Votes on our polls: a Create whose Note answers one of our Questions is a vote.

Counted, never stored as a post; the new counts go out in an Update of the Question.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from federation.actors import same_origin
from inbox.context import HandlerContext, Incoming
from outbox.documents import render_poll_update
from outbox.models import Poll, Status
from outbox.polls import count_remote_vote, send_update


def is_vote_candidate(ctx: HandlerContext, act: Incoming) -> bool:
    """Whether a Create has a vote's shape: an embedded Note with an id and a `name`,
    replying to a local post (that it is one of our polls, the database says)."""
    obj = act.activity.object
    return (
        obj is not None
        and obj.embedded
        and obj.news_type == "Note"
        and bool(obj.name)
        and obj.id is not None
        and obj.in_reply_to is not None
        and ctx.uris.is_local(obj.in_reply_to)
    )


async def count_vote(ctx: HandlerContext, session: AsyncSession, act: Incoming) -> bool:
    """A Create that is a vote on one of our polls: counted, never stored as a post.

    Mastodon's `poll_vote?` (app/lib/activitypub/activity/create.rb): a Note with a
    `name` whose `inReplyTo` is one of our Questions. True when it was such a vote
    (counted or not); then the new counts go out in an Update of the Question.
    """
    obj = act.activity.object
    if obj is None or not is_vote_candidate(ctx, act):
        return False
    name, parent_uri, vote_id = obj.name, obj.in_reply_to, obj.id
    assert name and parent_uri and vote_id
    question = await session.scalar(
        select(Status).where(
            Status.uri == parent_uri,
            Status.local_actor_id.is_not(None),
            Status.type == "Question",
            Status.deleted_at.is_(None),
        )
    )
    if question is None:
        return False
    authors = obj.attributed_to
    if (authors and authors[0] != act.actor_uri) or not same_origin(vote_id, act.actor_uri):
        return True  # someone else's vote: not counted, and no post either
    counted = await count_remote_vote(
        session,
        status=question,
        voter_uri=act.actor_uri,
        title=name.strip(),
        vote_id=vote_id,
        now=ctx.now,
    )
    poll = await session.get(Poll, question.id)
    if counted and poll is not None:
        await send_update(
            session,
            status=question,
            poll=poll,
            now=ctx.now,
            render_update=render_poll_update,
            policy=ctx.policy,
        )
    return True
