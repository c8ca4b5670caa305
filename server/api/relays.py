"""The instance's relay subscriptions in the API, for its administrators (users with
`is_admin`, through a token with an `admin:read` / `admin:write` scope): list, subscribe,
leave. The rules are `outbox.relays`', run by `server.relays`; refusals are
`{"error": why}` with 422 (or 404 for an unknown subscription).
"""

from __future__ import annotations

from aiohttp import web

from actors.relays import Relay
from server import keys, relays
from server.api.common import (
    ApiError,
    Json,
    Routes,
    api_datetime,
    json_response,
    not_found,
    read_params,
    require_admin,
)


def relay_json(row: Relay) -> Json:
    return {
        "inbox": row.inbox_uri,
        "actor": row.actor_uri,
        "follows": row.object_uri,
        "state": row.state.value,
        "created_at": api_datetime(row.created_at),
        "updated_at": api_datetime(row.updated_at),
    }


async def list_relays(request: web.Request) -> web.Response:
    await require_admin(request, "admin:read")
    rows = await relays.list_relays(request.app[keys.SERVICES])
    return json_response([relay_json(r) for r in rows])


async def add_relay(request: web.Request) -> web.Response:
    """Subscribe to the relay at `url` (its inbox, or its actor); 202: the Follow is queued."""
    params = await read_params(request)
    await require_admin(request, "admin:write")
    try:
        row = await relays.add_relay(request.app[keys.SERVICES], params.require("url"))
    except relays.RelayError as exc:
        raise ApiError(422, str(exc)) from None
    return json_response(relay_json(row), status=202)


async def remove_relay(request: web.Request) -> web.Response:
    """Leave the relay whose inbox or actor is `url`; 404 when there is no such one."""
    params = await read_params(request)
    await require_admin(request, "admin:write")
    try:
        row = await relays.remove_relay(request.app[keys.SERVICES], params.require("url"))
    except relays.RelayError:
        raise not_found() from None
    return json_response(relay_json(row))


def add_routes(app: web.Application) -> None:
    r = Routes(app)
    r.get("/api/verbund/v1/admin/relays", list_relays)
    r.post("/api/verbund/v1/admin/relays", add_relay)
    r.delete("/api/verbund/v1/admin/relays", remove_relay)
