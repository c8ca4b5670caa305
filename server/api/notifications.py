"""`GET /api/v1/notifications`: Mastodon's notifications of the acting actor, from the
same query as the web page (`server.notifications`): follow, follow_request, mention,
reblog and favourite (contact requests have no Mastodon type and stay on the page and in
`/api/verbund/v1/contacts`). Paged by `max_id`, `since_id` and `min_id` over the newest
80, with `types[]` and `exclude_types[]`."""

from __future__ import annotations

from aiohttp import web

from actors.accounts import Action
from actors.models import Actor
from server import keys
from server.api.accounts import view_for
from server.api.common import (
    Json,
    Routes,
    api_datetime,
    json_response,
    link_header,
    not_allowed,
    read_page,
    read_params,
    require_user,
)
from server.notifications import NotificationKind, notifications_of

MASTODON_TYPES = frozenset(
    {
        NotificationKind.FOLLOW,
        NotificationKind.FOLLOW_REQUEST,
        NotificationKind.MENTION,
        NotificationKind.REBLOG,
        NotificationKind.FAVOURITE,
    }
)


async def notifications(request: web.Request) -> web.Response:
    params = await read_params(request)
    caller = await require_user(request, "read:notifications")
    if not caller.ctx.can(Action.READ):
        raise not_allowed()
    page = read_page(params, default=40, cap=80)
    types = set(params.get_list("types")) or {str(t) for t in MASTODON_TYPES}
    types -= set(params.get_list("exclude_types"))
    async with request.app[keys.SESSIONMAKER]() as session:
        actor = await session.get(Actor, caller.actor.id)
        assert actor is not None
        found = [
            n
            for n in await notifications_of(session, request.app[keys.URIS], actor, limit=80)
            if n.kind in MASTODON_TYPES and n.kind in types
        ]
        if page.max_id is not None:
            found = [n for n in found if n.id < page.max_id]
        if page.since_id is not None:
            found = [n for n in found if n.id > page.since_id]
        if page.min_id is not None:
            found = [n for n in found if n.id > page.min_id][-page.limit :]
        found = found[: page.limit]
        view = view_for(request, session, caller)
        infos = await view.account_infos({n.account_uri for n in found})
        found = [n for n in found if n.account_uri in infos]
        accounts = dict(zip(infos, await view.accounts(list(infos.values())), strict=True))
        rows = await view.visible([n.status for n in found if n.status is not None])
        statuses = dict(zip([r.id for r in rows], await view.statuses(rows), strict=True))
    docs: list[Json] = []
    ids: list[int] = []
    for n in found:
        doc: Json = {
            "id": str(n.id),
            "type": str(n.kind),
            "created_at": api_datetime(n.at),
            "account": accounts[n.account_uri],
        }
        if n.status is not None:
            if n.status.id not in statuses:
                continue
            doc["status"] = statuses[n.status.id]
        docs.append(doc)
        ids.append(n.id)
    return json_response(docs, headers=link_header(request, ids))


def add_routes(app: web.Application) -> None:
    Routes(app).get("/api/v1/notifications", notifications)
