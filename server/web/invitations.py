"""Signing up on the web pages (issue 16): invitations and sign-ups awaiting approval.

- `/invite/TOKEN`: the sign-up form of an invitation (user name, e-mail, password twice,
  language); the new person gets their own Person actor, the invitation's role if it
  grants one, and is signed in.
- `/auth/sign_up`: with `registrations.mode = "approval"`, anyone may ask; the account
  waits until the operator approves it on `/admin/sign_ups` (or declines: it is deleted).
- `/admin/invitations` (the operator) and `/manage/NAME/invitations` (owners of NAME,
  who may have the invitation grant a role on it): create, list, withdraw.

The sign-up forms are CSRF-protected like the sign-in form (double submit: the
`verbund_csrf` cookie repeated in the form) and charged to the sign-in limits of the
client's address; the rules are `actors.invitations`'.
"""

from __future__ import annotations

import hmac
from typing import Final

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from actors import accounts
from actors.accounts import InvalidUserError, UserExistsError, new_secret
from actors.invitations import (
    Invitation,
    InvitationError,
    approve_sign_up,
    create_invitation,
    decline_sign_up,
    find_invitation,
    list_invitations,
    pending_sign_ups,
    revoke_invitation,
    sign_up,
)
from actors.local import find_actor
from actors.models import Actor, ActorType, RoleName, User
from server import keys
from server.ratelimit import RateLimitedError
from server.web.auth import CSRF_COOKIE, open_browser_session, registration_mode, set_cookie
from server.web.errors import error_response, with_error_pages
from server.web.forms import read_form, require_viewer, signed_in_form
from server.web.i18n import LANGUAGES, language_of, translate, translate_plural
from server.web.layout import html_page
from server.web.viewer import Viewer

__all__ = ["add_invitation_routes"]

MAX_FORM_BYTES: Final = 8 * 1024
ROLES: Final = (RoleName.EDITOR, RoleName.MODERATOR, RoleName.OWNER)


def _no_store(response: web.Response) -> web.Response:
    response.headers["Cache-Control"] = "no-store"
    return response


# --- signing up -------------------------------------------------------------------------------


def _sign_up_page(
    request: web.Request,
    *,
    action: str,
    csrf: str,
    invitation: Invitation | None = None,
    organisation: Actor | None = None,
    status: int = 200,
    error: str = "",
    values: dict[str, str] | None = None,
) -> web.Response:
    response = html_page(
        request,
        "sign_up.html",
        status=status,
        action=action,
        csrf_token=csrf,
        invitation=invitation,
        organisation=organisation,
        role_label=_role_label(request, invitation.role) if invitation and invitation.role else "",
        approval=invitation is None,
        error=error,
        values=values or {"locale": language_of(request)},
        page_languages=(("en", "English"), ("de", "Deutsch")),
        min_password=accounts.MIN_PASSWORD,
    )
    set_cookie(response, request, CSRF_COOKIE, csrf, max_age=3600)
    return _no_store(response)


def _role_label(request: web.Request, role: str | RoleName) -> str:
    labels = {
        RoleName.OWNER: translate(request, "owner"),
        RoleName.EDITOR: translate(request, "editor"),
        RoleName.MODERATOR: translate(request, "moderator"),
    }
    return labels.get(RoleName(role), str(role))


def _refusal(request: web.Request, status: int, title: str, message: str) -> web.Response:
    return _no_store(html_page(request, "error.html", status=status, title=title, message=message))


def _invitation_message(request: web.Request, exc: InvitationError) -> str:
    text = str(exc)
    known = {
        "this invitation does not exist": translate(request, "This invitation does not exist."),
        "this invitation was withdrawn": translate(request, "This invitation was withdrawn."),
        "this invitation has expired": translate(request, "This invitation has expired."),
        "this invitation has already been used": translate(
            request, "This invitation has already been used."
        ),
        "this invitation can no longer be used": translate(
            request, "This invitation can no longer be used."
        ),
    }
    return known.get(text, text)


async def _usable_invitation(
    request: web.Request, session: AsyncSession
) -> tuple[Invitation, Actor | None] | web.Response:
    if registration_mode(request.app) == "closed":
        return _refusal(
            request,
            403,
            translate(request, "Sign-up is closed"),
            translate(request, "This instance accepts no new accounts at the moment."),
        )
    try:
        row = await find_invitation(
            session, request.match_info["token"], now=request.app[keys.CLOCK]()
        )
    except InvitationError as exc:
        return _refusal(
            request,
            404 if "exist" in str(exc) else 410,
            translate(request, "This invitation does not work"),
            _invitation_message(request, exc),
        )
    organisation = await session.get(Actor, row.actor_id) if row.actor_id is not None else None
    return row, organisation


async def invite_form(request: web.Request) -> web.Response:
    async with request.app[keys.SESSIONMAKER]() as session:
        found = await _usable_invitation(request, session)
    if isinstance(found, web.Response):
        return found
    row, organisation = found
    return _sign_up_page(
        request,
        action=request.path,
        csrf=request.cookies.get(CSRF_COOKIE) or new_secret(),
        invitation=row,
        organisation=organisation,
    )


async def invite_submit(request: web.Request) -> web.Response:
    return await _submit(request, by_invitation=True)


async def open_form(request: web.Request) -> web.Response:
    if registration_mode(request.app) != "approval":
        return _closed(request)
    return _sign_up_page(
        request, action="/auth/sign_up", csrf=request.cookies.get(CSRF_COOKIE) or new_secret()
    )


async def open_submit(request: web.Request) -> web.Response:
    if registration_mode(request.app) != "approval":
        return _closed(request)
    return await _submit(request, by_invitation=False)


def _closed(request: web.Request) -> web.Response:
    if registration_mode(request.app) == "invite":
        message = translate(
            request,
            "You can sign up here with an invitation link from the staff of an organisation "
            "or the operator.",
        )
    else:
        message = translate(request, "This instance accepts no new accounts at the moment.")
    return _refusal(request, 403, translate(request, "Sign-up needs an invitation"), message)


def _sign_up_error(request: web.Request, exc: Exception) -> str:
    if isinstance(exc, UserExistsError):
        return translate(request, "This user name is taken. Please choose another one.")
    if isinstance(exc, InvitationError):
        return _invitation_message(request, exc)
    text = str(exc)
    if text.startswith("invalid user name"):
        return translate(
            request,
            "Please choose a user name of 1 to 30 letters, digits or _ (dots and dashes "
            "allowed inside).",
        )
    if text.startswith("the password must have at least"):
        return translate(
            request,
            "The password must have at least %(num)s characters.",
            num=accounts.MIN_PASSWORD,
        )
    if text.startswith("the password must have at most"):
        return translate(request, "The password is too long.")
    if text.startswith(("invalid e-mail", "an e-mail address")):
        return translate(request, "Please give a valid e-mail address.")
    return text


async def _submit(request: web.Request, *, by_invitation: bool) -> web.Response:
    fields = await read_form(request, MAX_FORM_BYTES)
    values = {k: fields.get(k, "").strip() for k in ("username", "email", "locale", "reason")}
    if values["locale"] not in LANGUAGES:
        values["locale"] = ""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    action = request.path
    async with request.app[keys.SESSIONMAKER]() as session:
        invitation: Invitation | None = None
        organisation: Actor | None = None
        if by_invitation:
            found = await _usable_invitation(request, session)
            if isinstance(found, web.Response):
                return found
            invitation, organisation = found

        def again(status: int, error: str, csrf: str = cookie) -> web.Response:
            return _sign_up_page(
                request,
                action=action,
                csrf=csrf,
                invitation=invitation,
                organisation=organisation,
                status=status,
                error=error,
                values=values,
            )

        if not cookie or not hmac.compare_digest(cookie, fields.get("csrf_token", "")):
            return again(
                403, translate(request, "This form expired. Please try again."), new_secret()
            )
        try:
            request.app[keys.LIMITS].sign_in(request)
        except RateLimitedError as exc:
            minutes = max(1, -(-exc.retry_after // 60))
            response = again(
                429,
                translate_plural(
                    request,
                    "Too many attempts. Please wait %(num)d minute and try again.",
                    "Too many attempts. Please wait %(num)d minutes and try again.",
                    minutes,
                ),
            )
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
        password = fields.get("password", "")
        if password != fields.get("password_again", ""):
            return again(422, translate(request, "The two passwords differ."))
        try:
            made = await sign_up(
                session,
                username=values["username"],
                email=values["email"],
                password=password,
                locale=values["locale"],
                now=request.app[keys.CLOCK](),
                invitation=invitation,
                needs_approval=not by_invitation,
                reason=values["reason"],
            )
        except (InvalidUserError, UserExistsError, InvitationError) as exc:
            await session.rollback()
            return again(422, _sign_up_error(request, exc))
        if made.actor is None:
            await session.commit()
            return _no_store(
                html_page(
                    request,
                    "sign_up_pending.html",
                    username=made.user.username,
                )
            )
        response = await open_browser_session(
            request, session, made.user, next_path=f"/@{made.user.username}"
        )
    raise response


# --- the operator: sign-ups and invitations ----------------------------------------------------


async def _person(session: AsyncSession, viewer: Viewer) -> User:
    user = await session.get(User, viewer.user_id)
    if user is None:
        raise web.HTTPForbidden()
    return user


async def _operator(request: web.Request, session: AsyncSession, viewer: Viewer) -> User:
    user = await _person(session, viewer)
    if not user.is_admin:
        raise web.HTTPForbidden(text=translate(request, "Only the operator may see this page."))
    return user


async def sign_ups_page(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    async with request.app[keys.SESSIONMAKER]() as session:
        await _operator(request, session, viewer)
        pending = await pending_sign_ups(session)
    return _no_store(
        html_page(
            request,
            "admin_sign_ups.html",
            pending=pending,
            mode=registration_mode(request.app),
            done=request.query.get("done", ""),
        )
    )


async def decide_sign_up(request: web.Request) -> web.Response:
    viewer, _ = await signed_in_form(request, MAX_FORM_BYTES)
    raw = request.match_info["id"]
    decision = request.match_info["decision"]
    async with request.app[keys.SESSIONMAKER]() as session:
        await _operator(request, session, viewer)
        try:
            if decision == "approve":
                made = await approve_sign_up(session, int(raw), now=request.app[keys.CLOCK]())
                name = made.user.username
            else:
                name = await decline_sign_up(session, int(raw))
        except (InvitationError, ValueError):
            return error_response(
                request, 404, translate(request, "No such sign-up waits for approval.")
            )
        except UserExistsError:
            return error_response(
                request,
                409,
                translate(request, "An actor of this name exists already: decline this sign-up."),
            )
        await session.commit()
    raise web.HTTPSeeOther(f"/admin/sign_ups?done={decision}d:{name}")


async def _invitations_page(
    request: web.Request,
    viewer: Viewer,
    *,
    actor: Actor | None,
    status: int = 200,
    error: str = "",
    link: str = "",
) -> web.Response:
    async with request.app[keys.SESSIONMAKER]() as session:
        rows = await list_invitations(session, now=request.app[keys.CLOCK](), actor=actor)
    action = f"/manage/{actor.username}/invitations" if actor else "/admin/invitations"
    return _no_store(
        html_page(
            request,
            "invitations.html",
            status=status,
            organisation=actor,
            invitations=rows,
            action=action,
            roles=[(r.value, _role_label(request, r)) for r in ROLES],
            role_label=lambda r: _role_label(request, r),
            error=error,
            link=link,
            mode=registration_mode(request.app),
        )
    )


async def _staff_actor(request: web.Request, session: AsyncSession, viewer: Viewer) -> Actor:
    """The organisation or group of the URL, if the viewer may manage its roles."""
    user = await _person(session, viewer)
    actor = await find_actor(session, request.match_info["username"])
    if actor is None or actor.type == ActorType.PERSON.value:
        raise web.HTTPNotFound(text=translate(request, "no such organisation or group"))
    role = await accounts.role_of(session, user.id, actor.id)
    if not user.is_admin and not accounts.can(role, accounts.Action.MANAGE_ROLES):
        raise web.HTTPForbidden(
            text=translate(
                request, "Only the owners of %(name)s may invite people.", name=actor.username
            )
        )
    return actor


async def admin_invitations(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    async with request.app[keys.SESSIONMAKER]() as session:
        await _operator(request, session, viewer)
    return await _invitations_page(request, viewer, actor=None)


async def manage_invitations(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    async with request.app[keys.SESSIONMAKER]() as session:
        actor = await _staff_actor(request, session, viewer)
    return await _invitations_page(request, viewer, actor=actor)


def _number(value: str, default: int | None) -> int | None:
    value = value.strip()
    if not value:
        return default
    if not value.isdigit() or len(value) > 6:
        raise ValueError(value)
    return int(value)


async def _create(request: web.Request, *, staff: bool) -> web.Response:
    viewer, fields = await signed_in_form(request, MAX_FORM_BYTES)
    async with request.app[keys.SESSIONMAKER]() as session:
        actor = await _staff_actor(request, session, viewer) if staff else None
        user = await (_person(session, viewer) if staff else _operator(request, session, viewer))
        role: RoleName | None = None
        if staff and fields.get("role"):
            try:
                role = RoleName(fields["role"])
            except ValueError:
                role = None
        try:
            max_uses = _number(fields.get("max_uses", ""), 1)
            days = _number(fields.get("days", ""), None)
        except ValueError:
            return await _invitations_page(
                request,
                viewer,
                actor=actor,
                status=422,
                error=translate(request, "Please give whole numbers."),
            )
        try:
            _, token = await create_invitation(
                session,
                by=user,
                now=request.app[keys.CLOCK](),
                actor=actor,
                role=role,
                max_uses=max_uses or 1,
                days=days,
                note=fields.get("note", ""),
            )
        except InvitationError as exc:
            return await _invitations_page(request, viewer, actor=actor, status=422, error=str(exc))
        await session.commit()
    link = f"{request.app[keys.CONFIG].instance.base_url}/invite/{token}"
    return await _invitations_page(request, viewer, actor=actor, link=link)


async def admin_create(request: web.Request) -> web.Response:
    return await _create(request, staff=False)


async def manage_create(request: web.Request) -> web.Response:
    return await _create(request, staff=True)


async def _revoke(request: web.Request, *, staff: bool) -> web.Response:
    viewer, _ = await signed_in_form(request, MAX_FORM_BYTES)
    raw = request.match_info["id"]
    async with request.app[keys.SESSIONMAKER]() as session:
        actor = await _staff_actor(request, session, viewer) if staff else None
        if not staff:
            await _operator(request, session, viewer)
        try:
            await revoke_invitation(session, int(raw), now=request.app[keys.CLOCK](), actor=actor)
        except (InvitationError, ValueError):
            return error_response(request, 404, translate(request, "No such invitation."))
        await session.commit()
    raise web.HTTPSeeOther(
        f"/manage/{actor.username}/invitations" if actor else "/admin/invitations"
    )


async def admin_revoke(request: web.Request) -> web.Response:
    return await _revoke(request, staff=False)


async def manage_revoke(request: web.Request) -> web.Response:
    return await _revoke(request, staff=True)


def add_invitation_routes(app: web.Application) -> None:
    app.router.add_get("/invite/{token}", with_error_pages(invite_form))
    app.router.add_post("/invite/{token}", with_error_pages(invite_submit))
    app.router.add_get("/auth/sign_up", with_error_pages(open_form))
    app.router.add_post("/auth/sign_up", with_error_pages(open_submit))
    app.router.add_get("/admin/sign_ups", with_error_pages(sign_ups_page))
    app.router.add_post(
        "/admin/sign_ups/{id:[0-9]{1,12}}/{decision:approve|decline}",
        with_error_pages(decide_sign_up),
    )
    app.router.add_get("/admin/invitations", with_error_pages(admin_invitations))
    app.router.add_post("/admin/invitations", with_error_pages(admin_create))
    app.router.add_post(
        "/admin/invitations/{id:[0-9]{1,12}}/revoke", with_error_pages(admin_revoke)
    )
    app.router.add_get("/manage/{username}/invitations", with_error_pages(manage_invitations))
    app.router.add_post("/manage/{username}/invitations", with_error_pages(manage_create))
    app.router.add_post(
        "/manage/{username}/invitations/{id:[0-9]{1,12}}/revoke", with_error_pages(manage_revoke)
    )
