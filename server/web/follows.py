"""`/follows`: a member's follows (issue 16), for their own person or `?actor=NAME` they
hold a role on.

The page lists the follow requests received (approve or decline: owners and
moderators), the requests sent and still pending, the newest PAGE_SIZE of whom the actor
follows (unfollow) and of who follows it (remove), and has a form to follow someone by
handle or URL (WebFinger, then Follow). The whole lists are `/follows/following` and
`/follows/followers`, paged by `?max_id=` (`server.web.paging`).

Every action goes through `server.actions`, the same path as
`verbund follow|unfollow|requests|remove-follower` and the Mastodon API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from urllib.parse import urlencode

from aiohttp import web
from sqlalchemy import select

from actors.accounts import Action
from actors.models import Follow, FollowState, RemoteActor
from actors.relations import count_relations, relations_before
from server import actions, keys
from server.web.errors import with_error_pages
from server.web.forms import require_viewer, signed_in_form
from server.web.i18n import translate
from server.web.layout import html_page
from server.web.member import Acting, acting_for
from server.web.paging import PAGE_SIZE, cursor, next_page, older_url

__all__ = ["add_follow_routes"]

PATH: Final = "/follows"
MAX_PENDING: Final = 500  # requests sent and not yet answered: few, shown all
LISTS: Final = ("following", "followers")


@dataclass(frozen=True, slots=True)
class Relation:
    """Someone on one of the lists: their handle, name and where their profile is."""

    uri: str
    handle: str
    name: str
    url: str


async def _relations(request: web.Request, uris: list[str]) -> list[Relation]:
    svc = request.app[keys.SERVICES]
    async with request.app[keys.SESSIONMAKER]() as session:
        remotes = {
            r.uri: r
            for r in await session.scalars(select(RemoteActor).where(RemoteActor.uri.in_(uris)))
        }
    out = []
    for uri in uris:
        remote = remotes.get(uri)
        out.append(
            Relation(
                uri=uri,
                handle=actions.handle_of(svc, remote, uri),
                name=(remote.display_name if remote else "") or "",
                url=(remote.url if remote and remote.url else uri),
            )
        )
    return out


async def _page(
    request: web.Request,
    acting: Acting,
    *,
    status: int = 200,
    error: str = "",
    handle: str = "",
) -> web.Response:
    svc = request.app[keys.SERVICES]
    uri = svc.uris.actor(acting.username)
    requests = (
        await actions.list_requests(svc, acting.username)
        if acting.can(Action.DECIDE_REQUESTS)
        else []
    )
    async with request.app[keys.SESSIONMAKER]() as session:
        lists = {
            name: await relations_before(
                session, uri, followers=name == "followers", max_id=None, limit=PAGE_SIZE
            )
            for name in LISTS
        }
        totals = {
            name: await count_relations(session, uri, followers=name == "followers")
            for name in LISTS
        }
        pending = list(
            await session.scalars(
                select(Follow.followed_uri)
                .where(Follow.follower_uri == uri, Follow.state == FollowState.PENDING)
                .order_by(Follow.id.desc())
                .limit(MAX_PENDING)
            )
        )
    response = html_page(
        request,
        "follows.html",
        status=status,
        acting=acting,
        handle_of_actor=f"@{acting.username}@{request.app[keys.CONFIG].instance.host}",
        requests=requests,
        pending=await _relations(request, pending),
        following=await _relations(request, [u for _, u in lists["following"]]),
        followers=await _relations(request, [u for _, u in lists["followers"]]),
        totals=totals,
        list_query="" if acting.own else "?" + urlencode({"actor": acting.username}),
        may_follow=acting.can(Action.FOLLOW),
        may_decide=acting.can(Action.DECIDE_REQUESTS),
        error=error,
        handle=handle,
        done=request.query.get("done", ""),
        done_handle=request.query.get("handle", ""),
    )
    response.headers["Cache-Control"] = "no-store"
    return response


async def follows_page(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    return await _page(
        request, await acting_for(request, viewer, request.query.get("actor"), Action.READ)
    )


async def list_page(request: web.Request) -> web.Response:
    """`/follows/following` and `/follows/followers`: the whole list, PAGE_SIZE a page."""
    viewer = await require_viewer(request)
    acting = await acting_for(request, viewer, request.query.get("actor"), Action.READ)
    name = request.match_info["list"]
    uri = request.app[keys.SERVICES].uris.actor(acting.username)
    async with request.app[keys.SESSIONMAKER]() as session:
        rows = await relations_before(
            session,
            uri,
            followers=name == "followers",
            max_id=cursor(request),
            limit=PAGE_SIZE + 1,
        )
        total = await count_relations(session, uri, followers=name == "followers")
    response = html_page(
        request,
        "follows_list.html",
        acting=acting,
        handle_of_actor=f"@{acting.username}@{request.app[keys.CONFIG].instance.host}",
        list_name=name,
        total=total,
        relations=await _relations(request, [u for _, u in rows[:PAGE_SIZE]]),
        older_url=older_url(request, next_page(rows, lambda row: row[0])),
        may_follow=acting.can(Action.FOLLOW),
        may_decide=acting.can(Action.DECIDE_REQUESTS),
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _back(acting: Acting, done: str, handle: str = "") -> web.HTTPSeeOther:
    query = [] if acting.own else [("actor", acting.username)]
    query += [("done", done)] + ([("handle", handle)] if handle else [])
    return web.HTTPSeeOther(f"{PATH}?{urlencode(query)}")


async def follow(request: web.Request) -> web.Response:
    viewer, fields = await signed_in_form(request)
    acting = await acting_for(request, viewer, fields.get("actor"), Action.FOLLOW)
    handle = fields.get("handle", "").strip().removeprefix("@")
    if not handle:
        return await _page(
            request,
            acting,
            status=422,
            error=translate(request, "Enter a handle such as name@example.org."),
        )
    try:
        row = await actions.follow(request.app[keys.SERVICES], acting.username, handle)
    except actions.ActionError as exc:
        return await _page(request, acting, status=422, error=str(exc), handle=handle)
    request.app[keys.OUTBOX_WAKE].set()
    async with request.app[keys.SESSIONMAKER]() as session:
        target = await session.scalar(
            select(RemoteActor).where(RemoteActor.uri == row.followed_uri)
        )
    # An open actor's Accept comes at once; a locked one's when its staff approve.
    locked = row.state == FollowState.PENDING and (target is None or target.manually_approves)
    done = "requested" if locked else "followed"
    raise _back(acting, done, handle)


async def unfollow(request: web.Request) -> web.Response:
    viewer, fields = await signed_in_form(request)
    acting = await acting_for(request, viewer, fields.get("actor"), Action.FOLLOW)
    uri = fields.get("uri", "")
    svc = request.app[keys.SERVICES]
    async with request.app[keys.SESSIONMAKER]() as session:
        row = await session.scalar(
            select(Follow).where(
                Follow.follower_uri == svc.uris.actor(acting.username), Follow.followed_uri == uri
            )
        )
    if row is None:
        raise web.HTTPNotFound(text="This actor does not follow that one.")
    try:
        await actions.unfollow(svc, acting.username, uri)
    except actions.ActionError as exc:
        return await _page(request, acting, status=422, error=str(exc))
    request.app[keys.OUTBOX_WAKE].set()
    raise _back(acting, "unfollowed")


async def decide(request: web.Request) -> web.Response:
    viewer, fields = await signed_in_form(request)
    acting = await acting_for(request, viewer, fields.get("actor"), Action.DECIDE_REQUESTS)
    number = request.match_info["id"]
    approve = request.match_info["decision"] == "approve"
    try:
        handle = await actions.decide_request(
            request.app[keys.SERVICES], acting.username, number, approve=approve
        )
    except actions.ActionError:
        raise web.HTTPNotFound(text="There is no such follow request.") from None
    request.app[keys.OUTBOX_WAKE].set()
    raise _back(acting, "approved" if approve else "declined", handle)


async def remove_follower(request: web.Request) -> web.Response:
    viewer, fields = await signed_in_form(request)
    acting = await acting_for(request, viewer, fields.get("actor"), Action.DECIDE_REQUESTS)
    svc = request.app[keys.SERVICES]
    uri = fields.get("uri", "")
    async with request.app[keys.SESSIONMAKER]() as session:
        row = await session.scalar(
            select(Follow).where(
                Follow.follower_uri == uri,
                Follow.followed_uri == svc.uris.actor(acting.username),
                Follow.state == FollowState.ACCEPTED,
            )
        )
    if row is None or not uri.startswith(("https://", "http://")):
        raise web.HTTPNotFound(text="That actor does not follow this one.")
    try:
        await actions.remove_follower(svc, acting.username, uri)
    except actions.ActionError as exc:
        return await _page(request, acting, status=422, error=str(exc))
    request.app[keys.OUTBOX_WAKE].set()
    raise _back(acting, "removed")


def add_follow_routes(app: web.Application) -> None:
    app.router.add_get(PATH, with_error_pages(follows_page))
    app.router.add_get(PATH + "/{list:following|followers}", with_error_pages(list_page))
    app.router.add_post(f"{PATH}/follow", with_error_pages(follow))
    app.router.add_post(f"{PATH}/unfollow", with_error_pages(unfollow))
    app.router.add_post(f"{PATH}/remove", with_error_pages(remove_follower))
    app.router.add_post(
        PATH + r"/requests/{id:\d{1,18}}/{decision:approve|decline}", with_error_pages(decide)
    )
