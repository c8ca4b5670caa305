"""Receiving contact requests (issue 14): a Follow with a message becomes a received
request, the direct message that accompanies a Verbund request is not shown again, and
an Accept or Reject of our request's Follow records the outcome.

A Follow carries a message in our `contactMessage` (Verbund) or in `content` (what a
Mastodon-shaped sender can put there); either makes it a request that the recipient
decides, locked or not. A repeated Follow while a request is pending updates that one
request. Follows from an actor the recipient blocked are dropped (after the 202);
anonymous ones (`contactAnonymous`) from a server whose alias the recipient blocked are
rejected. Direct messages between the two sides of a pending request join its thread.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from actors.aliases import ALIAS_PREFIX, alias_by_name, is_live
from actors.contacts import (
    add_message,
    blocks_anonymous_from,
    is_blocked,
    pending_between,
    pending_partners,
    pending_with,
)
from actors.models import (
    Actor,
    ContactBox,
    ContactDirection,
    ContactRequest,
    ContactState,
)
from actors.relations import record_received_follow
from actors.uris import LocalUris
from federation.activities import ids_of
from federation.contacts import MAX_MESSAGE, parse_contact_terms
from federation.content import plain_text
from federation.policy import FederationPolicy
from inbox.context import HandlerContext, Incoming
from outbox.aliases import alias_delay
from outbox.contacts import conclude_anonymous, record_outcome
from outbox.follows import reject_follow
from outbox.publish import inbox_host

log = logging.getLogger("verbund.inbox")

MAX_STORED_MESSAGE = 2000  # what `follows.message` keeps, as for any Follow


async def refuses_follow(
    ctx: HandlerContext, session: AsyncSession, act: Incoming, local: Actor
) -> bool:
    """Whether our `local` refuses the Follow: it blocked its actor (dropped, as before),
    it is an anonymous request from a server one of whose aliases `local` blocked
    (rejected, so that the requester's instance retires the alias at once), or `local`
    is an alias and the Follow is not from its one recipient (dropped)."""
    target_uri = ctx.uris.actor(local.username)
    if refuses_as_alias(ctx, act, local):
        return True
    if await is_blocked(session, blocker_uri=target_uri, blocked_uri=act.actor_uri):
        log.info("ignoring Follow %s: %s blocked its sender", act.id, target_uri)
        return True
    if not parse_contact_terms(act.activity).anonymous or act.actor is None:
        return False
    domain = inbox_host(act.actor_uri)
    if not await blocks_anonymous_from(session, blocker_uri=target_uri, domain=domain):
        return False
    log.info(
        "rejecting Follow %s: %s blocked anonymous requests from %s", act.id, target_uri, domain
    )
    row = await record_received_follow(
        session,
        follower_uri=act.actor_uri,
        followed_uri=target_uri,
        activity_uri=act.id,
        now=ctx.now,
    )
    await reject_follow(
        session, actor=local, row=row, follower=act.actor, now=ctx.now, policy=ctx.policy
    )
    return True


def refuses_as_alias(ctx: HandlerContext, act: Incoming, local: Actor) -> bool:
    """Whether `local` is an alias and the Follow is not from its one recipient (or the
    alias is retired): dropped, as `refuses_follow` drops it."""
    if local.is_alias and (not is_live(local) or act.actor_uri != local.alias_for_uri):
        log.info(
            "ignoring Follow %s: %s is an alias for another",
            act.id,
            ctx.uris.actor(local.username),
        )
        return True
    return False


def is_plain_follow(act: Incoming) -> bool:
    """A Follow that is no contact request: no message, not anonymous."""
    terms = parse_contact_terms(act.activity)
    return not terms.anonymous and not terms.message


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
            is_anonymous=parse_contact_terms(act.activity).anonymous,
            created_at=now,
            updated_at=now,
        )
    )
    await session.flush()


# The mentions a direct message starts with (`@kv`, `@anon-x@beta.example`): the thread
# shows the text only.
_LEADING_MENTIONS = re.compile(r"^(?:@[\w.\-]+(?:@[\w.\-:\[\]]+)?[\s,:]*)+")
PUBLIC = frozenset(("https://www.w3.org/ns/activitystreams#Public", "as:Public", "Public"))


def _direct_text(act: Incoming) -> tuple[str, str, list[str]] | None:
    """(note id, plain text, addressees) of a Create of a direct Note, else None: a Note
    addressed to named actors only (no Public, no collection we can tell apart: any
    addressee that is not one of ours is simply not looked at)."""
    obj = act.activity.object
    wire = obj.wire if obj is not None and obj.embedded else None
    if obj is None or wire is None or obj.id is None or obj.type_in(("Note",)) is None:
        return None
    audience = [
        *act.activity.to,
        *act.activity.cc,
        *ids_of(wire.get("to")),
        *ids_of(wire.get("cc")),
    ]
    if any(a in PUBLIC for a in audience):
        return None
    content = wire.get("content")
    text = plain_text(content) if isinstance(content, str) else ""
    text = _LEADING_MENTIONS.sub("", text).strip()[:MAX_MESSAGE]
    return obj.id, text, list(dict.fromkeys(audience))


async def file_contact_reply(
    session: AsyncSession, act: Incoming, *, uris: LocalUris, now: datetime
) -> bool:
    """A direct message between the two sides of a pending contact request joins the
    request's thread. Returns whether the Create must not become a status: a message to an
    alias is kept in the thread only (from its one recipient) or dropped (from anyone
    else, e.g. through the shared inbox); a message to any other actor of ours stays an
    ordinary direct message besides."""
    direct = _direct_text(act)
    if direct is None:
        return False
    note_uri, text, audience = direct
    drop = False
    for uri in audience:
        name = uris.username_of(uri)
        if not name:
            continue
        is_alias = name.lower().startswith(ALIAS_PREFIX)
        alias = await alias_by_name(session, name) if is_alias else None
        if alias is not None:
            drop = True
            if not is_live(alias) or act.actor_uri != alias.alias_for_uri:
                log.info("ignoring Create %s: addressed to an alias by another", act.id)
                continue
        ours = uris.actor(alias.username) if alias is not None else uri
        row = await pending_with(session, ours=ours, other=act.actor_uri, alias=alias is not None)
        if row is not None and text:
            await add_message(
                session, row, direction=ContactDirection.IN, text=text, note_uri=note_uri, now=now
            )
    return drop


async def withdraw_received(
    session: AsyncSession,
    *,
    sender_uri: str,
    recipient_uri: str | None,
    follow_uri: str | None,
    now: datetime,
) -> None:
    """The sender took its Follow back (`Undo`): the pending request it made is withdrawn,
    matched by the Follow's id or by the two actors."""
    match = []
    if follow_uri:
        match.append(ContactRequest.follow_uri == follow_uri)
    if recipient_uri:
        match.append(ContactRequest.recipient_uri == recipient_uri)
    if not match:
        return
    await session.execute(
        update(ContactRequest)
        .where(
            ContactRequest.box == ContactBox.RECEIVED,
            ContactRequest.sender_uri == sender_uri,
            ContactRequest.state == ContactState.PENDING,
            or_(*match),
        )
        .values(state=ContactState.WITHDRAWN, updated_at=now)
        .execution_options(synchronize_session=False)
    )


def _origin(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}".lower()


async def keep_as_statuses(
    ctx: HandlerContext, session: AsyncSession, acts: Sequence[Incoming]
) -> list[Incoming]:
    """The received Creates that go on to become statuses: not the message that
    accompanies a contact request (`is_contact_note`), nor a message to an alias
    (`file_contact_reply`). A thread is looked for only when the sender has a pending
    request with us or the Create names an alias: one query for the run, not one per
    addressee of every non-public post."""
    talking = await pending_partners(session, {act.actor_uri for act in acts})
    alias_prefix = ctx.uris.actor(ALIAS_PREFIX)
    kept = []
    for act in acts:
        if await is_contact_note(session, act):
            continue
        may_file = act.actor_uri in talking or any(
            a.lower().startswith(alias_prefix) for a in _addressees(act)
        )
        if may_file and await file_contact_reply(session, act, uris=ctx.uris, now=ctx.now):
            continue
        kept.append(act)
    return kept


def _addressees(act: Incoming) -> list[str]:
    obj = act.activity.object
    wire = obj.wire if obj is not None and obj.embedded else None
    if wire is None:
        return [*act.activity.to, *act.activity.cc]
    return [*act.activity.to, *act.activity.cc, *ids_of(wire.get("to")), *ids_of(wire.get("cc"))]


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
    delay_seconds: float = 0.0,
) -> None:
    """Our request's Follow was accepted or rejected (a Reject marked `contactExpired`
    means it timed out on the recipient's side). An alias's reveal or Delete waits a
    random time up to `delay_seconds`, so it does not follow the moment the Accept or
    Reject arrived and the real actor's other activity at that moment."""
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
        await conclude_anonymous(
            session, row, uris=uris, now=now, policy=policy, delay=alias_delay(delay_seconds)
        )
