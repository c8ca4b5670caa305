"""Follow requests to the acting actor: list, authorize, reject (owners and moderators).

Decisions go through `server.actions.decide_request`, the same path as
`verbund requests approve|decline`, so the Accept or Reject is delivered alike.
"""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from actors.accounts import Action
from actors.models import Follow, FollowState
from server import actions, keys
from server.api.accounts import relationship_json, view_for
from server.api.common import (
    Caller,
    Routes,
    json_response,
    link_header,
    not_allowed,
    not_found,
    read_page,
    read_params,
    require_user,
)


def _moderator(caller: Caller) -> Caller:
    if not caller.ctx.can(Action.DECIDE_REQUESTS):
        raise not_allowed()
    return caller


async def list_requests(request: web.Request) -> web.Response:
    """Accounts asking to follow, newest first; Link ids are follow-request row ids."""
    params = await read_params(request)
    caller = _moderator(await require_user(request, "read:follows"))
    page = read_page(params, default=40, cap=80)
    async with request.app[keys.SESSIONMAKER]() as session:
        query = select(Follow).where(
            Follow.followed_uri == caller.actor_uri(request.app[keys.URIS]),
            Follow.state == FollowState.PENDING,
        )
        if page.max_id is not None:
            query = query.where(Follow.id < page.max_id)
        if page.min_id is not None:
            query = query.where(Follow.id > page.min_id).order_by(Follow.id.asc())
        else:
            if page.since_id is not None:
                query = query.where(Follow.id > page.since_id)
            query = query.order_by(Follow.id.desc())
        rows = list(await session.scalars(query.limit(page.limit)))
        if page.min_id is not None:
            rows.reverse()
        view = view_for(request, session, caller)
        infos = await view.account_infos(r.follower_uri for r in rows)
        shown = [r for r in rows if r.follower_uri in infos]
        docs = await view.accounts([infos[r.follower_uri] for r in shown])
    headers = link_header(request, [r.id for r in rows], prev_param="since_id")
    return json_response(docs, headers=headers)


async def _decide(request: web.Request, *, approve: bool) -> web.Response:
    caller = _moderator(await require_user(request, "write:follows"))
    account_id = request.match_info["id"]
    async with request.app[keys.SESSIONMAKER]() as session:
        info = await view_for(request, session, caller).account_info_by_id(account_id)
    if info is None:
        raise not_found()
    try:
        await actions.decide_request(
            request.app[keys.SERVICES], caller.actor.username, info.uri, approve=approve
        )
    except actions.ActionError:
        raise not_found() from None
    request.app[keys.OUTBOX_WAKE].set()
    return json_response(await relationship_json(request, caller, account_id))


async def authorize(request: web.Request) -> web.Response:
    return await _decide(request, approve=True)


async def reject(request: web.Request) -> web.Response:
    return await _decide(request, approve=False)


def add_routes(app: web.Application) -> None:
    r = Routes(app)
    r.get("/api/v1/follow_requests", list_requests)
    r.post(r"/api/v1/follow_requests/{id:\d+}/authorize", authorize)
    r.post(r"/api/v1/follow_requests/{id:\d+}/reject", reject)
