"""HTML pages for browsers: the instance front page and actor profiles (h-card)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.links import stored_tree, tree_roots
from actors.models import Actor, ActorType, Follow, FollowState, LinkTreeNode
from actors.regions import LANGUAGES, Region, region_label
from federation.documents import LocalActorView, ProfileView
from outbox.queries import public_posts
from outbox.timelines import Page, public_timeline
from server import keys
from server.web.directory import type_label
from server.web.errors import not_found, with_error_pages
from server.web.i18n import language_of, translate
from server.web.layout import TEMPLATES, html_page
from server.web.links import ProfileLinks, profile_links
from server.web.news_pages import build_listing_feed, feed_response
from server.web.paging import PAGE_SIZE, cursor, next_page, older_url
from server.web.views import post_view

__all__ = ["TEMPLATES", "add_page_routes", "render_profile"]

FRONT_PAGE_POSTS = 10  # the newest public news of the instance's own actors
FRONT_PAGE_ACTORS = 12  # of each type; the directory lists them all
FRONT_PAGE_FEED = "/feed"  # `/feed.rss` and `/feed.atom`: the front page's news

# The language of region names when none is given; pages pass theirs.
PAGE_LANGUAGE = "en"


def region_text(profile: ProfileView | None, language: str = PAGE_LANGUAGE) -> str:
    """The region line of a profile page, named in `language`: "Pankow, Berlin (DE-BE)"."""
    if profile is None or not profile.region_code:
        return ""
    region = Region(profile.region_code, profile.locality, profile.postal_prefix)
    return region_label(region, language if language in LANGUAGES else "en")


async def render_profile(request: web.Request, view: LocalActorView) -> web.Response:
    """The profile with h-card (region as `p-region`, interests as tag links) and the
    newest public posts as an h-feed, PAGE_SIZE a page (`?max_id=`, `server.web.paging`)."""
    members: int | None = None
    max_id = cursor(request)
    async with request.app[keys.SESSIONMAKER]() as session:
        rows = await public_posts(session, view.id, limit=PAGE_SIZE + 1, max_id=max_id)
        posts = [post_view(p) for p in rows[:PAGE_SIZE]]
        if view.type == ActorType.GROUP.value:
            actor = await session.scalar(
                select(Actor).where(Actor.username_key == view.username.lower())
            )
            if actor is not None and not actor.hide_collections:
                members = int(
                    await session.scalar(
                        select(func.count())
                        .select_from(Follow)
                        .where(Follow.followed_uri == view.id, Follow.state == FollowState.ACCEPTED)
                    )
                    or 0
                )
    uris = request.app[keys.URIS]
    return html_page(
        request,
        "profile.html",
        actor=view,
        region=region_text(view.profile, language_of(request)),
        interests=view.profile.interests if view.profile else (),
        posts=posts,
        older_url=older_url(request, next_page(rows, lambda p: p.id)),
        members=members,
        links=await profile_links(request, view.id),
        type_label=type_label(request, view.type),
        rss_url=uris.feed(view.username, "rss"),
        atom_url=uris.feed(view.username, "atom"),
    )


async def profile(request: web.Request) -> web.Response:
    entry = await request.app[keys.DOCUMENTS].get(request.match_info["username"])
    if entry is None:
        return not_found(request, translate(request, "no such actor"))
    return await render_profile(request, entry.view)


async def index(request: web.Request) -> web.Response:
    """The front page lists discoverable actors only.

    `discoverable` is the actor's choice to be shown to people who do not know it yet
    (Mastodon: the profile directory and suggestions). So listings *of actors* leave the
    others out: this page, and any directory or list of feeds we add. Their profile,
    posts and feeds stay reachable by URL and WebFinger, and their public posts stay in
    post streams (the public timeline, hashtag pages) as on Mastodon, where `discoverable`
    does not hide posts: an author keeps a post out of streams by posting it unlisted.
    """
    docs = request.app[keys.DOCUMENTS]
    settings = await request.app[keys.SETTINGS].get(request.app[keys.SESSIONMAKER])
    async with request.app[keys.SESSIONMAKER]() as session:
        listed, counts = await _listed_actors(session)
        actors = [docs.view_of(a) for a in listed]
        statuses = await public_timeline(session, Page(limit=FRONT_PAGE_POSTS), local=True)
        authors = {
            a.id: docs.view_of(a)
            for a in await session.scalars(
                select(Actor).where(Actor.id.in_({s.local_actor_id for s in statuses}))
            )
        }
        roots = [docs.view_of(a) for a in await _listed_roots(request, session)]
        trees = await _network(request, session, {a.id: a for a in roots})
    news = [
        (post_view(s), authors[s.local_actor_id]) for s in statuses if s.local_actor_id in authors
    ]
    headings = {
        ActorType.ORGANIZATION.value: translate(request, "Organisations"),
        ActorType.GROUP.value: translate(request, "Groups"),
        ActorType.PERSON.value: translate(request, "People"),
    }
    actor_groups = [
        (heading, group, counts.get(kind, 0), kind.lower())
        for kind, heading in headings.items()
        if (group := [a for a in actors if a.type == kind])
    ]
    base = request.app[keys.CONFIG].instance.base_url
    return html_page(
        request,
        "index.html",
        actors=actors,
        actor_groups=actor_groups,
        trees=trees,
        news=news,
        description=settings.description,
        rss_url=f"{base}{FRONT_PAGE_FEED}.rss",
        atom_url=f"{base}{FRONT_PAGE_FEED}.atom",
    )


async def _listed_actors(session: AsyncSession) -> tuple[list[Actor], dict[str, int]]:
    """Up to FRONT_PAGE_ACTORS discoverable actors of each type (by name) and how many
    there are of each: a large instance's front page links the directory for the rest
    instead of listing a thousand names."""
    listed = (Actor.is_instance.is_(False), Actor.is_alias.is_(False), Actor.discoverable.is_(True))
    counts = {
        str(kind): int(n)
        for kind, n in await session.execute(
            select(Actor.type, func.count()).where(*listed).group_by(Actor.type)
        )
    }
    actors: list[Actor] = []
    for kind in counts:
        actors += await session.scalars(
            select(Actor)
            .where(*listed, Actor.type == kind)
            .order_by(Actor.username_key)
            .limit(FRONT_PAGE_ACTORS)
        )
    return actors, counts


async def _listed_roots(request: web.Request, session: AsyncSession) -> list[Actor]:
    """The discoverable local actors at the top of a stored network tree."""
    uris = request.app[keys.URIS]
    names = {name for root in await tree_roots(session) if (name := uris.username_of(root))}
    if not names:
        return []
    return list(
        await session.scalars(
            select(Actor).where(
                Actor.is_instance.is_(False),
                Actor.discoverable.is_(True),
                Actor.username.in_(names),
            )
        )
    )


async def _network(
    request: web.Request, session: AsyncSession, listed: dict[str, LocalActorView]
) -> list[tuple[LocalActorView, ProfileLinks]]:
    """The network trees of our listed organisations that are no branch in another of our
    trees (the tree of the top of a federation shows the rest), as the worker stored them."""
    trees: dict[str, list[LinkTreeNode]] = {}
    for root in await tree_roots(session):
        if root in listed:
            nodes = await stored_tree(session, root)
            if nodes:
                trees[root] = nodes
    inner = {node.node_uri for nodes in trees.values() for node in nodes}
    return [
        (listed[root], ProfileLinks(groups=(), tree=tuple(nodes)))
        for root, nodes in trees.items()
        if root not in inner
    ]


def _front_feed(kind: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        async with request.app[keys.SESSIONMAKER]() as session:
            statuses = await public_timeline(session, Page(limit=FRONT_PAGE_POSTS * 2), local=True)
        config = request.app[keys.CONFIG].instance
        fg = build_listing_feed(
            title=config.name,
            page_url=f"{config.base_url}/",
            feed_url=f"{config.base_url}{FRONT_PAGE_FEED}.{kind}",
            posts=[s for s in statuses if s.reblog_of_id is None],
            updated=request.app[keys.CLOCK](),
        )
        return feed_response(fg, kind)

    return handler


def add_page_routes(app: web.Application) -> None:
    app.router.add_get("/", with_error_pages(index))
    app.router.add_get(f"{FRONT_PAGE_FEED}.rss", with_error_pages(_front_feed("rss")))
    app.router.add_get(f"{FRONT_PAGE_FEED}.atom", with_error_pages(_front_feed("atom")))
    app.router.add_get("/@{username}", with_error_pages(profile))
