"""What happened to one of our actors, newest first (issue 16's notifications page):
follows and follow requests, mentions, boosts and favourites of its posts, and contact
requests received. Read from the rows the inbox and outbox already keep (no table of its
own), a bounded number of each kind, merged by time; paged by `NotificationCursor`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from sqlalchemy import ColumnElement, and_, case, exists, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased

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

__all__ = ["Notification", "NotificationCursor", "NotificationKind", "notifications_of"]


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


@dataclass(frozen=True, slots=True)
class NotificationCursor:
    """Where a page of notifications ends: the order is `at`, then kind, then row id, all
    newest first, so a page older than the cursor continues exactly there (keyset paging:
    no OFFSET, no notification seen twice or skipped, even with many at one instant).
    As text, `MICROSECONDS-KIND-KEY`, what the web page puts in `?before=`."""

    at: datetime
    kind: int  # the index in NotificationKind
    key: int

    @classmethod
    def after(cls, notification: Notification) -> NotificationCursor:
        kind = list(NotificationKind).index(notification.kind)
        return cls(notification.at, kind, notification.key)

    @classmethod
    def parse(cls, text: str) -> NotificationCursor | None:
        """The cursor in `text`, or None for anything else (never an exception)."""
        parts = text.split("-")
        if len(parts) != 3 or not all(p.isascii() and p.isdigit() and len(p) <= 19 for p in parts):
            return None
        micros, kind, key = (int(p) for p in parts)
        if micros > _MAX_MICROS or kind >= len(NotificationKind) or key > _MAX_KEY:
            return None
        return cls(_EPOCH + timedelta(microseconds=micros), kind, key)

    def __str__(self) -> str:
        micros = (self.at.astimezone(UTC) - _EPOCH) // timedelta(microseconds=1)
        return f"{micros}-{self.kind}-{self.key}"

    def older(
        self,
        kind: NotificationKind,
        at: InstrumentedAttribute[datetime],
        key: InstrumentedAttribute[int],
    ) -> ColumnElement[bool]:
        """The rows of `kind` that come after this cursor, as SQL."""
        index = list(NotificationKind).index(kind)
        if index < self.kind:
            return at <= self.at
        if index > self.kind:
            return at < self.at
        return or_(at < self.at, and_(at == self.at, key < self.key))


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_MICROS: Final = (datetime(9999, 12, 31, tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)
_MAX_KEY: Final = 2**63 - 1


async def notifications_of(
    session: AsyncSession,
    uris: LocalUris,
    actor: Actor,
    *,
    limit: int = 40,
    before: NotificationCursor | None = None,
) -> list[Notification]:
    """The latest `limit` notifications of a local actor, newest first; with `before`,
    those after that cursor. Each kind is read newest first up to `limit`, so the merge
    of them is exact for the first `limit`."""
    actor_uri = uris.actor(actor.username)
    found: list[Notification] = []

    def older(
        kind: NotificationKind, at: InstrumentedAttribute[datetime], key: InstrumentedAttribute[int]
    ) -> ColumnElement[bool]:
        return true() if before is None else before.older(kind, at, key)

    received = (
        ContactRequest.box == ContactBox.RECEIVED,
        ContactRequest.recipient_uri == actor_uri,
        ContactRequest.state == ContactState.PENDING,
    )
    for request in await session.scalars(
        select(ContactRequest)
        .where(
            *received,
            older(NotificationKind.CONTACT_REQUEST, ContactRequest.created_at, ContactRequest.id),
        )
        .order_by(ContactRequest.created_at.desc(), ContactRequest.id.desc())
        .limit(limit)
    ):
        found.append(
            Notification(
                NotificationKind.CONTACT_REQUEST,
                request.created_at,
                request.sender_uri,
                request.id,
                message=request.message,
            )
        )
    # A Follow that carries a pending contact request is shown as that request.
    carries_request = exists().where(*received, ContactRequest.follow_uri == Follow.activity_uri)
    for follow in await session.scalars(
        select(Follow)
        .where(
            Follow.followed_uri == actor_uri,
            Follow.follower_uri != actor_uri,
            ~carries_request,
            # Both kinds come from this one query: the row decides which it is.
            or_(
                and_(
                    Follow.state == FollowState.ACCEPTED,
                    older(NotificationKind.FOLLOW, Follow.created_at, Follow.id),
                ),
                and_(
                    Follow.state != FollowState.ACCEPTED,
                    older(NotificationKind.FOLLOW_REQUEST, Follow.created_at, Follow.id),
                ),
            ),
        )
        # In the merged order: at one instant, requests (the later kind) before follows.
        .order_by(
            Follow.created_at.desc(),
            case((Follow.state == FollowState.ACCEPTED, 0), else_=1).desc(),
            Follow.id.desc(),
        )
        .limit(limit)
    ):
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
            older(NotificationKind.MENTION, Status.published_at, Status.id),
        )
        .order_by(Status.published_at.desc(), Status.id.desc())
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
            older(NotificationKind.REBLOG, Status.published_at, Status.id),
        )
        .order_by(Status.published_at.desc(), Status.id.desc())
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
        .where(
            Status.local_actor_id == actor.id,
            Favourite.actor_uri != actor_uri,
            older(NotificationKind.FAVOURITE, Favourite.created_at, Favourite.id),
        )
        .order_by(Favourite.created_at.desc(), Favourite.id.desc())
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
    found.sort(key=_order, reverse=True)
    return found[:limit]


def _order(n: Notification) -> tuple[datetime, int, int]:
    return n.at, list(NotificationKind).index(n.kind), n.key
