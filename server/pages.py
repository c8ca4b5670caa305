"""HTML pages for browsers: the instance front page and actor profiles (h-card)."""

from __future__ import annotations

import jinja2
from aiohttp import web

from actors.local import list_actors
from federation.documents import LocalActorView
from outbox.news import public_posts
from server import keys
from server.views import post_view

TEMPLATES = web.AppKey("templates", jinja2.Environment)
PROFILE_POSTS = 10
TYPE_LABELS = {
    "Organization": "Organisation",
    "Group": "Group",
    "Person": "Person",
    "Application": "Instance",
}


def _page(request: web.Request, template: str, **context: object) -> web.Response:
    config = request.app[keys.CONFIG]
    html = (
        request.app[TEMPLATES]
        .get_template(template)
        .render(
            instance_name=config.instance.name,
            domain=config.instance.domain,
            base_url=config.instance.base_url,
            acct_host=config.instance.host,
            **context,
        )
    )
    return web.Response(text=html, content_type="text/html", headers={"Vary": "Accept"})


async def render_profile(request: web.Request, view: LocalActorView) -> web.Response:
    """The profile with h-card and the newest public posts as an h-feed."""
    async with request.app[keys.SESSIONMAKER]() as session:
        posts = [post_view(p) for p in await public_posts(session, view.id, limit=PROFILE_POSTS)]
    return _page(
        request,
        "profile.html",
        actor=view,
        posts=posts,
        type_label=TYPE_LABELS.get(view.type, view.type),
    )


async def profile(request: web.Request) -> web.Response:
    entry = await request.app[keys.DOCUMENTS].get(request.match_info["username"])
    if entry is None:
        raise web.HTTPNotFound(text="no such actor\n")
    return await render_profile(request, entry.view)


async def index(request: web.Request) -> web.Response:
    docs = request.app[keys.DOCUMENTS]
    async with request.app[keys.SESSIONMAKER]() as session:
        actors = [docs.view_of(a) for a in await list_actors(session)]
    return _page(
        request,
        "index.html",
        actors=actors,
        description=request.app[keys.CONFIG].instance.description,
    )


def add_page_routes(app: web.Application) -> None:
    app.router.add_get("/", index)
    app.router.add_get("/@{username}", profile)
