"""The member's home timeline (issue 16): `/home`, newest first, 40 entries a page with
an "older" link (keyset: `?max_id=`), for their own actor or one they hold a role on
(`?actor=NAME`, Action.READ).

Live updates: `/static/live.js` (no inline script, so a strict CSP stays possible) asks
`/home/updates?actor=NAME&since=ID` every few seconds and puts what is new at the top,
announcing "N new posts" in an aria-live region. The answer is read from the database,
so it is the same whichever `verbund serve` process answers. Without JavaScript the page
is complete; reloading it shows the new posts.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Final
from urllib.parse import urlencode

from aiohttp import web

from actors.accounts import Action
from outbox.timelines import Page, home_timeline
from server import keys
from server.web.errors import with_error_pages
from server.web.forms import require_viewer
from server.web.i18n import translate_plural
from server.web.layout import html_page, render_html, static_file
from server.web.paging import cursor
from server.web.timeline import acting_actor, timeline_items
from server.web.viewer import load_viewer

__all__ = ["LIVE_SCRIPT_URL", "add_home_routes"]

PAGE_SIZE: Final = 40
LIVE_SCRIPT: Final = (Path(__file__).parent / "static" / "live.js").read_bytes()
LIVE_VERSION: Final = hashlib.sha256(LIVE_SCRIPT).hexdigest()[:12]
LIVE_SCRIPT_PATH: Final = "/static/live.js"
LIVE_SCRIPT_URL: Final = f"{LIVE_SCRIPT_PATH}?v={LIVE_VERSION}"
POLL_SECONDS: Final = 5


async def home_page(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    max_id = cursor(request)
    uris = request.app[keys.URIS]
    host = request.app[keys.CONFIG].instance.host
    async with request.app[keys.SESSIONMAKER]() as session:
        actor, choices = await acting_actor(
            request, session, viewer.user_id, Action.READ, request.query.get("actor")
        )
        rows = await home_timeline(session, actor.id, Page(max_id=max_id, limit=PAGE_SIZE))
        items = await timeline_items(session, uris, host, rows)
        # A page of 40 (the API's cap that `Page` keeps) may be the last: the older link
        # only when one more post is there.
        more = len(rows) == PAGE_SIZE and bool(
            await home_timeline(session, actor.id, Page(max_id=rows[-1].id, limit=1))
        )
    newest = rows[0].id if rows else (max_id or 0)
    older = {"actor": actor.username, "max_id": rows[-1].id} if more else None
    return html_page(
        request,
        "home.html",
        actor=actor,
        choices=[(a.username, a.display_name or a.username) for a, _ in choices],
        items=items,
        older_url=f"/home?{urlencode(older)}" if older else None,
        # Live updates only on the first page: older pages stay as they are.
        since=newest if max_id is None else None,
        live_script=LIVE_SCRIPT_URL,
        poll_seconds=POLL_SECONDS,
    )


async def home_updates(request: web.Request) -> web.Response:
    """`{"count", "newest", "html", "announce"}`: the entries newer than `since` (up to 40,
    newest first, ready to put on top) and the sentence that announces them."""
    viewer = await load_viewer(request)
    if viewer is None:
        return web.json_response({"error": "not signed in"}, status=401)
    since = cursor(request, "since")
    if since is None:
        return web.json_response({"error": "since must be a post id"}, status=400)
    uris = request.app[keys.URIS]
    host = request.app[keys.CONFIG].instance.host
    async with request.app[keys.SESSIONMAKER]() as session:
        actor, _ = await acting_actor(
            request, session, viewer.user_id, Action.READ, request.query.get("actor")
        )
        rows = await home_timeline(session, actor.id, Page(since_id=since, limit=PAGE_SIZE))
        items = await timeline_items(session, uris, host, rows)
    count = len(items)
    return web.json_response(
        {
            "count": count,
            "newest": str(rows[0].id) if rows else str(since),
            "html": render_html(request, "home_entries.html", items=items) if items else "",
            "announce": translate_plural(request, "%(num)d new post", "%(num)d new posts", count)
            if count
            else "",
        },
        headers={"Cache-Control": "no-store", "Vary": "Cookie"},
    )


live_script = static_file(LIVE_SCRIPT, LIVE_VERSION, "text/javascript")


def add_home_routes(app: web.Application) -> None:
    app.router.add_get("/home", with_error_pages(home_page))
    app.router.add_get("/home/updates", with_error_pages(home_updates))
    app.router.add_get(LIVE_SCRIPT_PATH, live_script)
