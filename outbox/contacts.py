"""Contact requests as we send and decide them (issue 14), with the rows they change.

Sending is a Follow that carries the message (in `content` and our `contactMessage`)
plus a direct `Create{Note}` with the same text addressed to the recipient alone,
which names the Follow in `contactRequest`: a Mastodon recipient sees a follow request
and a direct message, a Verbund recipient one request (it drops the Note). Accepting
sends Accept (and, unless the recipient declines to, a plain Follow back); declining
sends Reject; expiry sends a Reject that says `contactExpired` and a direct message,
so that a sender on software without our terms learns it too.

States move pending → accepted | declined | expired | withdrawn and never back: a late
Accept or Reject of a request that is no longer pending changes nothing here, and a
decision is a compare-and-set (`claim_decision`), so only one is ever sent.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from actors.aliases import (
    REPORT_WINDOW,
    Disclosure,
    alias_by_name,
    create_alias,
    forget_retired_aliases,
)
from actors.contacts import add_message, due_requests
from actors.models import (
    Actor,
    ContactBox,
    ContactDirection,
    ContactRequest,
    ContactState,
    Follow,
    FollowState,
    RemoteActor,
)
from actors.uris import LocalUris
from federation.contacts import CONTACT_CONTEXT, contact_follow_terms, render_direct_note
from federation.policy import FederationPolicy
from outbox.aliases import addressee, delete_alias, reveal_alias
from outbox.follows import accept_follow, find_follow, reject_follow, send_follow
from outbox.publish import enqueue, new_activity_uri


async def _send_note(
    session: AsyncSession,
    *,
    actor: Actor,
    actor_uri: str,
    target: RemoteActor,
    text: str,
    follow_uri: str | None,
    now: datetime,
    policy: FederationPolicy,
    not_before: datetime | None = None,
) -> str:
    note_uri = new_activity_uri(actor_uri, "contacts")
    activity = render_direct_note(
        note_uri=note_uri,
        actor_uri=actor_uri,
        to=addressee(target),
        text=text,
        follow_uri=follow_uri,
        now=now,
    )
    await enqueue(
        session,
        actor=actor,
        activity=activity,
        inboxes=[target.inbox_uri],
        now=now,
        policy=policy,
        not_before=not_before,
    )
    return note_uri


async def send_contact_request(
    session: AsyncSession,
    *,
    actor: Actor,
    actor_uri: str,
    target: RemoteActor,
    message: str,
    now: datetime,
    user_id: int | None,
    policy: FederationPolicy,
    requester_uri: str | None = None,
    not_before: datetime | None = None,
) -> ContactRequest:
    """Queue the Follow and the direct message, and record the sent request as pending.
    Raises `outbox.follows.FollowError` (nothing recorded or queued) when `policy`
    blocks the target. The caller checks limits and duplicates first. `requester_uri`
    is the real actor behind `actor` when that is an alias (`send_anonymous_request`);
    neither activity is sent before `not_before`."""
    follow = await send_follow(
        session,
        actor=actor,
        actor_uri=actor_uri,
        target=target,
        now=now,
        message=message,
        policy=policy,
        extra=contact_follow_terms(message, anonymous=requester_uri is not None),
        not_before=not_before,
    )
    note_uri = await _send_note(
        session,
        actor=actor,
        actor_uri=actor_uri,
        target=target,
        text=message,
        follow_uri=follow.activity_uri,
        now=now,
        policy=policy,
        not_before=not_before,
    )
    row = ContactRequest(
        box=ContactBox.SENT,
        sender_uri=actor_uri,
        recipient_uri=target.uri,
        follow_uri=follow.activity_uri,
        note_uri=note_uri,
        message=message,
        state=ContactState.PENDING,
        sender_user_id=user_id,
        follow_back=False,
        requester_uri=requester_uri,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    return row


async def send_anonymous_request(
    session: AsyncSession,
    *,
    real: Actor,
    target: RemoteActor,
    message: str,
    disclose: frozenset[Disclosure],
    now: datetime,
    user_id: int | None,
    uris: LocalUris,
    policy: FederationPolicy,
    delay: timedelta = timedelta(0),
) -> ContactRequest:
    """A new alias of `real` (`actors.aliases`) sends the request; the row is `real`'s
    sent request (`requester_uri`). Call it in a transaction that queues nothing else, so
    that none of the alias's deliveries travels with one of the real actor's; `delay`
    (random, `contacts.alias_delay_seconds`) holds them back, so that their time does not
    follow the moment the real actor acted either. Raises
    `FollowError` (nothing recorded, no alias left after the rollback) as
    `send_contact_request` does."""
    alias = await create_alias(
        session, real=real, recipient_uri=target.uri, disclose=disclose, now=now
    )
    return await send_contact_request(
        session,
        actor=alias,
        actor_uri=uris.actor(alias.username),
        target=target,
        message=message,
        now=now,
        user_id=user_id,
        policy=policy,
        requester_uri=uris.actor(real.username),
        not_before=now + delay if delay else None,
    )


async def conclude_anonymous(
    session: AsyncSession,
    row: ContactRequest,
    *,
    uris: LocalUris,
    now: datetime,
    policy: FederationPolicy,
    delay: timedelta = timedelta(0),
) -> None:
    """An anonymous request of ours was decided: accepted, the alias reveals the real
    actor, who follows the recipient; declined or expired, the alias is deleted and the
    row names the real actor alone from then on (the alias is forgotten). What is sent
    waits `delay` (random, `contacts.alias_delay_seconds`)."""
    not_before = now + delay if delay else None
    if row.requester_uri is None or row.box != ContactBox.SENT:
        return
    name = uris.username_of(row.sender_uri)
    alias = await alias_by_name(session, name) if name else None
    if alias is None:
        return
    target = await session.scalar(select(RemoteActor).where(RemoteActor.uri == row.recipient_uri))
    if row.state == ContactState.ACCEPTED:
        if target is not None:
            await reveal_alias(
                session,
                alias=alias,
                target=target,
                uris=uris,
                now=now,
                policy=policy,
                not_before=not_before,
            )
        return
    await delete_alias(
        session,
        alias=alias,
        target=target,
        uris=uris,
        now=now,
        policy=policy,
        not_before=not_before,
    )
    row.sender_uri = row.requester_uri


async def send_contact_reply(
    session: AsyncSession,
    *,
    request: ContactRequest,
    actor: Actor,
    actor_uri: str,
    target: RemoteActor,
    text: str,
    now: datetime,
    policy: FederationPolicy,
    not_before: datetime | None = None,
) -> None:
    """A direct message to the other side of a pending request, kept in its thread. It
    names no earlier object (no `inReplyTo`, no `contactRequest`): from an alias it must
    carry nothing but the alias's own ids; a Verbund recipient files it by the two
    actors. The caller checks the state and the length."""
    note_uri = await _send_note(
        session,
        actor=actor,
        actor_uri=actor_uri,
        target=target,
        text=text,
        follow_uri=None,
        now=now,
        policy=policy,
        not_before=not_before,
    )
    await add_message(
        session, request, direction=ContactDirection.OUT, text=text, note_uri=note_uri, now=now
    )


async def claim_decision(
    session: AsyncSession, request_id: int, state: ContactState, now: datetime
) -> bool:
    """Move a pending request to `state` by compare-and-set (`UPDATE … WHERE state =
    'pending'`), first thing in the deciding transaction: of two moderators deciding at
    once exactly one gets True and sends its Accept or Reject; the other's UPDATE waits
    for the winner's commit (the row lock on PostgreSQL, the write lock on SQLite), then
    matches nothing. Call it before loading the row into `session`."""
    result = await session.execute(
        update(ContactRequest)
        .where(ContactRequest.id == request_id, ContactRequest.state == ContactState.PENDING)
        .values(state=state, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0) == 1


def _settle(row: ContactRequest, state: ContactState, now: datetime) -> None:
    row.state = state
    row.updated_at = now


async def accept_contact(
    session: AsyncSession,
    *,
    actor: Actor,
    request: ContactRequest,
    follow: Follow,
    sender: RemoteActor,
    now: datetime,
    follow_body: dict[str, object] | None,
    follow_back: bool,
    policy: FederationPolicy,
) -> None:
    """Accept a received request: Accept of its Follow, and a plain Follow back unless
    `follow_back` is false or the recipient already follows the sender."""
    await accept_follow(
        session,
        actor=actor,
        row=follow,
        follower=sender,
        now=now,
        follow_body=follow_body,
        policy=policy,
    )
    _settle(request, ContactState.ACCEPTED, now)
    request.follow_back = follow_back
    if follow_back and await find_follow(session, request.recipient_uri, sender.uri) is None:
        await send_follow(
            session,
            actor=actor,
            actor_uri=request.recipient_uri,
            target=sender,
            now=now,
            policy=policy,
        )


async def decline_contact(
    session: AsyncSession,
    *,
    actor: Actor,
    request: ContactRequest,
    follow: Follow | None,
    sender: RemoteActor,
    now: datetime,
    policy: FederationPolicy,
    expired: bool = False,
) -> None:
    """Decline (or, `expired`, time out) a received request: Reject of its Follow (which
    ends the pending relation), marked `contactExpired` and followed by a direct message
    to the sender when it timed out. A Follow the sender took back already is not
    rejected again."""
    if follow is not None:
        await reject_follow(
            session,
            actor=actor,
            row=follow,
            follower=sender,
            now=now,
            policy=policy,
            extra={"@context": CONTACT_CONTEXT, "contactExpired": True} if expired else None,
        )
    if expired:
        await _send_note(
            session,
            actor=actor,
            actor_uri=request.recipient_uri,
            target=sender,
            text="Your contact request expired without an answer. "
            "/ Ihre Kontaktanfrage ist ohne Antwort abgelaufen.",
            follow_uri=request.follow_uri,
            now=now,
            policy=policy,
        )
    _settle(request, ContactState.EXPIRED if expired else ContactState.DECLINED, now)


async def record_outcome(
    session: AsyncSession,
    *,
    follow_uri: str,
    recipient_uri: str,
    state: ContactState,
    now: datetime,
) -> ContactRequest | None:
    """The recipient answered our request (their Accept or Reject of its Follow): the
    request if this changed its state, else None."""
    row = await session.scalar(
        select(ContactRequest).where(
            ContactRequest.box == ContactBox.SENT,
            ContactRequest.follow_uri == follow_uri,
            ContactRequest.recipient_uri == recipient_uri,
        )
    )
    if row is not None and row.state == ContactState.PENDING:
        _settle(row, state, now)
        return row
    return None


async def expire_contact_requests(
    session: AsyncSession,
    *,
    now: datetime,
    expire_after: timedelta,
    uris: LocalUris,
    policy: FederationPolicy,
    report_window: timedelta = REPORT_WINDOW,
) -> int:
    """Time out the pending requests made `expire_after` or longer before `now`: received
    ones are rejected (the sender is told), sent ones only marked. Returns how many
    expired in this round (at most a batch per box); call again while it returns any.
    Aliases retired `report_window` ago forget whom they stood for."""
    await forget_retired_aliases(session, retired_before=now - report_window)
    before = now - expire_after
    received = await due_requests(session, box=ContactBox.RECEIVED, created_before=before)
    for row in received:
        name = uris.username_of(row.recipient_uri)
        actor = (
            await session.scalar(select(Actor).where(Actor.username_key == name.lower()))
            if name
            else None
        )
        sender = await session.scalar(select(RemoteActor).where(RemoteActor.uri == row.sender_uri))
        if actor is None or sender is None:
            _settle(row, ContactState.EXPIRED, now)  # nobody left to tell
            continue
        follow = await find_follow(session, row.sender_uri, row.recipient_uri)
        if follow is None:
            _settle(row, ContactState.EXPIRED, now)  # withdrawn, or declined as a follow
            continue
        if follow.state == FollowState.ACCEPTED:
            # Approved as a plain follow request (`verbund requests approve`): in contact.
            _settle(row, ContactState.ACCEPTED, now)
            continue
        await decline_contact(
            session,
            actor=actor,
            request=row,
            follow=follow,
            sender=sender,
            now=now,
            policy=policy,
            expired=True,
        )
    sent = await due_requests(session, box=ContactBox.SENT, created_before=before)
    for row in sent:
        _settle(row, ContactState.EXPIRED, now)
        await conclude_anonymous(session, row, uris=uris, now=now, policy=policy)
    return len(received) + len(sent)
