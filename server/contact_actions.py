"""Replies before deciding and reports of contact requests (issue 14), shared by
`verbund contact reply|report`, `verbund reports` and the API.

Orchestration only, as `server.actions`: resolve the request and the two sides, then
call `outbox`. A reply goes from the side that holds the row: the recipient to the sender
(received), the real actor to the recipient (named, sent), or the alias to the recipient
(anonymous, sent), the alias's one held back like its first deliveries.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import timedelta

from actors.aliases import alias_by_name
from actors.contacts import ContactView, request_of
from actors.contacts import contact_views as actor_contact_views
from actors.local import get_actor
from actors.models import ContactBox, ContactDirection, ContactRequest, ContactState, Report
from actors.remote import RemoteActorError
from actors.reports import list_reports as stored_reports
from actors.reports import resolve_report as resolve_stored
from federation.contacts import MAX_MESSAGE
from outbox.aliases import alias_delay
from outbox.contacts import conclude_anonymous, send_contact_reply
from outbox.follows import FollowError, send_unfollow
from outbox.reports import send_report
from server.actions import (
    ActionError,
    ContactConflictError,
    ContactRefusal,
    ContactRefusedError,
)
from server.services import Services


async def contact_view(svc: Services, actor_name: str, request: str) -> ContactView:
    """One request our actor sent or received, with its thread; `ActionError` if none."""
    async with svc.sessionmaker() as session:
        actor = await get_actor(session, actor_name)
        uri = svc.uris.actor(actor.username)
        row = await request_of(session, uri, int(request)) if request.isdigit() else None
        if row is None:
            raise ActionError(f"no contact request {request!r} of {actor_name}")
        [view] = await actor_contact_views(session, svc.uris, svc.config.instance.host, [row])
    return view


def check_pending(row: ContactRequest, doing: str) -> None:
    """`ContactConflictError` unless the request is pending."""
    if row.state != ContactState.PENDING:
        raise ContactConflictError(f"cannot {doing}: contact request {row.id} is {row.state}")


async def reply_contact(
    svc: Services,
    actor_name: str,
    request: str,
    text: str,
    *,
    wake: Callable[[], None] | None = None,
) -> ContactView:
    """Send a direct message to the other side of a pending request and keep it in the
    thread. `ContactRefusedError` for an empty or too long text, `ContactConflictError`
    once the request is decided, `ActionError` for an unknown request."""
    limit = svc.config.contacts.message_limit
    text = text.strip()
    if not text:
        raise ContactRefusedError(ContactRefusal.EMPTY, "a reply needs a message")
    if len(text) > limit:
        raise ContactRefusedError(
            ContactRefusal.TOO_LONG, f"the message has {len(text)} characters; at most {limit} fit"
        )
    view = await contact_view(svc, actor_name, request)
    row = view.request
    check_pending(row, "reply")
    try:
        target = await svc.directory.get_actor(view.other_uri)
    except RemoteActorError as exc:
        raise ActionError(str(exc)) from None
    now = svc.clock()
    async with svc.sessionmaker() as session:
        mine = row.recipient_uri if row.box == ContactBox.RECEIVED else row.sender_uri
        name = svc.uris.username_of(mine) or actor_name
        anonymous = row.box == ContactBox.SENT and row.requester_uri is not None
        actor = await alias_by_name(session, name) if anonymous else await get_actor(session, name)
        if actor is None:
            raise ContactConflictError(f"contact request {row.id} has no alias any more")
        locked = await session.get(ContactRequest, row.id, with_for_update=True)
        if locked is None:
            raise ActionError(f"no contact request {request!r} of {actor_name}")
        check_pending(locked, "reply")
        delay = alias_delay(svc.config.contacts.alias_delay_seconds) if anonymous else None
        await send_contact_reply(
            session,
            request=locked,
            actor=actor,
            actor_uri=svc.uris.actor(actor.username),
            target=target,
            text=text,
            now=now,
            policy=svc.policy,
            not_before=now + delay if delay else None,
        )
        await session.commit()
    if wake is not None:
        wake()
    return await contact_view(svc, actor_name, request)


async def withdraw_contact(
    svc: Services,
    actor_name: str,
    request: str,
    *,
    wake: Callable[[], None] | None = None,
) -> ContactView:
    """Take back a pending request our actor sent: an `Undo` of its Follow goes to the
    recipient (from the alias for an anonymous one, held back like the alias's other
    deliveries, after which the alias is deleted as on a decline) and the row is
    withdrawn. `ActionError` for an unknown request or one our actor received,
    `ContactConflictError` once it is not pending."""
    view = await contact_view(svc, actor_name, request)
    row = view.request
    if row.box != ContactBox.SENT:
        raise ActionError(f"{actor_name} can only withdraw requests it sent")
    check_pending(row, "withdraw")
    try:
        target = await svc.directory.get_actor(row.recipient_uri)
    except RemoteActorError as exc:
        raise ActionError(str(exc)) from None
    now = svc.clock()
    anonymous = row.requester_uri is not None
    delay = alias_delay(svc.config.contacts.alias_delay_seconds) if anonymous else timedelta(0)
    async with svc.sessionmaker() as session:
        locked = await session.get(ContactRequest, row.id, with_for_update=True)
        if locked is None:
            raise ActionError(f"no contact request {request!r} of {actor_name}")
        check_pending(locked, "withdraw")
        name = svc.uris.username_of(locked.sender_uri) or actor_name
        actor = await alias_by_name(session, name) if anonymous else await get_actor(session, name)
        if actor is None:
            raise ContactConflictError(f"contact request {row.id} has no alias any more")
        # No Follow left to undo when it was declined as a plain follow request.
        with contextlib.suppress(FollowError):
            await send_unfollow(
                session,
                actor=actor,
                actor_uri=svc.uris.actor(actor.username),
                target=target,
                now=now,
                policy=svc.policy,
                not_before=now + delay if delay else None,
            )
        locked.state = ContactState.WITHDRAWN
        locked.updated_at = now
        if anonymous:
            # The alias's Delete after its Undo.
            await conclude_anonymous(
                session,
                locked,
                uris=svc.uris,
                now=now,
                policy=svc.policy,
                delay=delay + timedelta(seconds=1),
            )
        await session.commit()
    if wake is not None:
        wake()
    return await contact_view(svc, actor_name, request)


async def report_contact(
    svc: Services,
    actor_name: str,
    request: str,
    comment: str = "",
    *,
    wake: Callable[[], None] | None = None,
) -> ContactView:
    """Report the sender of a request our actor received (in any state) to the sender's
    instance: a `Flag` from our instance actor naming the sender and the messages it
    sent in the thread. `ActionError` for an unknown request or a sender we no longer
    know (its Delete arrived: report before declining)."""
    comment = comment.strip()[:MAX_MESSAGE]
    view = await contact_view(svc, actor_name, request)
    row = view.request
    if row.box != ContactBox.RECEIVED:
        raise ActionError(f"{actor_name} can only report requests it received")
    try:
        sender = await svc.directory.get_actor(row.sender_uri)
    except RemoteActorError as exc:
        # An alias's Delete arrived (it is held back up to contacts.alias_delay_seconds
        # on its side): report with `decline` together, or before declining.
        raise ActionError(f"cannot report {view.other_handle}: {exc}") from None
    notes = [m.note_uri for m in view.messages if m.direction == ContactDirection.IN]
    async with svc.sessionmaker() as session:
        await send_report(
            session,
            reported=sender,
            object_uris=notes,
            comment=comment,
            uris=svc.uris,
            now=svc.clock(),
            policy=svc.policy,
        )
        await session.commit()
    if wake is not None:
        wake()
    return view


async def list_reports(svc: Services, *, open_only: bool = True) -> list[Report]:
    """Reports other instances sent about our actors, newest first."""
    async with svc.sessionmaker() as session:
        return await stored_reports(session, open_only=open_only)


async def resolve_report(svc: Services, report: str) -> Report:
    """Mark a report resolved; `ActionError` if there is none by that number."""
    async with svc.sessionmaker() as session:
        row = await resolve_stored(session, int(report), svc.clock()) if report.isdigit() else None
        if row is None:
            raise ActionError(f"no report {report!r}")
        await session.commit()
    return row
