"""The staff pages of organisations and groups (issue 16): `/manage` lists the actors the
signed-in person holds a role on with what waits there; `/manage/NAME` is one actor's
overview; follow requests and roles are here, contact requests, links and the group in
`manage_contacts`, `manage_links` and `manage_group`. `add_manage_routes` registers them
all.

Every action is the one the CLI and the API run (`server.actions`, `server.staff`), and
each form checks the person's role for it (`manage_common`): a wrong role gets 403 and
nothing changes, even for a form the page did not offer.
"""

from __future__ import annotations

from aiohttp import web

from actors import accounts
from actors.accounts import Action
from actors.models import RoleName
from server import actions, keys, staff
from server.actions import ActionError
from server.web.errors import with_error_pages
from server.web.forms import require_viewer
from server.web.i18n import translate
from server.web.layout import html_page
from server.web.manage_common import (
    MANAGE,
    Staff,
    done,
    load_staff,
    role_label,
    staff_form,
    staff_page,
)
from server.web.manage_contacts import add_manage_contact_routes
from server.web.manage_group import add_manage_group_routes
from server.web.manage_links import add_manage_link_routes

__all__ = ["add_manage_routes"]

REQUEST_ID = r"{id:\d{1,18}}"


async def overview(request: web.Request) -> web.Response:
    """`/manage`: the person's actors, their role there and what waits."""
    viewer = await require_viewer(request)
    held = await staff.staffed_actors(request.app[keys.SERVICES], viewer.user_id)
    response = html_page(
        request,
        "manage.html",
        held=[
            (s, role_label(request, s.role), accounts.can(s.role, Action.DECIDE_REQUESTS))
            for s in held
        ],
        manage=MANAGE,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


async def actor_overview(request: web.Request) -> web.Response:
    """`/manage/NAME`: what waits for the actor's staff, and its sections."""
    who = await load_staff(request)
    waiting = await staff.waiting(request.app[keys.SERVICES], who.actor)
    return staff_page(request, who, "manage_actor.html", section="overview", waiting=waiting)


# --- follow requests -----------------------------------------------------------------------


def _follow_notices(request: web.Request) -> dict[str, str]:
    return {
        "approved": translate(request, "The follow request was approved."),
        "declined": translate(request, "The follow request was declined."),
    }


async def _follow_requests_page(
    request: web.Request, who: Staff, *, status: int = 200, error: str = ""
) -> web.Response:
    pending = await actions.list_requests(request.app[keys.SERVICES], who.name)
    return staff_page(
        request,
        who,
        "manage_follow_requests.html",
        section="follow_requests",
        notices=_follow_notices(request),
        status=status,
        error=error,
        pending=pending,
    )


async def follow_requests(request: web.Request) -> web.Response:
    who = await load_staff(request, Action.DECIDE_REQUESTS)
    return await _follow_requests_page(request, who)


async def _decide_follow(request: web.Request, *, approve: bool) -> web.Response:
    who, _ = await staff_form(request, Action.DECIDE_REQUESTS)
    try:
        await actions.decide_request(
            request.app[keys.SERVICES], who.name, request.match_info["id"], approve=approve
        )
    except ActionError as exc:
        return await _follow_requests_page(
            request,
            who,
            status=409,
            error=translate(request, "This could not be done: %(reason)s.", reason=str(exc)),
        )
    request.app[keys.OUTBOX_WAKE].set()
    raise done(f"{who.base}/follow_requests", "approved" if approve else "declined")


async def approve_follow(request: web.Request) -> web.Response:
    return await _decide_follow(request, approve=True)


async def decline_follow(request: web.Request) -> web.Response:
    return await _decide_follow(request, approve=False)


# --- roles ---------------------------------------------------------------------------------


def _role_notices(request: web.Request) -> dict[str, str]:
    return {
        "granted": translate(request, "The role was granted."),
        "changed": translate(request, "The role was changed."),
        "revoked": translate(request, "The role was revoked."),
    }


async def _roles_page(
    request: web.Request,
    who: Staff,
    *,
    status: int = 200,
    error: str = "",
    username: str = "",
) -> web.Response:
    async with request.app[keys.SESSIONMAKER]() as session:
        views = await accounts.list_roles(session, actor_id=who.actor.id)
    return staff_page(
        request,
        who,
        "manage_roles.html",
        section="roles",
        notices=_role_notices(request),
        status=status,
        error=error,
        people=[(v, role_label(request, v.role)) for v in views],
        roles=[(r.value, role_label(request, r)) for r in RoleName],
        username=username,
    )


async def roles(request: web.Request) -> web.Response:
    return await _roles_page(request, await load_staff(request))


def _last_owner(request: web.Request, who: Staff, username: str) -> str:
    return translate(
        request,
        "%(person)s is the last owner of %(name)s and keeps that role: grant another person "
        "the owner role first.",
        person=username,
        name=who.name,
    )


async def grant_role(request: web.Request) -> web.Response:
    """Grant a role to an existing person by user name, or change theirs (owners only)."""
    who, fields = await staff_form(request, Action.MANAGE_ROLES)
    username = fields.get("username", "").strip()
    svc = request.app[keys.SERVICES]
    async with svc.sessionmaker() as session:
        had = await accounts.find_user(session, username) if username else None
        before = await accounts.role_of(session, had.id, who.actor.id) if had else None
    try:
        if not username:
            raise ActionError(translate(request, "enter the user name of a person"))
        await staff.grant_role(svc, who.name, username, fields.get("role", ""))
    except accounts.LastOwnerError:
        return await _roles_page(
            request, who, status=409, error=_last_owner(request, who, username)
        )
    except (ActionError, accounts.AccountError) as exc:
        return await _roles_page(
            request,
            who,
            status=422,
            error=translate(request, "This could not be done: %(reason)s.", reason=str(exc)),
            username=username,
        )
    raise done(f"{who.base}/roles", "changed" if before is not None else "granted")


async def revoke_role(request: web.Request) -> web.Response:
    who, _ = await staff_form(request, Action.MANAGE_ROLES)
    username = request.match_info["person"]
    try:
        await staff.revoke_role(request.app[keys.SERVICES], who.name, username)
    except accounts.LastOwnerError:
        return await _roles_page(
            request, who, status=409, error=_last_owner(request, who, username)
        )
    except (ActionError, accounts.NoRoleError):
        return await _roles_page(
            request,
            who,
            status=404,
            error=translate(
                request, "%(person)s holds no role on %(name)s.", person=username, name=who.name
            ),
        )
    raise done(f"{who.base}/roles", "revoked")


def add_manage_routes(app: web.Application) -> None:
    base = MANAGE + "/{username}"
    app.router.add_get(MANAGE, with_error_pages(overview))
    app.router.add_get(base, with_error_pages(actor_overview))
    app.router.add_get(base + "/follow_requests", with_error_pages(follow_requests))
    app.router.add_post(
        f"{base}/follow_requests/{REQUEST_ID}/approve", with_error_pages(approve_follow)
    )
    app.router.add_post(
        f"{base}/follow_requests/{REQUEST_ID}/decline", with_error_pages(decline_follow)
    )
    app.router.add_get(base + "/roles", with_error_pages(roles))
    app.router.add_post(base + "/roles", with_error_pages(grant_role))
    app.router.add_post(base + "/roles/{person}/revoke", with_error_pages(revoke_role))
    add_manage_contact_routes(app)
    add_manage_link_routes(app)
    add_manage_group_routes(app)
