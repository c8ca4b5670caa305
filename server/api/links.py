"""`/api/verbund/v1/links` and `/api/verbund/v1/actors/{name}/links`: organisation links
(issue 15).

Anyone reads an actor's confirmed links and its network tree; the acting actor's staff
see its pending offers too. Offering needs the `follow` permission (owners, editors),
accepting, declining and ending `decide_requests` (owners, moderators) — or `follow`
for ending. Everything goes through `server.links`, the same path as `verbund link`.
Refusals are 422 with the reason.
"""

from __future__ import annotations

from aiohttp import web

from actors.accounts import Action
from actors.links import LinkView
from actors.local import UnknownActorError
from actors.models import LinkTreeNode
from server import keys, links
from server.actions import ActionError
from server.api.common import (
    Caller,
    Json,
    Routes,
    api_datetime,
    json_response,
    not_allowed,
    not_found,
    read_object,
    read_params,
    require_user,
    validation_failed,
)


def link_json(view: LinkView, *, staff: bool = False) -> Json:
    row = view.link
    doc: Json = {
        "id": str(row.id),
        "kind": row.kind.value,
        "actor": {
            "uri": row.other_uri,
            "acct": view.other_handle,
            "display_name": view.other_name,
            "url": view.other_url,
        },
        "since": api_datetime(row.updated_at),
    }
    if staff:
        doc.update(
            state=row.state.value,
            direction="sent" if row.outgoing else "received",
            created_at=api_datetime(row.created_at),
            relay=row.relay.value,
            relay_tags=list(row.relay_tags),
        )
    return doc


def node_json(node: LinkTreeNode) -> Json:
    return {
        "uri": node.node_uri,
        "parent": node.parent_uri,
        "depth": node.depth,
        "acct": node.handle,
        "display_name": node.display_name,
        "url": node.url,
    }


async def public_links(request: web.Request) -> web.Response:
    """An actor's confirmed links (no token needed)."""
    try:
        views = await links.list_links(
            request.app[keys.SERVICES], request.match_info["username"], staff=False
        )
    except UnknownActorError:
        raise not_found() from None
    return json_response([link_json(v) for v in views])


async def public_tree(request: web.Request) -> web.Response:
    """The network tree of confirmed branches below an actor, as the worker last read it."""
    try:
        nodes = await links.tree(request.app[keys.SERVICES], request.match_info["username"])
    except UnknownActorError:
        raise not_found() from None
    return json_response([node_json(n) for n in nodes])


async def own_links(request: web.Request) -> web.Response:
    """The acting actor's links: confirmed, or with `?pending=true` the open offers."""
    params = await read_params(request)
    caller = await require_user(request, "read:follows")
    pending = (params.get("pending") or "").lower() in ("1", "true")
    views = await links.list_links(
        request.app[keys.SERVICES], caller.actor.username, pending=pending
    )
    return json_response([link_json(v, staff=True) for v in views])


def _may(caller: Caller, *actions: Action) -> None:
    if not any(caller.ctx.can(a) for a in actions):
        raise not_allowed()


async def offer(request: web.Request) -> web.Response:
    """`{kind: parent|branch|partner, to: "name@host" or an actor URL}`."""
    caller = await require_user(request, "write:follows")
    _may(caller, Action.FOLLOW)
    body = await read_object(request)
    kind, to = body.get("kind"), body.get("to")
    if not isinstance(kind, str) or not isinstance(to, str) or not to:
        raise validation_failed("kind (parent, branch or partner) and to are needed")
    try:
        view = await links.offer(
            request.app[keys.SERVICES],
            caller.actor.username,
            kind,
            to,
            wake=request.app[keys.OUTBOX_WAKE].set,
        )
    except ActionError as exc:
        raise validation_failed(str(exc)) from None
    return json_response(link_json(view, staff=True))


async def _decide(request: web.Request, *, accept: bool) -> web.Response:
    caller = await require_user(request, "write:follows")
    _may(caller, Action.DECIDE_REQUESTS)
    svc = request.app[keys.SERVICES]
    link_id = request.match_info["id"]
    pending = await links.list_links(svc, caller.actor.username, pending=True)
    if not any(str(v.link.id) == link_id and not v.link.outgoing for v in pending):
        raise not_found()
    try:
        view = await links.decide_link(
            svc,
            caller.actor.username,
            link_id,
            accept=accept,
            wake=request.app[keys.OUTBOX_WAKE].set,
        )
    except ActionError as exc:
        raise validation_failed(str(exc)) from None
    return json_response(link_json(view, staff=True))


async def accept(request: web.Request) -> web.Response:
    return await _decide(request, accept=True)


async def decline(request: web.Request) -> web.Response:
    return await _decide(request, accept=False)


async def end(request: web.Request) -> web.Response:
    """End a confirmed link, or withdraw a pending offer we sent."""
    caller = await require_user(request, "write:follows")
    _may(caller, Action.DECIDE_REQUESTS, Action.FOLLOW)
    try:
        view = await links.end_link_with(
            request.app[keys.SERVICES],
            caller.actor.username,
            request.match_info["id"],
            wake=request.app[keys.OUTBOX_WAKE].set,
        )
    except ActionError as exc:
        raise validation_failed(str(exc)) from None
    return json_response(link_json(view, staff=True))


async def relay(request: web.Request) -> web.Response:
    """`{relay: "all" | "none" | "tags:a,b"}` for a confirmed branch: which of its new
    public posts the acting actor Announces (owners, editors: it publishes)."""
    caller = await require_user(request, "write:statuses", "write:follows")
    _may(caller, Action.PUBLISH)
    body = await read_object(request)
    choice = body.get("relay")
    if not isinstance(choice, str):
        raise validation_failed("relay must be all, none or tags:NAME,NAME")
    try:
        view = await links.set_relay(
            request.app[keys.SERVICES],
            caller.actor.username,
            request.match_info["id"],
            choice,
            wake=request.app[keys.OUTBOX_WAKE].set,
        )
    except ActionError as exc:
        raise validation_failed(str(exc)) from None
    return json_response(link_json(view, staff=True))


def add_routes(app: web.Application) -> None:
    r = Routes(app)
    r.get("/api/verbund/v1/actors/{username}/links", public_links)
    r.get("/api/verbund/v1/actors/{username}/links/tree", public_tree)
    r.get("/api/verbund/v1/links", own_links)
    r.post("/api/verbund/v1/links", offer)
    r.post(r"/api/verbund/v1/links/{id:\d{1,18}}/accept", accept)
    r.post(r"/api/verbund/v1/links/{id:\d{1,18}}/decline", decline)
    r.post(r"/api/verbund/v1/links/{id:\d{1,18}}/end", end)
    r.post(r"/api/verbund/v1/links/{id:\d{1,18}}/relay", relay)
