"""Our actors' boosts as stored here: the wrapper status of an Announce, counted on the
boosted post and shown in the booster's and its local followers' home timelines. Used by
the ordinary boost (`outbox.posts.boost`) and a group's announce of a member's post
(`outbox.groups`); what goes on the wire is theirs.

Must not import `inbox`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from actors.models import Actor
from actors.snowflake import snowflake
from actors.uris import LocalUris
from outbox.models import Status, Visibility
from outbox.statuses import StatusCounter, bump_count, status_columns
from outbox.timelines import add_to_timelines, local_followers


async def store_boost(
    session: AsyncSession,
    *,
    uris: LocalUris,
    actor: Actor,
    target: Status,
    visibility: Visibility,
    to: Sequence[str],
    cc: Sequence[str],
    now: datetime,
) -> Status:
    """The wrapper of `actor`'s boost of `target`, stored and shown. The caller checked
    that it may be and has not been boosted, and sends the Announce."""
    actor_uri = uris.actor(actor.username)
    wrapper_id = snowflake(now)
    wrapper = Status(
        **status_columns(
            id=wrapper_id,
            uri=uris.status(actor_uri, wrapper_id),
            url=uris.status_page(actor.username, wrapper_id),
            actor_uri=actor_uri,
            local_actor_id=actor.id,
            type="Announce",
            visibility=visibility,
            reblog_of_id=target.id,
            to=list(to),
            cc=list(cc),
            published_at=now,
            created_at=now,
        )
    )
    session.add(wrapper)
    await session.flush()
    await bump_count(session, StatusCounter.REBLOGS, 1, Status.id == target.id)
    readers = [actor.id, *await local_followers(session, uris, actor_uri)]
    await add_to_timelines(session, wrapper.id, readers)
    return wrapper
