"""Receiving contact requests (issue 14): a Follow with a message becomes a received
request, the direct message that accompanies a Verbund request is not shown again, and
an Accept or Reject of our request's Follow records the outcome.

A Follow carries a message in our `contactMessage` (Verbund) or in `content` (what a
Mastodon-shaped sender can put there); either makes it a request that the recipient
decides, locked or not. A repeated Follow while a request is pending updates that one
request. Follows from an actor the recipient blocked are dropped (after the 202).
"""

from __future__ import annotations

import logging
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.contacts import is_blocked, pending_between
from actors.models import ContactBox, ContactRequest, ContactState
from actors.uris import LocalUris
from federation.contacts import parse_contact_terms
from federation.policy import FederationPolicy
from inbox.context import Incoming
from outbox.contacts import conclude_anonymous, record_outcome

log = logging.getLogger("verbund.inbox")

MAX_STORED_MESSAGE = 2000  # what `follows.message` keeps, as for any Follow


async def refuses_follow(session: AsyncSession, act: Incoming, target_uri: str) -> bool:
    """Whether `target_uri` (ours) blocked contact from the Follow's actor."""
    if await is_blocked(session, blocker_uri=target_uri, blocked_uri=act.actor_uri):
        log.info("ignoring Follow %s: %s blocked its sender", act.id, target_uri)
        return True
    return False


def contact_message(act: Incoming) -> str:
    """The message of a received Follow ("" for a plain follow)."""
    return parse_contact_terms(act.activity).message[:MAX_STORED_MESSAGE]


async def receive_contact_request(
    session: AsyncSession, act: Incoming, *, target_uri: str, message: str, now: datetime
) -> None:
    """Record (or, while one is pending, update) the received request of this Follow."""
    row = await pending_between(
        session, box=ContactBox.RECEIVED, sender_uri=act.actor_uri, recipient_uri=target_uri
    )
    if row is not None:
        row.follow_uri, row.message, row.updated_at = act.id, message, now
        return
    session.add(
        ContactRequest(
            box=ContactBox.RECEIVED,
            sender_uri=act.actor_uri,
            recipient_uri=target_uri,
            follow_uri=act.id,
            message=message,
            state=ContactState.PENDING,
            created_at=now,
            updated_at=now,
        )
    )
    await session.flush()


def _origin(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}".lower()


async def is_contact_note(session: AsyncSession, act: Incoming) -> bool:
    """Whether a Create is the direct message of a contact request: the one that
    accompanies a Verbund Follow (it names a Follow of its own server; the request shows
    the message already), or one about a request we sent to its actor (the expiry
    notice; the request's state says it)."""
    request = parse_contact_terms(act.activity).request
    if request is None:
        return False
    if _origin(request) == _origin(act.actor_uri):
        return True
    row = await session.scalar(
        select(ContactRequest.id).where(
            ContactRequest.box == ContactBox.SENT,
            ContactRequest.follow_uri == request,
            ContactRequest.recipient_uri == act.actor_uri,
        )
    )
    return row is not None


async def answer_received(
    session: AsyncSession,
    act: Incoming,
    *,
    follow_uri: str,
    accepted: bool,
    now: datetime,
    uris: LocalUris,
    policy: FederationPolicy,
) -> None:
    """Our request's Follow was accepted or rejected (a Reject marked `contactExpired`
    means it timed out on the recipient's side)."""
    if accepted:
        state = ContactState.ACCEPTED
    elif parse_contact_terms(act.activity).expired:
        state = ContactState.EXPIRED
    else:
        state = ContactState.DECLINED
    row = await record_outcome(
        session, follow_uri=follow_uri, recipient_uri=act.actor_uri, state=state, now=now
    )
    if row is not None:
        await conclude_anonymous(session, row, uris=uris, now=now, policy=policy)
