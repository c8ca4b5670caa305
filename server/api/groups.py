"""Working groups in the API (FEP-1b12), acting for the token's group: its members,
removing a member or a post, members-only. Every role sees the members; owners and
moderators remove members (`DECIDE_REQUESTS`), and everyone who may delete the
group's posts (`DELETE`: owners, editors, moderators) removes posts; owners switch
members-only (`MANAGE_ROLES`, the owner's own right). Refusals are `{"error": why}`.
"""

from __future__ import annotations

from aiohttp import web

from actors.accounts import Action
from server import groups, keys
from server.actions import ActionError
from server.api.common import (
    ApiError,
    Routes,
    json_response,
    parse_id,
    read_params,
    require_staff,
)


async def members(request: web.Request) -> web.Response:
    caller = await require_staff(request, Action.READ, "read:follows")
    try:
        found = await groups.list_members(request.app[keys.SERVICES], caller.actor.username)
    except ActionError as exc:
        raise ApiError(422, str(exc)) from None
    return json_response({"members": found.members, "pending": found.pending})


async def remove_member(request: web.Request) -> web.Response:
    params = await read_params(request)
    caller = await require_staff(request, Action.DECIDE_REQUESTS, "write:follows")
    try:
        uri = await groups.remove_member(
            request.app[keys.SERVICES], caller.actor.username, params.require("member")
        )
    except ActionError as exc:
        raise ApiError(422, str(exc)) from None
    return json_response({"removed": uri})


async def remove_post(request: web.Request) -> web.Response:
    caller = await require_staff(request, Action.DELETE, "write:statuses")
    status_id = parse_id(request.match_info["id"])
    if status_id is None:
        raise ApiError(404, "Record not found")
    try:
        uri = await groups.remove_post(request.app[keys.SERVICES], caller.actor.username, status_id)
    except ActionError as exc:
        raise ApiError(422, str(exc)) from None
    return json_response({"removed": uri})


async def settings(request: web.Request) -> web.Response:
    params = await read_params(request)
    caller = await require_staff(request, Action.MANAGE_ROLES, "write:accounts")
    if "members_only" not in params:
        raise ApiError(422, "Validation failed: members_only is missing")
    on = params.get_bool("members_only")
    try:
        await groups.set_members_only(
            request.app[keys.SERVICES], caller.actor.username, members_only=on
        )
    except ActionError as exc:
        raise ApiError(422, str(exc)) from None
    return json_response({"members_only": on})


def add_routes(app: web.Application) -> None:
    r = Routes(app)
    r.get("/api/verbund/v1/group/members", members)
    r.post("/api/verbund/v1/group/members/remove", remove_member)
    r.post("/api/verbund/v1/group/posts/{id}/remove", remove_post)
    r.patch("/api/verbund/v1/group", settings)
