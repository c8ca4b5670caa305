"""Home and public timelines, paged as Mastodon pages them (Link headers, max/since/min_id)."""

from __future__ import annotations

from aiohttp import web

from actors.accounts import Action
from outbox.timelines import home_timeline, public_timeline
from server import keys
from server.api.accounts import view_for
from server.api.common import (
    Routes,
    json_response,
    link_header,
    not_allowed,
    optional_user,
    read_page,
    read_params,
    require_user,
)


async def home(request: web.Request) -> web.Response:
    """The acting actor's home timeline: its own posts and those of the actors it follows."""
    params = await read_params(request)
    caller = await require_user(request, "read:statuses")
    if not caller.ctx.can(Action.READ):
        raise not_allowed()
    page = read_page(params)
    async with request.app[keys.SESSIONMAKER]() as session:
        rows = await home_timeline(session, caller.actor.id, page)
        docs = await view_for(request, session, caller).statuses(rows)
    return json_response(docs, headers=link_header(request, [r.id for r in rows]))


async def public(request: web.Request) -> web.Response:
    """Public posts known here; `local` and `remote` narrow it, `only_media` finds none yet."""
    params = await read_params(request)
    caller = await optional_user(request, "read:statuses")
    page = read_page(params)
    if params.get_bool("only_media"):
        return json_response([])
    async with request.app[keys.SESSIONMAKER]() as session:
        rows = await public_timeline(
            session, page, local=params.get_bool("local"), remote=params.get_bool("remote")
        )
        docs = await view_for(request, session, caller).statuses(rows)
    return json_response(docs, headers=link_header(request, [r.id for r in rows]))


def add_routes(app: web.Application) -> None:
    r = Routes(app)
    r.get("/api/v1/timelines/home", home)
    r.get("/api/v1/timelines/public", public)
