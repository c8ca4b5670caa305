"""A working group's staff page (issue 16): `/manage/NAME/group` lists its members and
the follow requests waiting, removes a member (who cannot join again), lists the posts it
distributed and takes one out, and switches members-only.

Every role sees it; owners and moderators remove members (`DECIDE_REQUESTS`), whoever
may delete the group's posts removes posts (`DELETE`), owners switch members-only
(`MANAGE_ROLES`) — the API's rules. The actions are `server.groups`', as for
`verbund group` and the API.
"""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from actors.accounts import Action
from actors.models import RemoteActor
from server import actions, groups, keys
from server.actions import ActionError
from server.web.errors import with_error_pages
from server.web.i18n import translate
from server.web.manage_common import MANAGE, Staff, done, load_staff, staff_form, staff_page

__all__ = ["add_manage_group_routes"]


def _notices(request: web.Request) -> dict[str, str]:
    return {
        "removed": translate(request, "The member was removed and cannot join again."),
        "post_removed": translate(request, "The post was taken out of the group."),
        "members_only": translate(request, "The group is members-only now."),
        "open": translate(request, "The group is open to everyone now."),
    }


async def _handles(request: web.Request, uris: list[str]) -> list[tuple[str, str]]:
    """(URI, handle) of each member, as `server.actions.handle_of` names them."""
    svc = request.app[keys.SERVICES]
    async with svc.sessionmaker() as session:
        remotes = {
            r.uri: r
            for r in await session.scalars(select(RemoteActor).where(RemoteActor.uri.in_(uris)))
        }
    return [(uri, actions.handle_of(svc, remotes.get(uri), uri)) for uri in uris]


async def _page(
    request: web.Request, who: Staff, *, status: int = 200, error: str = ""
) -> web.Response:
    if not who.is_group:
        raise web.HTTPNotFound(text=translate(request, "%(name)s is not a group.", name=who.name))
    svc = request.app[keys.SERVICES]
    found = await groups.list_members(svc, who.name)
    posts = await groups.list_posts(svc, who.name)
    uris = request.app[keys.URIS]
    return staff_page(
        request,
        who,
        "manage_group.html",
        section="group",
        notices=_notices(request),
        status=status,
        error=error,
        members=await _handles(request, found.members),
        pending=await _handles(request, found.pending),
        posts=posts,
        feed_rss=uris.feed(who.name, "rss"),
        feed_atom=uris.feed(who.name, "atom"),
    )


async def group_page(request: web.Request) -> web.Response:
    return await _page(request, await load_staff(request))


def _cannot(request: web.Request, exc: Exception) -> str:
    return translate(request, "This could not be done: %(reason)s.", reason=str(exc))


async def remove_member(request: web.Request) -> web.Response:
    who, fields = await staff_form(request, Action.DECIDE_REQUESTS)
    if not who.is_group:
        raise web.HTTPNotFound(text=translate(request, "%(name)s is not a group.", name=who.name))
    try:
        await groups.remove_member(request.app[keys.SERVICES], who.name, fields.get("member", ""))
    except ActionError as exc:
        return await _page(request, who, status=422, error=_cannot(request, exc))
    request.app[keys.OUTBOX_WAKE].set()
    raise done(f"{who.base}/group", "removed")


async def remove_post(request: web.Request) -> web.Response:
    who, _ = await staff_form(request, Action.DELETE)
    if not who.is_group:
        raise web.HTTPNotFound(text=translate(request, "%(name)s is not a group.", name=who.name))
    try:
        await groups.remove_post(
            request.app[keys.SERVICES], who.name, int(request.match_info["id"])
        )
    except ActionError as exc:
        return await _page(request, who, status=422, error=_cannot(request, exc))
    request.app[keys.OUTBOX_WAKE].set()
    raise done(f"{who.base}/group", "post_removed")


async def settings(request: web.Request) -> web.Response:
    who, fields = await staff_form(request, Action.MANAGE_ROLES)
    if not who.is_group:
        raise web.HTTPNotFound(text=translate(request, "%(name)s is not a group.", name=who.name))
    on = fields.get("members_only") == "1"
    try:
        await groups.set_members_only(request.app[keys.SERVICES], who.name, members_only=on)
    except ActionError as exc:
        return await _page(request, who, status=422, error=_cannot(request, exc))
    request.app[keys.OUTBOX_WAKE].set()
    raise done(f"{who.base}/group", "members_only" if on else "open")


def add_manage_group_routes(app: web.Application) -> None:
    base = MANAGE + "/{username}/group"
    app.router.add_get(base, with_error_pages(group_page))
    app.router.add_post(base + "/members/remove", with_error_pages(remove_member))
    app.router.add_post(base + r"/posts/{id:\d{1,18}}/remove", with_error_pages(remove_post))
    app.router.add_post(base + "/settings", with_error_pages(settings))
