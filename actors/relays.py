"""Relay subscriptions of this instance (FEP-ae0c, issue 15) and their queries.

A relay is subscribed by its inbox URL (Mastodon's way: the operator types
`https://relay.example/inbox`) or by its actor URL (LitePub's way). The instance actor
sends the Follow; `follow_uri` is that Follow's id, by which the relay's Accept or Reject
is matched (ActivityRelay's Accept embeds a Follow whose `object` is the relay actor, not
what we followed). `actor_uri` is learnt from the answer when we subscribed by inbox.

Invariants: one row per inbox; only `accepted` relays receive our public posts and have
their Announces kept; a relay's follow-back (its Follow of our instance actor) is a
normal `follows` row, accepted because the relay is subscribed here.

Must not know about inbox/outbox pipelines or HTTP routes.
"""

from __future__ import annotations

import enum
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import Identity, Integer, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from actors.base import Base, str_enum

AS_PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


class RelayState(enum.StrEnum):
    PENDING = "pending"  # our Follow is queued or sent, no answer yet
    ACCEPTED = "accepted"
    REJECTED = "rejected"  # the relay said no, or ended the subscription itself


class Relay(Base):
    __tablename__ = "relays"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    inbox_uri: Mapped[str] = mapped_column(unique=True)
    actor_uri: Mapped[str | None] = mapped_column(default=None, index=True)
    # What our Follow named: as:Public (Mastodon) or the relay actor (LitePub).
    object_uri: Mapped[str]
    follow_uri: Mapped[str] = mapped_column(index=True)
    state: Mapped[RelayState] = mapped_column(str_enum(RelayState, 10))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


def relay_host(uri: str) -> str:
    """The host (with port) of a relay URL, lower-cased."""
    return urlsplit(uri).netloc.lower()


async def list_relays(session: AsyncSession) -> list[Relay]:
    return list(await session.scalars(select(Relay).order_by(Relay.id)))


async def find_relay(session: AsyncSession, url: str) -> Relay | None:
    """The subscription named by its inbox or actor URL."""
    return await session.scalar(
        select(Relay).where(or_(Relay.inbox_uri == url, Relay.actor_uri == url))
    )


async def relay_inboxes(session: AsyncSession) -> set[str]:
    """Where our public posts go besides followers: every accepted relay's inbox."""
    rows = await session.scalars(select(Relay.inbox_uri).where(Relay.state == RelayState.ACCEPTED))
    return set(rows)


async def relay_of_actor(
    session: AsyncSession, actor_uri: str, *, state: RelayState | None = RelayState.ACCEPTED
) -> Relay | None:
    """The subscription whose relay is `actor_uri` (in `state`, any when None)."""
    query = select(Relay).where(Relay.actor_uri == actor_uri)
    if state is not None:
        query = query.where(Relay.state == state)
    return await session.scalar(query.limit(1))


async def answered_relay(session: AsyncSession, actor_uri: str, follow_uri: str) -> Relay | None:
    """The subscription an Accept/Reject from `actor_uri` naming `follow_uri` answers: our
    Follow's id, from the relay's own host (its actor is learnt from this answer)."""
    row = await session.scalar(select(Relay).where(Relay.follow_uri == follow_uri))
    if row is None:
        return None
    if row.actor_uri is not None:
        return row if row.actor_uri == actor_uri else None
    return row if relay_host(row.inbox_uri) == relay_host(actor_uri) else None


async def relay_following_us(session: AsyncSession, actor_uri: str) -> Relay | None:
    """A subscription (pending or accepted) that the relay `actor_uri` may follow us back
    for: by its known actor, else by the host of its inbox (ActivityRelay may send its
    follow-back before its Accept arrives)."""
    rows = await session.scalars(
        select(Relay).where(Relay.state.in_((RelayState.PENDING, RelayState.ACCEPTED)))
    )
    host = relay_host(actor_uri)
    for row in rows:
        if row.actor_uri == actor_uri or (
            row.actor_uri is None and relay_host(row.inbox_uri) == host
        ):
            return row
    return None
