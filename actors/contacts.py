"""Contact requests as stored (issue 14): queries over `contact_requests` and
`contact_blocks`, and the view of a request with the other side's profile.

A request has a row on each side that is ours: `box` sent (one of our actors asked) or
received (one of ours was asked). Both are matched across instances by the Follow's id,
`follow_uri`. Must not know about inbox/outbox pipelines or HTTP routes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.base import among
from actors.models import (
    Actor,
    ContactBlock,
    ContactBox,
    ContactDirection,
    ContactMessage,
    ContactRequest,
    ContactState,
    RemoteActor,
)
from actors.uris import LocalUris

DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class ContactView:
    """A request as its side sees it: `other_*` is the sender for a received request
    and the recipient for a sent one, with the region and interests its profile names
    (a local actor's columns, else the cached remote actor's)."""

    request: ContactRequest
    other_uri: str
    other_handle: str
    other_name: str
    region_code: str | None
    interests: tuple[str, ...]
    messages: tuple[ContactMessage, ...] = ()


async def find_request(
    session: AsyncSession, *, box: ContactBox, follow_uri: str
) -> ContactRequest | None:
    return await session.scalar(
        select(ContactRequest).where(
            ContactRequest.box == box, ContactRequest.follow_uri == follow_uri
        )
    )


async def request_of(
    session: AsyncSession, actor_uri: str, request_id: int
) -> ContactRequest | None:
    """A request by number that `actor_uri` sent (itself or through an alias) or received
    (None if neither)."""
    row = await session.get(ContactRequest, request_id)
    if row is None:
        return None
    if row.box == ContactBox.RECEIVED:
        return row if row.recipient_uri == actor_uri else None
    return row if actor_uri in (row.sender_uri, row.requester_uri) else None


async def pending_between(
    session: AsyncSession, *, box: ContactBox, sender_uri: str, recipient_uri: str
) -> ContactRequest | None:
    return await session.scalar(
        select(ContactRequest)
        .where(
            ContactRequest.box == box,
            ContactRequest.sender_uri == sender_uri,
            ContactRequest.recipient_uri == recipient_uri,
            ContactRequest.state == ContactState.PENDING,
        )
        .order_by(ContactRequest.id.desc())
        .limit(1)
    )


async def pending_sent(
    session: AsyncSession, *, actor_uri: str, recipient_uri: str
) -> ContactRequest | None:
    """A pending request our actor sent to `recipient_uri`, itself or through an alias."""
    return await session.scalar(
        select(ContactRequest)
        .where(
            ContactRequest.box == ContactBox.SENT,
            (ContactRequest.sender_uri == actor_uri) | (ContactRequest.requester_uri == actor_uri),
            ContactRequest.recipient_uri == recipient_uri,
            ContactRequest.state == ContactState.PENDING,
        )
        .limit(1)
    )


async def settle_received(
    session: AsyncSession,
    *,
    sender_uri: str,
    recipient_uri: str,
    state: ContactState,
    now: datetime,
) -> None:
    """The Follow behind a pending received request was decided (whichever way staff
    decided it: as a contact request or as a follow request): the request follows."""
    row = await pending_between(
        session, box=ContactBox.RECEIVED, sender_uri=sender_uri, recipient_uri=recipient_uri
    )
    if row is not None:
        row.state, row.updated_at = state, now


async def settle_received_many(
    session: AsyncSession,
    pairs: set[tuple[str, str]],
    *,
    state: ContactState,
    now: datetime,
) -> None:
    """`settle_received` for several (sender, recipient) pairs in one query: the newest
    pending received request of each pair follows its Follow's decision."""
    if not pairs:
        return
    rows = await session.scalars(
        select(ContactRequest)
        .where(
            ContactRequest.box == ContactBox.RECEIVED,
            ContactRequest.sender_uri.in_({sender for sender, _ in pairs}),
            ContactRequest.recipient_uri.in_({recipient for _, recipient in pairs}),
            ContactRequest.state == ContactState.PENDING,
        )
        .order_by(ContactRequest.id)
    )
    newest = {key: row for row in rows if (key := (row.sender_uri, row.recipient_uri)) in pairs}
    for row in newest.values():
        row.state, row.updated_at = state, now


async def pending_with(
    session: AsyncSession, *, ours: str, other: str, alias: bool = False
) -> ContactRequest | None:
    """The pending request between our actor `ours` and `other`, whichever sent it: the
    one a direct message between them belongs to. `alias`: `ours` is an alias, whose
    request is the sent one only."""
    received = (
        (ContactRequest.box == ContactBox.RECEIVED)
        & (ContactRequest.sender_uri == other)
        & (ContactRequest.recipient_uri == ours)
    )
    sent = (
        (ContactRequest.box == ContactBox.SENT)
        & (ContactRequest.sender_uri == ours)
        & (ContactRequest.recipient_uri == other)
    )
    return await session.scalar(
        select(ContactRequest)
        .where(sent if alias else received | sent, ContactRequest.state == ContactState.PENDING)
        .order_by(ContactRequest.id.desc())
        .limit(1)
    )


async def add_message(
    session: AsyncSession,
    request: ContactRequest,
    *,
    direction: ContactDirection,
    text: str,
    note_uri: str,
    now: datetime,
) -> None:
    """Add a message to the request's thread (once per Note)."""
    known = await session.scalar(
        select(ContactMessage.id).where(
            ContactMessage.request_id == request.id, ContactMessage.note_uri == note_uri
        )
    )
    if known is None:
        session.add(
            ContactMessage(
                request_id=request.id,
                direction=direction,
                text=text,
                note_uri=note_uri,
                created_at=now,
            )
        )
        await session.flush()


async def sent_since(
    session: AsyncSession, *, user_id: int | None, actor_uri: str, now: datetime
) -> int:
    """Requests sent in the 24 hours before `now`: by the person if known, else (the CLI,
    an operator acting) by the actor."""
    query = select(func.count()).where(
        ContactRequest.box == ContactBox.SENT, ContactRequest.created_at > now - DAY
    )
    if user_id is not None:
        query = query.where(ContactRequest.sender_user_id == user_id)
    else:
        query = query.where(
            (ContactRequest.sender_uri == actor_uri) | (ContactRequest.requester_uri == actor_uri)
        )
    return int(await session.scalar(query) or 0)


async def is_blocked(session: AsyncSession, *, blocker_uri: str, blocked_uri: str) -> bool:
    found = await session.scalar(
        select(ContactBlock.id).where(
            ContactBlock.blocker_uri == blocker_uri, ContactBlock.blocked_uri == blocked_uri
        )
    )
    return found is not None


async def blocked_pairs(
    session: AsyncSession, pairs: Iterable[tuple[str, str]]
) -> set[tuple[str, str]]:
    """Of the (blocker, blocked) `pairs`, those where the blocker blocked the other
    (`is_blocked` of many pairs in one query)."""
    wanted = set(pairs)
    if not wanted:
        return set()
    rows = await session.execute(
        select(ContactBlock.blocker_uri, ContactBlock.blocked_uri).where(
            ContactBlock.blocker_uri.in_({blocker for blocker, _ in wanted}),
            ContactBlock.blocked_uri.in_({blocked for _, blocked in wanted}),
        )
    )
    return {(blocker, blocked) for blocker, blocked in rows} & wanted


async def add_block(
    session: AsyncSession,
    *,
    blocker_uri: str,
    blocked_uri: str,
    now: datetime,
    anonymous_domain: str | None = None,
) -> None:
    """Block `blocked_uri`; `anonymous_domain` (the host of a blocked alias) also refuses
    further anonymous requests from that server."""
    if not await is_blocked(session, blocker_uri=blocker_uri, blocked_uri=blocked_uri):
        session.add(
            ContactBlock(
                blocker_uri=blocker_uri,
                blocked_uri=blocked_uri,
                anonymous_domain=anonymous_domain,
                created_at=now,
            )
        )


async def blocks_anonymous_from(session: AsyncSession, *, blocker_uri: str, domain: str) -> bool:
    """Whether `blocker_uri` refuses anonymous requests from the server `domain`."""
    found = await session.scalar(
        select(ContactBlock.id)
        .where(ContactBlock.blocker_uri == blocker_uri, ContactBlock.anonymous_domain == domain)
        .limit(1)
    )
    return found is not None


async def list_requests(
    session: AsyncSession,
    actor_uri: str,
    *,
    box: ContactBox | None = None,
    state: ContactState | None = None,
) -> list[ContactRequest]:
    """The requests `actor_uri` sent (itself or through an alias) or received (either box
    unless `box`), newest first."""
    received = (ContactRequest.box == ContactBox.RECEIVED) & (
        ContactRequest.recipient_uri == actor_uri
    )
    sent = (ContactRequest.box == ContactBox.SENT) & (
        (ContactRequest.sender_uri == actor_uri) | (ContactRequest.requester_uri == actor_uri)
    )
    where = received if box == ContactBox.RECEIVED else sent if box == ContactBox.SENT else None
    query = select(ContactRequest).where(where if where is not None else received | sent)
    if state is not None:
        query = query.where(ContactRequest.state == state)
    return list(await session.scalars(query.order_by(ContactRequest.id.desc())))


async def due_requests(
    session: AsyncSession, *, box: ContactBox, created_before: datetime, limit: int = 100
) -> list[ContactRequest]:
    """Pending requests made at or before `created_before` (their time ran out), oldest
    first."""
    rows = await session.scalars(
        select(ContactRequest)
        .where(
            ContactRequest.box == box,
            ContactRequest.state == ContactState.PENDING,
            ContactRequest.created_at <= created_before,
        )
        .order_by(ContactRequest.created_at, ContactRequest.id)
        .limit(limit)
    )
    return list(rows)


async def contact_views(
    session: AsyncSession, uris: LocalUris, host: str, rows: Sequence[ContactRequest]
) -> list[ContactView]:
    """Each request with the other side's handle, name, region and interests; `host` is
    our handles' host part."""
    others = [r.sender_uri if r.box == ContactBox.RECEIVED else r.recipient_uri for r in rows]
    remotes = {
        a.uri: a
        for a in await session.scalars(select(RemoteActor).where(RemoteActor.uri.in_(others)))
    }
    names = {n.lower() for n in (uris.username_of(u) for u in others) if n}
    locals_ = {
        a.username_key: a
        for a in await session.scalars(
            select(Actor).where(Actor.username_key.in_(names), Actor.is_instance.is_(False))
        )
    }
    threads: dict[int, list[ContactMessage]] = {}
    for message in await session.scalars(
        select(ContactMessage)
        .where(ContactMessage.request_id.in_([r.id for r in rows]))
        .order_by(ContactMessage.created_at, ContactMessage.id)
    ):
        threads.setdefault(message.request_id, []).append(message)
    views = []
    for row, other in zip(rows, others, strict=True):
        name = uris.username_of(other)
        local = locals_.get(name.lower()) if name else None
        remote = remotes.get(other)
        if local is not None:
            handle, display = f"{local.username}@{host}", local.display_name
            region, interests = local.region_code, local.interests
        elif remote is not None:
            handle, display = f"{remote.username}@{remote.domain}", remote.display_name
            region, interests = remote.region_code, remote.interests
        else:
            handle, display, region, interests = other, "", None, []
        views.append(
            ContactView(
                request=row,
                other_uri=other,
                other_handle=handle,
                other_name=display,
                region_code=region,
                interests=tuple(i for i in interests if isinstance(i, str)),
                messages=tuple(threads.get(row.id, ())),
            )
        )
    return views


async def pending_partners(session: AsyncSession, others: Iterable[str]) -> set[str]:
    """Which of `others` are the other side of a pending request with one of our actors
    (they sent us one, or we sent them one): the only senders whose direct messages can
    join a thread. One query for a whole run of Creates."""
    wanted = set(others)
    if not wanted:
        return set()
    rows = await session.execute(
        select(ContactRequest.box, ContactRequest.sender_uri, ContactRequest.recipient_uri).where(
            ContactRequest.state == ContactState.PENDING,
            ((ContactRequest.box == ContactBox.RECEIVED) & among(ContactRequest.sender_uri, wanted))
            | (
                (ContactRequest.box == ContactBox.SENT)
                & among(ContactRequest.recipient_uri, wanted)
            ),
        )
    )
    return {sender if box == ContactBox.RECEIVED else recipient for box, sender, recipient in rows}
