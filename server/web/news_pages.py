"""Routes for our published news: post pages (HTML h-entry or ActivityStreams JSON),
the Create/Announce behind each post, RSS and Atom feeds, hashtag pages, and the
recent posts on profile pages.

Only public and unlisted posts of local actors are served; others answer 404 as if
they did not exist, deleted ones 410 (with a Tombstone for ActivityPub clients).
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable
from datetime import datetime

from aiohttp import web
from feedgen.feed import FeedGenerator

from actors.accounts import Action, can, role_of
from actors.documents import CachedActor
from actors.models import User
from federation.content import plain_text, strip_markup
from federation.documents import LocalActorView, wants_activity_json
from outbox.documents import render_announce, render_create, render_note, render_tombstone
from outbox.models import Poll, Status
from outbox.queries import LISTED, public_posts, tagged_page, tagged_posts
from server import keys
from server.web.activitypub import ap_json, signed_get
from server.web.errors import not_found, with_error_pages
from server.web.i18n import translate
from server.web.layout import html_page
from server.web.paging import PAGE_SIZE, cursor, older_url
from server.web.viewer import load_viewer
from server.web.views import post_title, post_view

AP_TYPE = "application/activity+json"
FEED_SIZE = 20


async def _find(request: web.Request) -> tuple[CachedActor, Status, Status | None] | None:
    """The actor of the URL, its post and, for a boost, the boosted post; None unless
    all exist and the post is theirs and public or unlisted."""
    entry = await request.app[keys.DOCUMENTS].get(request.match_info["username"])
    raw_id = request.match_info["id"]
    if entry is None or not raw_id.isdigit() or len(raw_id) > 19:
        return None
    async with request.app[keys.SESSIONMAKER]() as session:
        status = await session.get(Status, int(raw_id))
        if (
            status is None
            or status.actor_uri != entry.view.id
            or status.local_actor_id is None
            or status.visibility not in LISTED
        ):
            return None
        boosted = None
        if status.reblog_of_id is not None:
            # A boost: its page is the boosted post; its JSON is the Announce.
            boosted = await session.get(Status, status.reblog_of_id)
            if boosted is None:
                return None
    return entry, status, boosted


async def _poll(request: web.Request, status: Status) -> Poll | None:
    """The poll of a Question (its options and counts are part of the document)."""
    if status.type != "Question":
        return None
    async with request.app[keys.SESSIONMAKER]() as session:
        return await session.get(Poll, status.id)


async def status_page(request: web.Request) -> web.Response:
    """`/users/{username}/statuses/{id}` and `/@{username}/{id}`: the post, negotiated."""
    wants_json = wants_activity_json(request.headers.get("Accept", ""))
    found = await _find(request)
    if found is None:
        return not_found(request, translate(request, "no such post"))
    entry, status, boosted = found
    if wants_json:
        await signed_get(request)
        if status.deleted_at is not None:
            return web.json_response(
                render_tombstone(status),
                status=410,
                content_type=AP_TYPE,
                headers={"Vary": "Accept"},
            )
        if boosted is not None:
            return ap_json(render_announce(status, boosted.uri))
        return ap_json(render_note(status, poll=await _poll(request, status)))
    if boosted is not None:
        raise web.HTTPFound(boosted.url or boosted.uri)
    if status.deleted_at is not None:
        return html_page(request, "status_gone.html", status=410, actor=entry.view)
    return html_page(
        request,
        "status.html",
        post=post_view(status, poll=await _poll(request, status), now=request.app[keys.CLOCK]()),
        actor=entry.view,
        written_by=await _written_by(request, status),
    )


async def _written_by(request: web.Request, status: Status) -> str | None:
    """Which person wrote the post, for the actor's staff only (Action.VIEW_AUTHORS), as
    `/api/verbund/v1/statuses/:id/author` tells them; None for everyone else."""
    viewer = await load_viewer(request)
    if viewer is None or status.author_user_id is None or status.local_actor_id is None:
        return None
    async with request.app[keys.SESSIONMAKER]() as session:
        role = await role_of(session, viewer.user_id, status.local_actor_id)
        if not can(role, Action.VIEW_AUTHORS):
            return None
        author = await session.get(User, status.author_user_id)
    return author.username if author is not None else None


async def status_activity(request: web.Request) -> web.Response:
    """`…/statuses/{id}/activity`: the Create (or Announce) that published the post."""
    found = await _find(request)
    if found is None:
        return not_found(request, translate(request, "no such post"))
    await signed_get(request)
    _, status, boosted = found
    if status.deleted_at is not None:
        return web.json_response(
            render_tombstone(status), status=410, content_type=AP_TYPE, headers={"Vary": "Accept"}
        )
    if boosted is not None:
        return ap_json(render_announce(status, boosted.uri))
    return ap_json(render_create(status, poll=await _poll(request, status)))


# --- feeds ----------------------------------------------------------------------------------


def build_feed(
    actor: LocalActorView, posts: list[Status], *, feed_url: str, language: str | None = None
) -> FeedGenerator:
    """An actor's public posts as a feed; RSS and Atom are rendered from the same one."""
    fg = FeedGenerator()
    fg.id(actor.profile_url)
    name = strip_markup(actor.display_name) or actor.username
    fg.title(name)
    fg.author({"name": name, "uri": actor.profile_url})
    fg.link(href=actor.profile_url, rel="alternate")
    fg.link(href=feed_url, rel="self")
    fg.description(strip_markup(plain_text(actor.summary_html)) or f"News from {actor.username}")
    if language:
        fg.language(language)
    fg.updated(max((p.edited_at or p.published_at for p in posts), default=actor.published))
    _add_entries(fg, posts)
    return fg


def build_listing_feed(
    *, title: str, page_url: str, feed_url: str, posts: list[Status], updated: datetime
) -> FeedGenerator:
    """A listing's posts (a hashtag, the front page's news) as a feed, RSS and Atom alike."""
    fg = FeedGenerator()
    fg.id(page_url)
    fg.title(title)
    fg.link(href=page_url, rel="alternate")
    fg.link(href=feed_url, rel="self")
    fg.description(title)
    fg.updated(max((p.edited_at or p.published_at for p in posts), default=updated))
    _add_entries(fg, posts)
    return fg


def _add_entries(fg: FeedGenerator, posts: list[Status]) -> None:
    """One feed entry per post, the same in every feed of ours."""
    for status in posts:
        fe = fg.add_entry(order="append")
        fe.id(status.uri)
        fe.guid(status.uri, permalink=False)
        # Atom requires a title; a post with no visible text is named by its address.
        fe.title(post_title(status) or status.url or status.uri)
        fe.link(href=status.url or status.uri)
        fe.published(status.published_at)
        fe.updated(status.edited_at or status.published_at)
        if status.summary:
            # An Article's short summary, or a Note's content warning: plain text, escaped,
            # since RSS readers take <description> as HTML.
            fe.summary(html.escape(status.summary, quote=False), type="html")
        fe.content(status.content, type="html")


def feed_response(fg: FeedGenerator, kind: str) -> web.Response:
    if kind == "rss":
        return web.Response(
            body=fg.rss_str(pretty=True), content_type="application/rss+xml", charset="utf-8"
        )
    return web.Response(
        body=fg.atom_str(pretty=True), content_type="application/atom+xml", charset="utf-8"
    )


def _feed(kind: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        entry = await request.app[keys.DOCUMENTS].get(request.match_info["username"])
        if entry is None:
            return not_found(request, translate(request, "no such actor"))
        async with request.app[keys.SESSIONMAKER]() as session:
            posts = await public_posts(session, entry.view.id, limit=FEED_SIZE)
        feed_url = request.app[keys.URIS].feed(entry.view.username, kind)
        langs = {p.language for p in posts if p.language}
        fg = build_feed(
            entry.view, posts, feed_url=feed_url, language=langs.pop() if len(langs) == 1 else None
        )
        return feed_response(fg, kind)

    return handler


def _tag_feed(kind: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        tag = request.match_info["tag"]
        if len(tag) > 100:
            return not_found(request, translate(request, "no such tag"))
        async with request.app[keys.SESSIONMAKER]() as session:
            posts = [p for p in await tagged_posts(session, tag) if p.local_actor_id is not None]
        uris = request.app[keys.URIS]
        page_url = uris.tag_page(tag)
        fg = build_listing_feed(
            title=f"#{tag} - {request.app[keys.CONFIG].instance.name}",
            page_url=page_url,
            feed_url=f"{page_url}.{kind}",
            posts=posts[:FEED_SIZE],
            updated=request.app[keys.CLOCK](),
        )
        return feed_response(fg, kind)

    return handler


# --- hashtags and profiles ------------------------------------------------------------------


async def tag_page(request: web.Request) -> web.Response:
    """Our public posts with a hashtag, newest first, PAGE_SIZE a page (`?max_id=`)."""
    tag = request.match_info["tag"]
    if len(tag) > 100:
        return not_found(request, translate(request, "no such tag"))
    docs = request.app[keys.DOCUMENTS]
    async with request.app[keys.SESSIONMAKER]() as session:
        posts, older = await tagged_page(session, tag, limit=PAGE_SIZE, max_id=cursor(request))
    authors: dict[str, LocalActorView] = {}
    entries = []
    for status in posts:
        username = status.actor_uri.rsplit("/", 1)[-1]
        if username not in authors:
            cached = await docs.get(username)
            if cached is None:
                continue
            authors[username] = cached.view
        entries.append((post_view(status), authors[username]))
    page_url = request.app[keys.URIS].tag_page(tag)
    return html_page(
        request,
        "tag.html",
        tag=tag,
        entries=entries,
        older_url=older_url(request, older),
        rss_url=f"{page_url}.rss",
        atom_url=f"{page_url}.atom",
    )


def add_news_routes(app: web.Application) -> None:
    app.router.add_get("/users/{username}/statuses/{id}", with_error_pages(status_page))
    app.router.add_get(
        "/users/{username}/statuses/{id}/activity", with_error_pages(status_activity)
    )
    app.router.add_get("/users/{username}/feed.rss", with_error_pages(_feed("rss")))
    app.router.add_get("/users/{username}/feed.atom", with_error_pages(_feed("atom")))
    # Registered before `/@{username}` (server.web.pages), so these win.
    app.router.add_get("/@{username}.rss", with_error_pages(_feed("rss")))
    app.router.add_get("/@{username}.atom", with_error_pages(_feed("atom")))
    app.router.add_get("/@{username}/{id}", with_error_pages(status_page))
    app.router.add_get("/tags/{tag}.rss", with_error_pages(_tag_feed("rss")))
    app.router.add_get("/tags/{tag}.atom", with_error_pages(_tag_feed("atom")))
    app.router.add_get("/tags/{tag}", with_error_pages(tag_page))
