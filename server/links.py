"""Organisation link actions shared by the API and the CLI (issue 15): offer, list,
accept, decline, end, and the network tree (read now, or as stored).

Orchestration only: resolve names and handles, then call `outbox.links` and
`actors.links`. Every change to an actor's confirmed links federates an Update of the
actor and refreshes the cached documents.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from actors.links import (
    LINKABLE_TYPES,
    LinkView,
    link_of,
    link_views,
    links_of,
    live_between,
    read_tree,
    store_tree,
    stored_tree,
    tree_roots,
)
from actors.local import get_actor
from actors.models import Actor, LinkKind, LinkState, LinkTreeNode, OrgLink, RelayMode, RemoteActor
from actors.remote import RemoteActorError
from federation.fetch import fetch_json
from federation.hashtags import hashtag_key
from outbox.follows import FollowError, find_follow, send_follow
from outbox.links import LinkError, accept_link, decline_link, end_link, links_changed, offer_link
from server.actions import ActionError, resolve_remote
from server.services import Services

__all__ = [
    "decide_link",
    "end_link_with",
    "list_links",
    "offer",
    "refresh_all_trees",
    "refresh_tree",
    "refresh_tree_of",
    "set_relay",
    "tree",
]


async def _local(session: AsyncSession, svc: Services, name: str) -> tuple[Actor, str]:
    actor = await get_actor(session, name)
    return actor, svc.uris.actor(actor.username)


MAX_RELAY_TAGS = 20


def parse_kind(kind: str) -> LinkKind:
    try:
        return LinkKind(kind.strip().lower())
    except ValueError:
        raise ActionError("the kind of a link is parent, branch or partner") from None


async def _done(svc: Services, row: OrgLink, wake: Callable[[], None] | None) -> LinkView:
    """After a committed change: wake the delivery worker, and the row's view."""
    if wake is not None:
        wake()
    [view] = await _views(svc, [row])
    return view


async def _views(svc: Services, rows: Sequence[OrgLink]) -> list[LinkView]:
    async with svc.sessionmaker() as session:
        return await link_views(session, svc.uris, svc.config.instance.host, rows)


async def offer(
    svc: Services,
    actor_name: str,
    kind: str,
    handle: str,
    *,
    wake: Callable[[], None] | None = None,
) -> LinkView:
    """Offer `handle` (user@host or an actor URL, ours or remote) to become our actor's
    `kind`. ActionError for an actor that cannot hold links, a link to itself, a pending
    or confirmed link between the two already, or an unreachable other side."""
    link_kind = parse_kind(kind)
    target = await resolve_remote(svc, handle)
    now = svc.clock()
    async with svc.sessionmaker() as session:
        actor, uri = await _local(session, svc, actor_name)
        if actor.type.value not in LINKABLE_TYPES or actor.is_alias:
            raise ActionError(f"{actor_name} is no organisation or group; only they link")
        if target.type not in LINKABLE_TYPES:
            raise ActionError(f"{handle} is no organisation or group")
        if target.uri == uri:
            raise ActionError("an actor cannot link to itself")
        if await live_between(session, uri, target.uri) is not None:
            raise ActionError(f"{actor_name} has a pending or confirmed link with {handle}")
        try:
            row = await offer_link(
                session,
                actor=actor,
                actor_uri=uri,
                target=target,
                kind=link_kind,
                now=now,
                policy=svc.policy,
            )
        except LinkError as exc:
            raise ActionError(str(exc)) from None
        await session.commit()
    return await _done(svc, row, wake)


async def list_links(
    svc: Services, actor_name: str, *, pending: bool = False, staff: bool = True
) -> list[LinkView]:
    """Our actor's confirmed links; with `pending`, the offers still open (received and
    sent) instead. `staff` false (the public): confirmed ones only, whatever `pending`."""
    states = (LinkState.PENDING,) if pending and staff else (LinkState.CONFIRMED,)
    async with svc.sessionmaker() as session:
        _, uri = await _local(session, svc, actor_name)
        rows = await links_of(session, uri, states=states)
        return await link_views(session, svc.uris, svc.config.instance.host, rows)


async def _other(svc: Services, uri: str) -> RemoteActor | None:
    try:
        return await svc.directory.get_actor(uri)
    except RemoteActorError:
        return None


async def decide_link(
    svc: Services,
    actor_name: str,
    link_id: str,
    *,
    accept: bool,
    wake: Callable[[], None] | None = None,
) -> LinkView:
    """Accept or decline a pending offer our actor received. ActionError for an unknown
    offer, one sent by us, or one decided already."""
    if not link_id.isdigit():
        raise ActionError(f"no link offer {link_id!r} received by {actor_name}")
    number = int(link_id)
    async with svc.sessionmaker() as session:
        _, uri = await _local(session, svc, actor_name)
        row = await link_of(session, uri, number)
        if row is None or row.outgoing:
            raise ActionError(f"no link offer {link_id} received by {actor_name}")
        if row.state != LinkState.PENDING:
            raise ActionError(f"link offer {link_id} is {row.state} already")
        other_uri = row.other_uri
    other = await _other(svc, other_uri)
    if other is None:
        raise ActionError(f"cannot reach {other_uri} to answer its offer")
    now = svc.clock()
    async with svc.sessionmaker() as session:
        actor, uri = await _local(session, svc, actor_name)
        row = await link_of(session, uri, number)
        if row is None or row.state != LinkState.PENDING:
            raise ActionError(f"link offer {link_id} was decided meanwhile")
        try:
            if accept:
                await accept_link(
                    session, actor=actor, row=row, other=other, now=now, policy=svc.policy
                )
                await links_changed(session, actor=actor, uris=svc.uris, now=now, policy=svc.policy)
            else:
                await decline_link(
                    session, actor=actor, row=row, other=other, now=now, policy=svc.policy
                )
        except LinkError as exc:
            raise ActionError(str(exc)) from None
        await session.commit()
    svc.documents.invalidate(actor_name)
    return await _done(svc, row, wake)


async def end_link_with(
    svc: Services,
    actor_name: str,
    other: str,
    *,
    wake: Callable[[], None] | None = None,
) -> LinkView:
    """End our actor's confirmed link (or withdraw its pending offer) with `other`: a
    handle, an actor URL, or the link's number. ActionError when there is none."""
    async with svc.sessionmaker() as session:
        _, uri = await _local(session, svc, actor_name)
        if other.isdigit():
            row = await link_of(session, uri, int(other))
        else:
            target = await resolve_remote(svc, other)
            row = await live_between(session, uri, target.uri)
        if row is None or row.state not in (LinkState.PENDING, LinkState.CONFIRMED):
            raise ActionError(f"{actor_name} has no link with {other} to end")
        if row.state == LinkState.PENDING and not row.outgoing:
            raise ActionError(f"the offer from {other} is pending: decline it instead")
        number, other_uri = row.id, row.other_uri
    remote = await _other(svc, other_uri)
    now = svc.clock()
    async with svc.sessionmaker() as session:
        actor, uri = await _local(session, svc, actor_name)
        row = await link_of(session, uri, number)
        assert row is not None
        was_confirmed = row.state == LinkState.CONFIRMED
        await end_link(session, actor=actor, row=row, other=remote, now=now, policy=svc.policy)
        if was_confirmed:
            await links_changed(session, actor=actor, uris=svc.uris, now=now, policy=svc.policy)
        await session.commit()
    svc.documents.invalidate(actor_name)
    return await _done(svc, row, wake)


# --- relayed news ---------------------------------------------------------------------


def parse_relay(text: str) -> tuple[RelayMode, list[str]]:
    """`all`, `none` or `tags:a,b` (hashtag names, `#` optional) → mode and tag keys."""
    text = text.strip()
    if text.lower() in ("all", "none"):
        return RelayMode(text.lower()), []
    if text.lower().startswith("tags:"):
        keys = [k for k in (hashtag_key(t.strip()) for t in text[5:].split(",")) if k]
        if keys:
            return RelayMode.TAGS, list(dict.fromkeys(keys))[:MAX_RELAY_TAGS]
    raise ActionError("relay is all, none or tags:NAME,NAME")


async def set_relay(
    svc: Services,
    actor_name: str,
    other: str,
    relay: str,
    *,
    wake: Callable[[], None] | None = None,
) -> LinkView:
    """Choose which new public posts of our actor's confirmed branch `other` (a handle, an
    actor URL or the link's number) it Announces to its followers. Relaying needs the
    branch's posts, so our actor follows the branch (unless it does already)."""
    mode, tags = parse_relay(relay)
    target = None if other.isdigit() else await resolve_remote(svc, other)
    now = svc.clock()
    async with svc.sessionmaker() as session:
        actor, uri = await _local(session, svc, actor_name)
        if target is None:
            row = await link_of(session, uri, int(other))
        else:
            row = await live_between(session, uri, target.uri)
        if row is None or row.state != LinkState.CONFIRMED or row.kind != LinkKind.BRANCH:
            raise ActionError(f"{other} is no confirmed branch of {actor_name}")
        row.relay, row.relay_tags, row.updated_at = mode, tags, now
        if mode != RelayMode.NONE and await find_follow(session, uri, row.other_uri) is None:
            branch = target or await _other(svc, row.other_uri)
            if branch is None:
                raise ActionError(f"cannot reach {row.other_uri} to follow it")
            try:
                await send_follow(
                    session, actor=actor, actor_uri=uri, target=branch, now=now, policy=svc.policy
                )
            except FollowError as exc:
                raise ActionError(str(exc)) from None
        await session.commit()
    return await _done(svc, row, wake)


# --- the network tree -----------------------------------------------------------------


async def refresh_tree(svc: Services, root_uri: str) -> int:
    """Read the tree of confirmed branches below our `root_uri` across instances now and
    store it; returns how many nodes it holds. Only the worker and the CLI call this:
    pages read the stored tree."""
    signer = await svc.instance_signer()

    async def fetch(url: str) -> object:
        return await fetch_json(
            svc.http,
            url,
            signer=signer,
            allow_private=svc.config.federation.allow_private_addresses,
            policy=svc.policy,
        )

    async with svc.sessionmaker() as session:
        nodes = await read_tree(
            session, root_uri, fetch, uris=svc.uris, host=svc.config.instance.host
        )
        await store_tree(session, root_uri, nodes, svc.clock())
        await session.commit()
    return len(nodes)


async def refresh_tree_of(svc: Services, actor_name: str) -> int:
    """`refresh_tree` of our actor by name (`verbund links tree ACTOR --refresh`)."""
    async with svc.sessionmaker() as session:
        _, uri = await _local(session, svc, actor_name)
    return await refresh_tree(svc, uri)


async def refresh_all_trees(svc: Services) -> int:
    """Refresh the tree of every actor of ours with confirmed branches (the worker's
    round); returns how many trees."""
    async with svc.sessionmaker() as session:
        roots = await tree_roots(session)
    for root in roots:
        await refresh_tree(svc, root)
    return len(roots)


async def tree(svc: Services, actor_name: str) -> list[LinkTreeNode]:
    """The stored tree of our actor, depth-first."""
    async with svc.sessionmaker() as session:
        _, uri = await _local(session, svc, actor_name)
        return await stored_tree(session, uri)
