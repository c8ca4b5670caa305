"""The HTTP API: Mastodon's client API where Mastodon has the action, `/api/verbund/` beyond.

Existing Mastodon apps (Elk, Phanpy, Tusky, Ice Cubes, Mastodon.py) work
unchanged; docs/api.md lists the routes and docs/openapi-verbund.json describes
the extensions. Handlers orchestrate only: permissions live in
`actors.accounts`, publishing in `outbox.posts`, follows in `server.actions`.
Other packages use only `add_api_routes`; the route modules are private.
"""

from __future__ import annotations

from aiohttp import web

from server.api import (
    accounts,
    contacts,
    directory,
    follow_requests,
    groups,
    instance,
    links,
    media,
    notifications,
    oauth,
    polls,
    relays,
    reports,
    statuses,
    timelines,
    verbund,
    visitor_contacts,
)
from server.api.common import add_cors_fallbacks

# Outside /api, these answer cross-origin requests from web clients too.
CORS_PATHS = (
    "/oauth/token",
    "/oauth/revoke",
    "/oauth/userinfo",
    "/.well-known/oauth-authorization-server",
)


def add_api_routes(app: web.Application) -> None:
    """Register the API: each route carries its own CORS and JSON errors (no middleware)."""
    for module in (
        oauth,
        accounts,
        statuses,
        media,
        notifications,
        polls,
        timelines,
        follow_requests,
        instance,
        verbund,
        directory,
        visitor_contacts,
        contacts,
        links,
        relays,
        groups,
        reports,
    ):
        module.add_routes(app)
    add_cors_fallbacks(app, CORS_PATHS)


__all__ = ["add_api_routes"]
