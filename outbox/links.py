"""Organisation links as we offer, decide and end them (issue 15), with the rows they change.

Offering records our side as pending and sends the Offer; accepting confirms our side and
sends the Accept (the Offer embedded, rebuilt from the row), declining sends the Reject;
ending sends an `Undo` of our own activity (the Offer if we offered, else our Accept).
States move pending → confirmed | declined, confirmed → ended, never back. Whenever a
side's confirmed links change, an `Update` of its actor goes to its followers, so that
peers that show the links read them again (`links_changed`).

Must not import `inbox` or `server`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from actors.documents import actor_view
from actors.links import settle
from actors.models import Actor, LinkKind, LinkState, OrgLink, RemoteActor
from actors.uris import LocalUris
from federation.documents import render_actor
from federation.links import mirror_kind, render_link_answer, render_offer, render_undo
from federation.policy import FederationPolicy
from federation.webfinger import acct_domain
from outbox.context import PublishContext
from outbox.profiles import send_actor_update
from outbox.publish import enqueue, new_activity_uri

__all__ = ["LinkError", "accept_link", "decline_link", "end_link", "links_changed", "offer_link"]


class LinkError(Exception):
    """A link command that cannot be sent (a blocked domain); nothing was recorded."""


def _check(target: RemoteActor, policy: FederationPolicy) -> None:
    for url in (target.uri, target.inbox_uri):
        if not policy.allows_url(url):
            raise LinkError(f"cannot link with {target.uri}: its domain is blocked")


async def offer_link(
    session: AsyncSession,
    *,
    actor: Actor,
    actor_uri: str,
    target: RemoteActor,
    kind: LinkKind,
    now: datetime,
    policy: FederationPolicy,
) -> OrgLink:
    """Offer `target` to become our actor's `kind`: our side pending, the Offer queued.
    LinkError (nothing recorded) when the policy blocks the target. The caller checks
    for a live link between the two first."""
    _check(target, policy)
    offer_uri = new_activity_uri(actor_uri, "links")
    # On the wire `linkKind` is what the offered actor is to the offering one: ours.
    offer = render_offer(offer_id=offer_uri, subject=actor_uri, target=target.uri, kind=kind.value)
    await enqueue(
        session, actor=actor, activity=offer, inboxes=[target.inbox_uri], now=now, policy=policy
    )
    row = OrgLink(
        actor_uri=actor_uri,
        other_uri=target.uri,
        other_domain=target.domain or acct_domain(target.uri),
        kind=kind,
        outgoing=True,
        state=LinkState.PENDING,
        offer_uri=offer_uri,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    return row


def _their_offer(row: OrgLink) -> dict[str, object]:
    """The Offer we received, as the Accept/Reject embeds it (its kind is theirs)."""
    offer = render_offer(
        offer_id=row.offer_uri,
        subject=row.other_uri,
        target=row.actor_uri,
        kind=mirror_kind(row.kind.value),
    )
    return {k: v for k, v in offer.items() if k != "@context"}


async def _answer(
    session: AsyncSession,
    *,
    actor: Actor,
    row: OrgLink,
    other: RemoteActor,
    kind: str,
    now: datetime,
    policy: FederationPolicy,
) -> str:
    _check(other, policy)
    answer_uri = new_activity_uri(row.actor_uri, "links")
    activity = render_link_answer(
        answer_id=answer_uri, kind=kind, actor=row.actor_uri, offer=_their_offer(row), to=other.uri
    )
    await enqueue(
        session, actor=actor, activity=activity, inboxes=[other.inbox_uri], now=now, policy=policy
    )
    return answer_uri


async def accept_link(
    session: AsyncSession,
    *,
    actor: Actor,
    row: OrgLink,
    other: RemoteActor,
    now: datetime,
    policy: FederationPolicy,
) -> None:
    """Confirm a pending offer our actor received: Accept of the Offer."""
    row.accept_uri = await _answer(
        session, actor=actor, row=row, other=other, kind="Accept", now=now, policy=policy
    )
    settle(row, LinkState.CONFIRMED, now)


async def decline_link(
    session: AsyncSession,
    *,
    actor: Actor,
    row: OrgLink,
    other: RemoteActor,
    now: datetime,
    policy: FederationPolicy,
) -> None:
    """Decline a pending offer our actor received: Reject of the Offer."""
    await _answer(session, actor=actor, row=row, other=other, kind="Reject", now=now, policy=policy)
    settle(row, LinkState.DECLINED, now)


async def end_link(
    session: AsyncSession,
    *,
    actor: Actor,
    row: OrgLink,
    other: RemoteActor | None,
    now: datetime,
    policy: FederationPolicy,
) -> None:
    """End a confirmed link (or withdraw our pending offer): Undo of our Offer, or of our
    Accept. Without the other actor (gone) the link just ends here."""
    if row.outgoing:
        undone: dict[str, object] = render_offer(
            offer_id=row.offer_uri, subject=row.actor_uri, target=row.other_uri, kind=row.kind.value
        )
    else:
        undone = {
            "id": row.accept_uri or f"{row.offer_uri}#accept",
            "type": "Accept",
            "actor": row.actor_uri,
            "object": row.offer_uri,
        }
    if other is not None and policy.allows_url(other.inbox_uri):
        undo = render_undo(
            undo_id=new_activity_uri(row.actor_uri, "links"),
            actor=row.actor_uri,
            undone=undone,
            to=other.uri,
        )
        await enqueue(
            session, actor=actor, activity=undo, inboxes=[other.inbox_uri], now=now, policy=policy
        )
    settle(row, LinkState.ENDED, now)


async def links_changed(
    session: AsyncSession,
    *,
    actor: Actor,
    uris: LocalUris,
    now: datetime,
    policy: FederationPolicy,
) -> int:
    """Our actor's confirmed links changed: an Update of its actor document to its
    followers (how many inboxes), so that peers read its links collections again."""
    ctx = PublishContext(uris=uris, clock=lambda: now, policy=policy)
    view = actor_view(actor, base_url=uris.base_url, acct_host=acct_domain(uris.base_url))
    return await send_actor_update(session, ctx, actor, render_actor(view), now=now)
