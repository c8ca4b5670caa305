"""`/notifications`: what happened to the member's own actor, or one they hold a role on
(`?actor=NAME`, Action.READ): follows and follow requests, mentions, boosts, favourites and
contact requests (`server.notifications`), PAGE_SIZE a page, older pages at
`?before=CURSOR` (a `NotificationCursor`: keyset paging over the merged kinds)."""

from __future__ import annotations

from aiohttp import web

from actors.accounts import Action
from server import keys
from server.notifications import NotificationCursor, notifications_of
from server.web.errors import with_error_pages
from server.web.forms import require_viewer
from server.web.layout import html_page
from server.web.paging import PAGE_SIZE, next_page, older_url
from server.web.timeline import acting_actor, author_views
from server.web.views import post_view

__all__ = ["add_notification_routes"]


async def notifications_page(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    uris = request.app[keys.URIS]
    host = request.app[keys.CONFIG].instance.host
    async with request.app[keys.SESSIONMAKER]() as session:
        actor, choices = await acting_actor(
            request, session, viewer.user_id, Action.READ, request.query.get("actor")
        )
        before = NotificationCursor.parse(request.query.get("before", ""))
        found = await notifications_of(session, uris, actor, limit=PAGE_SIZE + 1, before=before)
        older = next_page(found, NotificationCursor.after)
        found = found[:PAGE_SIZE]
        authors = await author_views(session, uris, host, {n.account_uri for n in found})
    entries = [
        (n, authors[n.account_uri], post_view(n.status) if n.status is not None else None)
        for n in found
    ]
    return html_page(
        request,
        "notifications.html",
        actor=actor,
        choices=[(a.username, a.display_name or a.username) for a, _ in choices],
        entries=entries,
        older_url=older_url(request, older, "before"),
    )


def add_notification_routes(app: web.Application) -> None:
    app.router.add_get("/notifications", with_error_pages(notifications_page))
