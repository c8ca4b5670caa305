"""Organisation links as stored (issue 15): queries over `org_links`, the views of links
with the other side's profile, and the network tree of confirmed branches.

Each row is one of our actors' side of a link (`OrgLink`); `kind` is what the other actor
is to ours. Only `confirmed` rows are ever shown outside the staff's own lists. The tree
(`refresh_tree`) is read across instances from the `branches` collections, bounded in
depth and size, with every actor visited once (a loop of links ends there), and stored
for the pages to read. Must not know about inbox/outbox pipelines or HTTP routes.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.models import Actor, ActorType, LinkKind, LinkState, LinkTreeNode, OrgLink, RemoteActor
from actors.uris import LocalUris
from federation.actors import parse_actor
from federation.errors import FederationError, ParseError
from federation.featured import FeaturedMember, stamp_key, stamp_uri
from federation.links import mirror_kind, parse_collection_items, parse_link_collections
from federation.webfinger import acct_domain

log = logging.getLogger("verbund.links")

# Actor types that can hold links: organisations and groups (people and the instance
# actor cannot).
LINKABLE_TYPES = frozenset({ActorType.ORGANIZATION.value, ActorType.GROUP.value})
# The tree: levels below the root, and actors in all. A network deeper or larger than
# this is shown cut off; the bound keeps a refresh to a few hundred GETs at most.
TREE_DEPTH = 4
TREE_NODES = 200
LIVE = (LinkState.PENDING, LinkState.CONFIRMED)
# The path under the actor of each kind's collection of confirmed links.
COLLECTION_PATHS = {
    LinkKind.PARENT: "parent_organizations",
    LinkKind.BRANCH: "branches",
    LinkKind.PARTNER: "partners",
}


def collection_url(actor_uri: str, kind: LinkKind) -> str:
    return f"{actor_uri}/{COLLECTION_PATHS[kind]}"


def collection_kind(path_part: str) -> LinkKind | None:
    return next((k for k, p in COLLECTION_PATHS.items() if p == path_part), None)


@dataclass(frozen=True, slots=True)
class LinkView:
    """A link as its side sees it, with the other actor's handle, name and page."""

    link: OrgLink
    other_handle: str
    other_name: str
    other_url: str


async def links_of(
    session: AsyncSession,
    actor_uri: str,
    *,
    states: Sequence[LinkState] = (LinkState.CONFIRMED,),
) -> list[OrgLink]:
    """Our actor's links in `states` (default confirmed only), oldest first."""
    rows = await session.scalars(
        select(OrgLink)
        .where(OrgLink.actor_uri == actor_uri, OrgLink.state.in_(states))
        .order_by(OrgLink.id)
    )
    return list(rows)


async def confirmed_of_kind(session: AsyncSession, actor_uri: str, kind: LinkKind) -> list[str]:
    """The other actors of our actor's confirmed links of `kind`, oldest first."""
    rows = await session.scalars(
        select(OrgLink.other_uri)
        .where(
            OrgLink.actor_uri == actor_uri,
            OrgLink.state == LinkState.CONFIRMED,
            OrgLink.kind == kind,
        )
        .order_by(OrgLink.id)
    )
    return list(dict.fromkeys(rows))


# The FEP-7aa9 featured collections an organisation publishes of its confirmed links
# (`federation.featured`): its branches and its partners. Parents are not featured.
FEATURED_PATHS = {LinkKind.BRANCH: "branches", LinkKind.PARTNER: "partners"}
FEATURED_NAMES = {
    LinkKind.BRANCH: "Gliederungen / Branches",
    LinkKind.PARTNER: "Partner / Partners",
}


def featured_collections_url(actor_uri: str) -> str:
    return f"{actor_uri}/featured_collections"


def featured_collection_url(actor_uri: str, kind: LinkKind) -> str:
    return f"{featured_collections_url(actor_uri)}/{FEATURED_PATHS[kind]}"


def featured_kind(path_part: str) -> LinkKind | None:
    return next((k for k, p in FEATURED_PATHS.items() if p == path_part), None)


async def featured_members(
    session: AsyncSession, uris: LocalUris, actor_uri: str, kind: LinkKind
) -> list[FeaturedMember]:
    """The other actors of our actor's confirmed links of `kind`, with their types (for
    `featuredObjectType`) and since when they are linked, oldest first."""
    rows = list(
        await session.scalars(
            select(OrgLink)
            .where(
                OrgLink.actor_uri == actor_uri,
                OrgLink.state == LinkState.CONFIRMED,
                OrgLink.kind == kind,
            )
            .order_by(OrgLink.id)
        )
    )
    others = [r.other_uri for r in rows]
    types = {
        uri: kind_
        for uri, kind_ in await session.execute(
            select(RemoteActor.uri, RemoteActor.type).where(RemoteActor.uri.in_(others))
        )
    }
    for actor in (await _locals_by_name(session, uris, others)).values():
        types[uris.actor(actor.username)] = actor.type.value
    members: dict[str, FeaturedMember] = {}
    for row in rows:
        members.setdefault(
            row.other_uri,
            FeaturedMember(row.other_uri, types.get(row.other_uri, "Organization"), row.updated_at),
        )
    return list(members.values())


async def stamped_collection(session: AsyncSession, actor_uri: str, key: str) -> str | None:
    """The featured collection of a linked actor that the stamp `key` of our actor
    authorises (our parent's branches, our partner's partners), while the link stands."""
    rows = await session.scalars(
        select(OrgLink).where(
            OrgLink.actor_uri == actor_uri,
            OrgLink.state == LinkState.CONFIRMED,
            OrgLink.kind.in_((LinkKind.PARENT, LinkKind.PARTNER)),
        )
    )
    for row in rows:
        # Our parent features us among its branches; a partner among its partners.
        theirs = LinkKind.BRANCH if row.kind is LinkKind.PARENT else LinkKind.PARTNER
        collection = featured_collection_url(row.other_uri, theirs)
        if stamp_key(stamp_uri(actor_uri, collection)) == key:
            return collection
    return None


async def find_offer(session: AsyncSession, actor_uri: str, offer_uri: str) -> OrgLink | None:
    return await session.scalar(
        select(OrgLink).where(OrgLink.actor_uri == actor_uri, OrgLink.offer_uri == offer_uri)
    )


async def rows_of_offer(session: AsyncSession, offer_uri: str) -> list[OrgLink]:
    """Every side we hold of the link offered as `offer_uri` (two when both are ours)."""
    return list(await session.scalars(select(OrgLink).where(OrgLink.offer_uri == offer_uri)))


async def live_between(session: AsyncSession, actor_uri: str, other_uri: str) -> OrgLink | None:
    """The pending or confirmed link between our actor and `other_uri`, if any."""
    return await session.scalar(
        select(OrgLink)
        .where(
            OrgLink.actor_uri == actor_uri,
            OrgLink.other_uri == other_uri,
            OrgLink.state.in_(LIVE),
        )
        .order_by(OrgLink.id.desc())
        .limit(1)
    )


async def link_of(session: AsyncSession, actor_uri: str, link_id: int) -> OrgLink | None:
    row = await session.get(OrgLink, link_id)
    return row if row is not None and row.actor_uri == actor_uri else None


async def linked_domains(session: AsyncSession, *, own_host: str) -> list[str]:
    """The instances (`host[:port]`) our actors have confirmed links with, and those of
    the network trees below our actors (a federal association reaches its districts
    through its states), other than us: the directory reads them as peers."""
    rows = await session.scalars(
        select(OrgLink.other_domain).where(OrgLink.state == LinkState.CONFIRMED).distinct()
    )
    nodes = await session.scalars(select(LinkTreeNode.node_uri).distinct())
    domains = {*rows, *(acct_domain(uri) for uri in nodes)}
    return sorted(d for d in domains if d and d != own_host.lower())


def settle(row: OrgLink, state: LinkState, now: datetime) -> None:
    row.state, row.updated_at = state, now


async def _locals_by_name(
    session: AsyncSession, uris: LocalUris, others: Sequence[str]
) -> dict[str, Actor]:
    names = {n.lower() for n in (uris.username_of(u) for u in others) if n}
    if not names:
        return {}
    found = await session.scalars(
        select(Actor).where(Actor.username_key.in_(names), Actor.is_instance.is_(False))
    )
    return {a.username_key: a for a in found}


async def link_views(
    session: AsyncSession, uris: LocalUris, host: str, rows: Sequence[OrgLink]
) -> list[LinkView]:
    """Each link with the other side's handle, name and page (`host`: our handles' host)."""
    others = [r.other_uri for r in rows]
    remotes = {
        a.uri: a
        for a in await session.scalars(select(RemoteActor).where(RemoteActor.uri.in_(others)))
    }
    locals_ = await _locals_by_name(session, uris, others)
    views = []
    for row in rows:
        name = uris.username_of(row.other_uri)
        local = locals_.get(name.lower()) if name else None
        remote = remotes.get(row.other_uri)
        if local is not None:
            handle, display = f"{local.username}@{host}", local.display_name
            url = uris.profile_page(local.username)
        elif remote is not None:
            handle, display = f"{remote.username}@{remote.domain}", remote.display_name
            url = remote.url or remote.uri
        else:
            handle, display, url = row.other_uri, "", row.other_uri
        views.append(LinkView(link=row, other_handle=handle, other_name=display, other_url=url))
    return views


@dataclass(frozen=True, slots=True)
class ListedLink:
    """A confirmed link of a directory entry: what `uri` (handle `handle`) is to it."""

    kind: LinkKind
    uri: str
    handle: str


async def links_for_listing(
    session: AsyncSession, uris: LocalUris, host: str, actor_uris: Sequence[str]
) -> dict[str, list[ListedLink]]:
    """The confirmed links we know of each listed actor: our actors' own, and those our
    actors hold with a peer's actor (mirrored: our branch's entry shows us as its parent)."""
    if not actor_uris:
        return {}
    rows = list(
        await session.scalars(
            select(OrgLink)
            .where(
                OrgLink.state == LinkState.CONFIRMED,
                OrgLink.actor_uri.in_(actor_uris) | OrgLink.other_uri.in_(actor_uris),
            )
            .order_by(OrgLink.id)
        )
    )
    views = {v.link.id: v for v in await link_views(session, uris, host, rows)}
    found: dict[str, list[ListedLink]] = {}
    wanted = set(actor_uris)
    for row in rows:
        if row.actor_uri in wanted:
            listed = ListedLink(row.kind, row.other_uri, views[row.id].other_handle)
            found.setdefault(row.actor_uri, []).append(listed)
        if row.other_uri in wanted and not uris.is_local(row.other_uri):
            name = uris.username_of(row.actor_uri) or ""
            mirrored = LinkKind(mirror_kind(row.kind.value))
            found.setdefault(row.other_uri, []).append(
                ListedLink(mirrored, row.actor_uri, f"{name}@{host}")
            )
    return found


# --- the network tree -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TreeNode:
    uri: str
    parent_uri: str
    depth: int
    display_name: str
    handle: str
    url: str | None


JsonFetcher = Callable[[str], Awaitable[object]]
"""A signed, SSRF-safe GET of an ActivityStreams document; raises `FederationError`."""


async def _remote_node(fetch: JsonFetcher, uri: str) -> tuple[str, str, str | None, list[str]]:
    """A remote actor's name, handle, page and confirmed branches (none when unreadable)."""
    doc = await fetch(uri)
    actor = parse_actor(doc)
    handle = f"{actor.preferred_username}@{acct_domain(actor.id)}"
    branches_url = parse_link_collections(doc).branches
    branches: list[str] = []
    if branches_url:
        found, first = parse_collection_items(await fetch(branches_url))
        if first is not None:
            found, _ = parse_collection_items(await fetch(first))
        branches = found
    return actor.name or actor.preferred_username, handle, actor.url, branches


async def read_tree(
    session: AsyncSession,
    root_uri: str,
    fetch: JsonFetcher,
    *,
    uris: LocalUris,
    host: str,
    max_depth: int = TREE_DEPTH,
    max_nodes: int = TREE_NODES,
) -> list[TreeNode]:
    """The confirmed branches below `root_uri` (ours), depth-first, each actor once:
    our own actors' branches from the database, remote ones' from their `branches`
    collections. A branch that cannot be read is shown without its own branches."""
    nodes: list[TreeNode] = []
    seen = {root_uri}

    async def children(uri: str) -> list[str]:
        if uris.is_local(uri):
            return await confirmed_of_kind(session, uri, LinkKind.BRANCH)
        return []

    async def visit(uri: str, parent: str, depth: int) -> None:
        if len(nodes) >= max_nodes:
            return
        below: list[str] = []
        if uris.is_local(uri):
            name = uris.username_of(uri) or ""
            actor = await session.scalar(select(Actor).where(Actor.username_key == name.lower()))
            display, handle = (
                (actor.display_name, f"{actor.username}@{host}") if actor else ("", uri)
            )
            url: str | None = uris.profile_page(actor.username) if actor else None
            below = await children(uri)
        else:
            try:
                display, handle, url, below = await _remote_node(fetch, uri)
            except (FederationError, ParseError) as exc:
                log.info("network tree of %s: cannot read %s: %s", root_uri, uri, exc)
                display, handle, url = "", uri, None
        nodes.append(TreeNode(uri, parent, depth, display, handle, url))
        if depth >= max_depth:
            return
        for child in below:
            if child not in seen:
                seen.add(child)
                await visit(child, uri, depth + 1)

    for first in await children(root_uri):
        if first not in seen:
            seen.add(first)
            await visit(first, root_uri, 1)
    return nodes


async def store_tree(
    session: AsyncSession, root_uri: str, nodes: Sequence[TreeNode], now: datetime
) -> None:
    """Replace the stored tree of `root_uri` with `nodes`."""
    await session.execute(delete(LinkTreeNode).where(LinkTreeNode.root_uri == root_uri))
    session.add_all(
        LinkTreeNode(
            root_uri=root_uri,
            node_uri=n.uri,
            parent_uri=n.parent_uri,
            depth=n.depth,
            position=i,
            display_name=n.display_name,
            handle=n.handle,
            url=n.url,
            refreshed_at=now,
        )
        for i, n in enumerate(nodes)
    )


async def stored_tree(session: AsyncSession, root_uri: str) -> list[LinkTreeNode]:
    rows = await session.scalars(
        select(LinkTreeNode)
        .where(LinkTreeNode.root_uri == root_uri)
        .order_by(LinkTreeNode.position)
    )
    return list(rows)


async def tree_roots(session: AsyncSession) -> list[str]:
    """Our actors with confirmed branches (whose trees the worker refreshes), plus those
    with a stored tree (a tree whose last branch ended is emptied)."""
    linked = await session.scalars(
        select(OrgLink.actor_uri)
        .where(OrgLink.state == LinkState.CONFIRMED, OrgLink.kind == LinkKind.BRANCH)
        .distinct()
    )
    stored = await session.scalars(select(LinkTreeNode.root_uri).distinct())
    return sorted(set(linked) | set(stored))


__all__ = [
    "COLLECTION_PATHS",
    "LINKABLE_TYPES",
    "LinkView",
    "ListedLink",
    "TreeNode",
    "collection_kind",
    "collection_url",
    "confirmed_of_kind",
    "find_offer",
    "link_of",
    "link_views",
    "linked_domains",
    "links_for_listing",
    "links_of",
    "live_between",
    "read_tree",
    "rows_of_offer",
    "settle",
    "store_tree",
    "stored_tree",
    "tree_roots",
]
