"""Signing in to the web pages (issue 16): `GET/POST /auth/sign_in`, `POST /auth/sign_out`.

A signed-in person's browser holds `verbund_session` (HttpOnly, SameSite=Lax, Secure on
https), whose token the database knows only hashed (`actors.web_sessions`). Every form
carries a CSRF token: the session's own once signed in; before that, for the sign-in
form itself, a random value in the `verbund_csrf` cookie that the form must repeat
(double submit), so no other site can sign a browser in to an account of its choosing.
Password checks share the password grant's limits per account and per address
(`server.ratelimit`); this form is also the OAuth authorize page's only sign-in. Pages
learn who is signed in from `viewer(request)`.
"""

from __future__ import annotations

import hmac
from typing import Final

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from actors import accounts
from actors.accounts import new_secret
from actors.models import User
from actors.web_sessions import SESSION_LIFETIME, close_sessions, open_session
from server import keys
from server.ratelimit import RateLimitedError
from server.web.errors import with_error_pages
from server.web.forms import check_csrf, read_form
from server.web.i18n import translate, translate_plural
from server.web.layout import html_page, local_path
from server.web.viewer import SESSION_COOKIE, load_viewer

__all__ = [
    "CSRF_COOKIE",
    "add_auth_routes",
    "open_browser_session",
    "registration_mode",
    "set_cookie",
]

CSRF_COOKIE: Final = "verbund_csrf"
MAX_FORM_BYTES: Final = 8 * 1024


def registration_mode(app: web.Application) -> str:
    """Who may sign up: "invite", "approval" or "closed". The operator's run-time setting
    (`/admin/settings`, `server.instance_settings`), whose default is `[registrations]
    mode`; every page refreshes that cache before its handler runs (`with_error_pages`)."""
    mode = app[keys.SETTINGS].current().registration_mode
    return "invite" if mode == "invite-only" else mode


def _secure(request: web.Request) -> bool:
    return request.app[keys.CONFIG].instance.scheme == "https"


def set_cookie(
    response: web.StreamResponse, request: web.Request, name: str, value: str, max_age: int
) -> None:
    """An HttpOnly, SameSite=Lax cookie for the whole site (Secure on https)."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=_secure(request),
    )


def _sign_in_page(
    request: web.Request,
    *,
    csrf: str,
    status: int = 200,
    error: str = "",
    username: str = "",
    next_path: str = "/",
) -> web.Response:
    response = html_page(
        request,
        "sign_in.html",
        status=status,
        title=translate(request, "Sign in"),
        csrf_token=csrf,
        error=error,
        username=username,
        next_path=next_path,
        sign_up_open=registration_mode(request.app) == "approval",
    )
    set_cookie(response, request, CSRF_COOKIE, csrf, max_age=3600)
    response.headers["Cache-Control"] = "no-store"
    return response


async def sign_in_form(request: web.Request) -> web.Response:
    if await load_viewer(request) is not None:
        raise web.HTTPSeeOther(local_path(request.query.get("next")))
    csrf = request.cookies.get(CSRF_COOKIE) or new_secret()
    return _sign_in_page(request, csrf=csrf, next_path=local_path(request.query.get("next")))


async def sign_in(request: web.Request) -> web.Response:
    fields = await read_form(request, MAX_FORM_BYTES)
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = fields.get("csrf_token", "")
    next_path = local_path(fields.get("next"))
    username = fields.get("username", "").strip()
    if not cookie or not hmac.compare_digest(cookie, sent):
        return _sign_in_page(
            request,
            csrf=new_secret(),
            status=403,
            error=translate(request, "This form expired. Please sign in again."),
            username=username,
            next_path=next_path,
        )
    try:
        attempt = request.app[keys.LIMITS].sign_in(request)
        attempt.charge_account(username)
    except RateLimitedError as exc:
        minutes = max(1, -(-exc.retry_after // 60))
        response = _sign_in_page(
            request,
            csrf=cookie,
            status=429,
            error=translate_plural(
                request,
                "Too many attempts. Please wait %(num)d minute and try again.",
                "Too many attempts. Please wait %(num)d minutes and try again.",
                minutes,
            ),
            username=username,
            next_path=next_path,
        )
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    async with request.app[keys.SESSIONMAKER]() as session:
        user = await accounts.check_password(session, username, fields.get("password", ""))
        if user is None:
            return _sign_in_page(
                request,
                csrf=cookie,
                status=401,
                error=translate(request, "Wrong user name or password."),
                username=username,
                next_path=next_path,
            )
        attempt.succeeded()
        if user.approval_pending:
            return _sign_in_page(
                request,
                csrf=cookie,
                status=403,
                error=translate(
                    request,
                    "Your account waits for the operator's approval. You can sign in once "
                    "it is approved.",
                ),
                username=username,
                next_path=next_path,
            )
        response = await open_browser_session(request, session, user, next_path=next_path)
    raise response


async def open_browser_session(
    request: web.Request, session: AsyncSession, user: User, *, next_path: str
) -> web.HTTPSeeOther:
    """Sign `user` in in this browser (commits): the redirect to `next_path` that sets
    the session cookie."""
    _, token = await open_session(
        session,
        user,
        now=request.app[keys.CLOCK](),
        user_agent=request.headers.get("User-Agent", ""),
    )
    await session.commit()
    response = web.HTTPSeeOther(next_path)
    set_cookie(
        response, request, SESSION_COOKIE, token, max_age=int(SESSION_LIFETIME.total_seconds())
    )
    response.del_cookie(CSRF_COOKIE, path="/")
    return response


async def sign_out(request: web.Request) -> web.Response:
    """End this session, or with `everywhere` every session of the person."""
    fields = await read_form(request, MAX_FORM_BYTES)
    viewer = await load_viewer(request)
    if viewer is None:
        raise web.HTTPSeeOther("/")
    check_csrf(viewer, fields, request)
    async with request.app[keys.SESSIONMAKER]() as session:
        await close_sessions(session, viewer.session, everywhere=fields.get("everywhere") == "1")
        await session.commit()
    response = web.HTTPSeeOther("/")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


def add_auth_routes(app: web.Application) -> None:
    app.router.add_get("/auth/sign_in", with_error_pages(sign_in_form))
    app.router.add_post("/auth/sign_in", with_error_pages(sign_in))
    app.router.add_post("/auth/sign_out", with_error_pages(sign_out))
