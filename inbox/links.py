"""Receiving organisation links (issue 15): an Offer of a link becomes a pending offer
that our actor's staff decide; an Accept or Reject of our Offer confirms or declines our
side; an Undo of the other side's Offer or Accept ends the link. A confirmed branch's
news is relayed (Announced) by the parents that chose to (`relay_news`).

Everything is matched by the Offer's id and the sender: an Accept from anyone but the
offered actor, or an Undo by a third party, changes nothing (202, logged). An Offer
whose subject is not its sender, whose object is not one of our organisations or
groups, with an unknown kind, or between two actors that have a live link already, is
ignored the same way and leaves no row.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.base import among
from actors.links import LINKABLE_TYPES, find_offer, live_between, rows_of_offer, settle
from actors.local import find_actor
from actors.models import Actor, LinkKind, LinkState, OrgLink, RelayMode
from federation.activities import AsObject
from federation.errors import ParseError
from federation.links import mirror_kind, parse_offer
from federation.webfinger import acct_domain
from inbox.context import HandlerContext, Incoming, ignore
from outbox.context import PublishContext
from outbox.links import links_changed
from outbox.models import Status, StatusTag, Visibility
from outbox.posts import NewsError, boost

__all__ = ["on_link_answer", "on_offer", "on_undo_link", "relay_news"]


async def _local(ctx: HandlerContext, session: AsyncSession, uri: str) -> Actor | None:
    name = ctx.uris.username_of(uri)
    return await find_actor(session, name.lower()) if name else None


async def on_offer(ctx: HandlerContext, session: AsyncSession, act: Incoming) -> None:
    """An Offer of a link to one of our organisations or groups: a pending offer."""
    try:
        offer = parse_offer(act.activity.body)
    except ParseError as exc:
        ignore(act, str(exc))
        return
    if offer.subject != act.actor_uri:
        ignore(act, "the link's subject is not the Offer's actor")
        return
    local = await _local(ctx, session, offer.target)
    if local is None or local.is_alias or local.type.value not in LINKABLE_TYPES:
        ignore(act, "the offered actor is none of our organisations or groups")
        return
    local_uri = ctx.uris.actor(local.username)
    if local_uri == act.actor_uri:
        ignore(act, "an actor cannot link to itself")
        return
    if await find_offer(session, local_uri, offer.offer_id) is not None:
        return  # the same Offer again
    if await live_between(session, local_uri, act.actor_uri) is not None:
        ignore(act, "the two actors have a pending or confirmed link already")
        return
    session.add(
        OrgLink(
            actor_uri=local_uri,
            other_uri=act.actor_uri,
            other_domain=act.actor.domain if act.actor else acct_domain(act.actor_uri),
            # The Offer says what we are to become to them; our row says what they are to us.
            kind=LinkKind(mirror_kind(offer.kind)),
            outgoing=False,
            state=LinkState.PENDING,
            offer_uri=offer.offer_id,
            created_at=ctx.now,
            updated_at=ctx.now,
        )
    )
    await session.flush()


async def _changed(ctx: HandlerContext, session: AsyncSession, row: OrgLink) -> None:
    actor = await _local(ctx, session, row.actor_uri)
    if actor is not None:
        await links_changed(session, actor=actor, uris=ctx.uris, now=ctx.now, policy=ctx.policy)


async def _rows_with(session: AsyncSession, offer_uri: str | None, other_uri: str) -> list[OrgLink]:
    if not offer_uri:
        return []
    return [r for r in await rows_of_offer(session, offer_uri) if r.other_uri == other_uri]


async def on_link_answer(
    ctx: HandlerContext, session: AsyncSession, act: Incoming, *, accepted: bool
) -> bool:
    """An Accept/Reject of one of our Offers; False when it answers no link at all (a
    Follow's, which `inbox.relations` handles). Only the offered actor's answer counts."""
    obj = act.activity.object
    offer_uri = obj.id if obj else None
    is_offer = obj is not None and obj.embedded and obj.type_in(("Offer",)) is not None
    rows = [r for r in await _rows_with(session, offer_uri, act.actor_uri) if r.outgoing]
    if not rows:
        if is_offer or (offer_uri and await rows_of_offer(session, offer_uri)):
            ignore(act, "it answers no Offer made to its actor")
            return True
        return False
    for row in rows:
        if row.state == LinkState.PENDING and accepted:
            row.accept_uri = act.id
            settle(row, LinkState.CONFIRMED, ctx.now)
            await _changed(ctx, session, row)
        elif row.state == LinkState.PENDING:
            settle(row, LinkState.DECLINED, ctx.now)
        elif row.state == LinkState.CONFIRMED and not accepted:
            settle(row, LinkState.ENDED, ctx.now)
            await _changed(ctx, session, row)
    return True


def _undone_offer(obj: AsObject) -> tuple[str | None, bool]:
    """The Offer id an Undo's object names, and whether it is a link's for sure."""
    if obj.embedded and obj.type_in(("Offer",)):
        return obj.id, True
    if obj.embedded and obj.type_in(("Accept",)):
        return obj.object_id, True
    return obj.id, False


async def on_undo_link(ctx: HandlerContext, session: AsyncSession, act: Incoming) -> bool:
    """An Undo of the other side's Offer or Accept ends our side; False when the Undo is of
    no link (a Follow's, a Like's: `inbox.relations`)."""
    obj = act.activity.object
    if obj is None:
        return False
    offer_uri, surely = _undone_offer(obj)
    rows = await _rows_with(session, offer_uri, act.actor_uri)
    if not rows and not surely and obj.id:
        accepted = await session.scalars(
            select(OrgLink).where(OrgLink.accept_uri == obj.id, OrgLink.other_uri == act.actor_uri)
        )
        rows = list(accepted)
    if not rows:
        if surely:
            ignore(act, "it undoes no link of its actor")
        return surely
    for row in rows:
        if row.state in (LinkState.PENDING, LinkState.CONFIRMED):
            was_confirmed = row.state == LinkState.CONFIRMED
            settle(row, LinkState.ENDED, ctx.now)
            if was_confirmed:
                await _changed(ctx, session, row)
    return True


# --- relayed news -------------------------------------------------------------------------


async def _relayed_tags(session: AsyncSession, status_id: int) -> set[str]:
    rows = await session.scalars(select(StatusTag.tag).where(StatusTag.status_id == status_id))
    return set(rows)


def _news_ids(act: Incoming) -> list[str]:
    """The posts a Create brings, or the post an Announce boosts."""
    if act.type == "Announce":
        obj = act.activity.object
        return [obj.id] if obj is not None and obj.id else []
    return [o.id for o in act.activity.objects if o.id and o.news_type]


async def relay_news(ctx: HandlerContext, session: AsyncSession, acts: Sequence[Incoming]) -> None:
    """A confirmed branch's new public post (its Create, or its Announce of a post further
    down the chain), stored already: each of our parents that relays this branch
    Announces it to its followers, per its `relay` choice. A post is Announced by each of
    our actors at most once (`outbox.posts.boost` keeps the first boost), and never our
    own actor's post, so a chain or a loop of links never makes a post circulate."""
    senders = {act.actor_uri for act in acts}
    rows = list(
        await session.scalars(
            select(OrgLink).where(
                among(OrgLink.other_uri, senders),
                OrgLink.state == LinkState.CONFIRMED,
                OrgLink.kind == LinkKind.BRANCH,
                OrgLink.relay != RelayMode.NONE,
            )
        )
    )
    if not rows:
        return
    publish = PublishContext(uris=ctx.uris, clock=lambda: ctx.now, policy=ctx.policy)
    for act in acts:
        for uri in _news_ids(act):
            target = await session.scalar(
                select(Status).where(Status.uri == uri, Status.reblog_of_id.is_(None))
            )
            if target is None or target.visibility != Visibility.PUBLIC:
                continue
            for row in (r for r in rows if r.other_uri == act.actor_uri):
                if target.actor_uri == row.actor_uri:
                    continue  # our own post, come back around a loop
                if row.relay == RelayMode.TAGS and not (
                    await _relayed_tags(session, target.id) & set(row.relay_tags)
                ):
                    continue
                actor = await _local(ctx, session, row.actor_uri)
                if actor is None:
                    continue
                try:
                    await boost(session, publish, actor=actor, target=target)
                except NewsError as exc:
                    ignore(act, f"cannot relay {uri}: {exc}")
