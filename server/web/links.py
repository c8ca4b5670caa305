"""Organisation links on the web (issue 15): the links collections of actor documents
(`/users/NAME/branches` and its siblings, signed-fetch-aware like the followers), and the
links and network tree the profile page shows. Only confirmed links appear; pages read
the stored tree and never the network."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from actors.links import (
    COLLECTION_PATHS,
    LinkView,
    collection_kind,
    collection_url,
    confirmed_of_kind,
    link_views,
    links_of,
    stored_tree,
)
from actors.models import LinkKind, LinkTreeNode
from federation.links import render_link_collection
from server import keys
from server.web.activitypub import ap_json, signed_get
from server.web.errors import not_found, with_error_pages

__all__ = ["ProfileLinks", "add_link_routes", "profile_links"]

HEADINGS = {LinkKind.PARENT: "Part of", LinkKind.BRANCH: "Branches", LinkKind.PARTNER: "Partners"}


@dataclass(frozen=True, slots=True)
class ProfileLinks:
    """What the profile page shows: confirmed links by kind (heading, views) and the
    stored network tree below the actor."""

    groups: tuple[tuple[str, tuple[LinkView, ...]], ...]
    tree: tuple[LinkTreeNode, ...]


async def profile_links(request: web.Request, actor_uri: str) -> ProfileLinks:
    svc = request.app[keys.SERVICES]
    async with request.app[keys.SESSIONMAKER]() as session:
        rows = await links_of(session, actor_uri)
        views = await link_views(session, svc.uris, svc.config.instance.host, rows)
        tree = await stored_tree(session, actor_uri)
    groups = tuple(
        (heading, group)
        for kind, heading in HEADINGS.items()
        if (group := tuple(v for v in views if v.link.kind == kind))
    )
    # The tree repeats the direct branches; it is worth showing once it goes deeper.
    deep = any(node.depth > 1 for node in tree)
    return ProfileLinks(groups=groups, tree=tuple(tree) if deep else ())


async def links_collection(request: web.Request) -> web.Response:
    """The actor ids of an organisation's confirmed links of one kind, inline."""
    await signed_get(request)
    kind = collection_kind(request.match_info["collection"])
    entry = await request.app[keys.DOCUMENTS].get(request.match_info["username"])
    if entry is None or kind is None or entry.view.urls.branches is None:
        return not_found(request, "no such collection")
    actor_uri = entry.view.id
    async with request.app[keys.SESSIONMAKER]() as session:
        members = await confirmed_of_kind(session, actor_uri, kind)
    return ap_json(render_link_collection(collection_url(actor_uri, kind), members))


def add_link_routes(app: web.Application) -> None:
    paths = "|".join(COLLECTION_PATHS.values())
    app.router.add_get(
        f"/users/{{username}}/{{collection:{paths}}}", with_error_pages(links_collection)
    )
