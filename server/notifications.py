"""What happened to one of our actors, newest first (issue 16's notifications page):
follows and follow requests, mentions, boosts and favourites of its posts, and contact
requests received. Read from the rows the inbox and outbox already keep (no table of its
own), a bounded number of each kind, merged by time.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from actors.models import (
    Actor,
    ContactBox,
    ContactRequest,
    ContactState,
    Follow,
    FollowState,
)
from actors.uris import LocalUris
from outbox.models import Favourite, Mention, Status

__all__ = ["Notification", "NotificationKind", "notifications_of"]


class NotificationKind(enum.StrEnum):
    FOLLOW = "follow"
    FOLLOW_REQUEST = "follow_request"
    MENTION = "mention"
    REBLOG = "reblog"
    FAVOURITE = "favourite"
    CONTACT_REQUEST = "contact_request"


@dataclass(frozen=True, slots=True)
class Notification:
    kind: NotificationKind
    at: datetime
    account_uri: str  # who did it
    key: int  # the id of the row it is read from (unique with `kind`)
    status: Status | None = None  # the post it is about (mention: the mentioning post)
    message: str = ""  # a contact request's message

    @property
    def id(self) -> int:
        """A stable id, ordered by time, as the client API pages by it."""
        millis = max(int(self.at.timestamp() * 1000), 0)
        return (
            (millis << 20) | (list(NotificationKind).index(self.kind) << 16) | (self.key & 0xFFFF)
        )


async def notifications_of(
    session: AsyncSession, uris: LocalUris, actor: Actor, *, limit: int = 40
) -> list[Notification]:
    """The latest `limit` notifications of a local actor, newest first."""
    actor_uri = uris.actor(actor.username)
    found: list[Notification] = []
    contact_follows: set[str] = set()
    for request in await session.scalars(
        select(ContactRequest)
        .where(
            ContactRequest.box == ContactBox.RECEIVED,
            ContactRequest.recipient_uri == actor_uri,
            ContactRequest.state == ContactState.PENDING,
        )
        .order_by(ContactRequest.created_at.desc())
        .limit(limit)
    ):
        contact_follows.add(request.follow_uri)
        found.append(
            Notification(
                NotificationKind.CONTACT_REQUEST,
                request.created_at,
                request.sender_uri,
                request.id,
                message=request.message,
            )
        )
    for follow in await session.scalars(
        select(Follow)
        .where(Follow.followed_uri == actor_uri, Follow.follower_uri != actor_uri)
        .order_by(Follow.created_at.desc())
        .limit(limit)
    ):
        if follow.activity_uri in contact_follows:
            continue
        kind = (
            NotificationKind.FOLLOW
            if follow.state == FollowState.ACCEPTED
            else NotificationKind.FOLLOW_REQUEST
        )
        found.append(Notification(kind, follow.created_at, follow.follower_uri, follow.id))
    for status in await session.scalars(
        select(Status)
        .join(Mention, Mention.status_id == Status.id)
        .where(
            Mention.actor_uri == actor_uri,
            Status.actor_uri != actor_uri,
            Status.deleted_at.is_(None),
        )
        .order_by(Status.id.desc())
        .limit(limit)
    ):
        found.append(
            Notification(
                NotificationKind.MENTION, status.published_at, status.actor_uri, status.id, status
            )
        )
    target = aliased(Status)
    for wrapper, boosted in await session.execute(
        select(Status, target)
        .join(target, target.id == Status.reblog_of_id)
        .where(
            target.local_actor_id == actor.id,
            Status.actor_uri != actor_uri,
            Status.deleted_at.is_(None),
        )
        .order_by(Status.id.desc())
        .limit(limit)
    ):
        found.append(
            Notification(
                NotificationKind.REBLOG,
                wrapper.published_at,
                wrapper.actor_uri,
                wrapper.id,
                boosted,
            )
        )
    for favourite, liked in await session.execute(
        select(Favourite, Status)
        .join(Status, Status.id == Favourite.status_id)
        .where(Status.local_actor_id == actor.id, Favourite.actor_uri != actor_uri)
        .order_by(Favourite.created_at.desc())
        .limit(limit)
    ):
        found.append(
            Notification(
                NotificationKind.FAVOURITE,
                favourite.created_at,
                favourite.actor_uri,
                favourite.id,
                liked,
            )
        )
    found.sort(key=lambda n: n.at, reverse=True)
    return found[:limit]
