"""HTML pages for browsers: the instance front page and actor profiles (h-card)."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from actors.local import list_actors
from actors.models import Actor
from actors.regions import LANGUAGES, Region, region_label
from federation.documents import LocalActorView, ProfileView
from outbox.queries import public_posts
from outbox.timelines import Page, public_timeline
from server import keys
from server.web.errors import not_found, with_error_pages
from server.web.layout import TEMPLATES, html_page
from server.web.links import profile_links
from server.web.views import post_view

__all__ = ["TEMPLATES", "add_page_routes", "render_profile"]

PROFILE_POSTS = 10
FRONT_PAGE_POSTS = 10  # the newest public news of the instance's own actors
TYPE_LABELS = {
    "Organization": "Organisation",
    "Group": "Group",
    "Person": "Person",
    "Application": "Instance",
}


# The language the pages are written in (base.html's `lang`); region names follow it.
PAGE_LANGUAGE = "en"


def region_text(profile: ProfileView | None, language: str = PAGE_LANGUAGE) -> str:
    """The region line of a profile page, named in `language`: "Pankow, Berlin (DE-BE)"."""
    if profile is None or not profile.region_code:
        return ""
    region = Region(profile.region_code, profile.locality, profile.postal_prefix)
    return region_label(region, language if language in LANGUAGES else "en")


async def render_profile(request: web.Request, view: LocalActorView) -> web.Response:
    """The profile with h-card (region as `p-region`, interests as tag links) and the
    newest public posts as an h-feed."""
    async with request.app[keys.SESSIONMAKER]() as session:
        posts = [post_view(p) for p in await public_posts(session, view.id, limit=PROFILE_POSTS)]
    uris = request.app[keys.URIS]
    return html_page(
        request,
        "profile.html",
        actor=view,
        region=region_text(view.profile),
        interests=view.profile.interests if view.profile else (),
        posts=posts,
        links=await profile_links(request, view.id),
        type_label=TYPE_LABELS.get(view.type, view.type),
        rss_url=uris.feed(view.username, "rss"),
        atom_url=uris.feed(view.username, "atom"),
    )


async def profile(request: web.Request) -> web.Response:
    entry = await request.app[keys.DOCUMENTS].get(request.match_info["username"])
    if entry is None:
        return not_found(request, "no such actor")
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
        actors = [docs.view_of(a) for a in await list_actors(session, discoverable_only=True)]
        statuses = await public_timeline(session, Page(limit=FRONT_PAGE_POSTS), local=True)
        authors = {
            a.id: docs.view_of(a)
            for a in await session.scalars(
                select(Actor).where(Actor.id.in_({s.local_actor_id for s in statuses}))
            )
        }
    news = [
        (post_view(s), authors[s.local_actor_id]) for s in statuses if s.local_actor_id in authors
    ]
    return html_page(
        request,
        "index.html",
        actors=actors,
        news=news,
        description=settings.description,
    )


def add_page_routes(app: web.Application) -> None:
    app.router.add_get("/", with_error_pages(index))
    app.router.add_get("/@{username}", with_error_pages(profile))
