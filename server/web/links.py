"""Organisation links on the web (issue 15): the links collections of actor documents
(`/users/NAME/branches` and its siblings, signed-fetch-aware like the followers), and the
links and network tree the profile page shows. Only confirmed links appear; pages read
the stored tree and never the network."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from actors.links import (
    COLLECTION_PATHS,
    FEATURED_NAMES,
    FEATURED_PATHS,
    LinkView,
    collection_kind,
    collection_url,
    confirmed_of_kind,
    featured_collection_url,
    featured_kind,
    featured_members,
    link_views,
    links_of,
    stamped_collection,
    stored_tree,
)
from actors.models import LinkKind, LinkTreeNode
from federation.featured import (
    FEATURED_CONTEXT,
    render_feature_authorization,
    render_featured_collection,
    render_featured_collections,
)
from federation.links import render_link_collection
from server import keys
from server.web.activitypub import ap_json, signed_get
from server.web.errors import not_found, with_error_pages
from server.web.i18n import translate

__all__ = ["ProfileLinks", "add_link_routes", "profile_links"]


def _headings(request: web.Request) -> dict[LinkKind, str]:
    return {
        LinkKind.PARENT: translate(request, "Part of"),
        LinkKind.BRANCH: translate(request, "Branches"),
        LinkKind.PARTNER: translate(request, "Partners"),
    }


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
        for kind, heading in _headings(request).items()
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


async def featured_collections(request: web.Request) -> web.Response:
    """FEP-7aa9: the organisation's featured collections (branches, partners), inline."""
    await signed_get(request)
    entry = await request.app[keys.DOCUMENTS].get(request.match_info["username"])
    if entry is None or entry.view.urls.featured_collections is None:
        return not_found(request, "no such collection")
    collections = await _featured(request, entry.view.id, entry.view.profile_url)
    return ap_json(render_featured_collections(entry.view.urls.featured_collections, collections))


async def featured_collection(request: web.Request) -> web.Response:
    await signed_get(request)
    kind = featured_kind(request.match_info["kind"])
    entry = await request.app[keys.DOCUMENTS].get(request.match_info["username"])
    if entry is None or kind is None or entry.view.urls.featured_collections is None:
        return not_found(request, "no such collection")
    [doc] = await _featured(request, entry.view.id, entry.view.profile_url, only=kind)
    return ap_json({"@context": FEATURED_CONTEXT, **doc})


async def _featured(
    request: web.Request, actor_uri: str, page: str, *, only: LinkKind | None = None
) -> list[dict[str, object]]:
    uris = request.app[keys.URIS]
    async with request.app[keys.SESSIONMAKER]() as session:
        docs = []
        for kind, name in FEATURED_NAMES.items():
            if only not in (None, kind):
                continue
            members = await featured_members(session, uris, actor_uri, kind)
            docs.append(
                render_featured_collection(
                    collection_id=featured_collection_url(actor_uri, kind),
                    name=name,
                    summary="",
                    owner_uri=actor_uri,
                    url=page,
                    members=members,
                    context=False,
                )
            )
    return docs


async def feature_stamp(request: web.Request) -> web.Response:
    """The FeatureAuthorization of one of our organisations for a linked organisation's
    featured collection; 404 once the link ended (the consent is gone)."""
    entry = await request.app[keys.DOCUMENTS].get(request.match_info["username"])
    if entry is None or entry.view.urls.featured_collections is None:
        return not_found(request, "no such authorization")
    async with request.app[keys.SESSIONMAKER]() as session:
        collection = await stamped_collection(session, entry.view.id, request.match_info["key"])
    if collection is None:
        return not_found(request, "no such authorization")
    return ap_json(
        render_feature_authorization(featured_actor_uri=entry.view.id, collection_uri=collection)
    )


def add_link_routes(app: web.Application) -> None:
    paths = "|".join(COLLECTION_PATHS.values())
    app.router.add_get(
        f"/users/{{username}}/{{collection:{paths}}}", with_error_pages(links_collection)
    )
    app.router.add_get(
        "/users/{username}/featured_collections", with_error_pages(featured_collections)
    )
    kinds = "|".join(FEATURED_PATHS.values())
    app.router.add_get(
        f"/users/{{username}}/featured_collections/{{kind:{kinds}}}",
        with_error_pages(featured_collection),
    )
    app.router.add_get(
        "/users/{username}/feature_stamps/{key:[0-9a-f]{32}}", with_error_pages(feature_stamp)
    )
