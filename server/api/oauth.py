"""OAuth 2 as Mastodon offers it: app registration, the authorize page, tokens, revocation.

A token always belongs to one person acting for one actor. The authorize page is the
site's own: a visitor who is not signed in goes through `/auth/sign_in` (its CSRF
check, its limits, its refusal of accounts awaiting approval) and back; a signed-in
person sees the consent page, which asks which actor the app shall act for when they
hold roles on several, and its POST is checked against their session's CSRF token.
No password is ever typed into this module's pages.

The password grant (removed in Mastodon 4.4) is offered for scripts and for
Mastodon.py's `log_in(username, password)`; it acts for the person's first
actor unless an `actor` parameter names another.

Every credential check at `/oauth/token` is rate-limited (`server.ratelimit`): per
client address for each token request, per account for each password, charged before
the check and given back when the credentials prove right, so a refused attempt never
costs an argon2 hash. The web sign-in shares these limits.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
from collections.abc import Awaitable, Callable
from typing import NoReturn
from urllib.parse import quote, urlencode

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from actors import accounts
from actors.accounts import InvalidGrantError, NoRoleError
from actors.local import find_actor
from actors.models import Actor, OAuthApp, RoleName, User
from server import keys
from server.api.common import (
    ApiError,
    Json,
    Params,
    Routes,
    json_response,
    read_params,
    require_user,
    token_context,
    too_many_requests,
    validation_failed,
)
from server.ratelimit import RateLimitedError
from server.web.i18n import translate
from server.web.layout import html_page
from server.web.viewer import load_viewer

GRANT_TYPES = ("authorization_code", "client_credentials", "password")

# --- registration --------------------------------------------------------------------------


def application_json(app: OAuthApp, *, with_secret: bool) -> Json:
    uris = list(accounts.app_redirect_uris(app))
    doc: Json = {
        "id": str(app.id),
        "name": app.name,
        "website": app.website,
        "scopes": list(accounts.app_scopes(app)),
        "redirect_uri": "\n".join(uris),
        "redirect_uris": uris,
    }
    if with_secret:
        doc["client_id"] = app.client_id
        doc["client_secret"] = app.client_secret
        doc["client_secret_expires_at"] = 0
    return doc


async def create_app(request: web.Request) -> web.Response:
    params = await read_params(request)
    name = params.get("client_name") or ""
    if not name.strip():
        raise validation_failed("Application name can't be blank")
    uris = params.get_list("redirect_uris")
    if not uris:
        raise validation_failed("Redirect URI can't be blank")
    try:
        async with request.app[keys.SESSIONMAKER]() as session:
            app = await accounts.create_app(
                session,
                name=name,
                redirect_uris=uris,
                scopes=params.get("scopes") or "read",
                website=params.get("website") or None,
                now=request.app[keys.CLOCK](),
            )
            await session.commit()
    except accounts.AccountError as exc:
        raise validation_failed(str(exc)) from None
    return json_response(application_json(app, with_secret=True))


async def verify_app(request: web.Request) -> web.Response:
    """Any valid token → its Application (a CLI token, which has no app, gets a stand-in)."""
    ctx = await token_context(request)
    if ctx is None:
        raise ApiError(401, "The access token is invalid")
    if ctx.app_id is not None:
        async with request.app[keys.SESSIONMAKER]() as session:
            app = await session.get(OAuthApp, ctx.app_id)
        if app is not None:
            return json_response(application_json(app, with_secret=False))
    return json_response(
        {
            "id": "0",
            "name": "Verbund",
            "website": None,
            "scopes": sorted(ctx.scopes),
            "redirect_uri": accounts.OOB_REDIRECT,
            "redirect_uris": [accounts.OOB_REDIRECT],
        }
    )


async def server_metadata(request: web.Request) -> web.Response:
    """RFC 8414 metadata; Phanpy turns on PKCE only when S256 is listed here."""
    base = request.app[keys.CONFIG].instance.base_url
    return json_response(
        {
            "issuer": base + "/",
            "service_documentation": "https://docs.joinmastodon.org/",
            "authorization_endpoint": base + "/oauth/authorize",
            "token_endpoint": base + "/oauth/token",
            "revocation_endpoint": base + "/oauth/revoke",
            "userinfo_endpoint": base + "/oauth/userinfo",
            "app_registration_endpoint": base + "/api/v1/apps",
            "scopes_supported": sorted(accounts.SCOPES),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "code_challenge_methods_supported": ["S256"],
            "grant_types_supported": list(GRANT_TYPES),
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
            ],
        }
    )


# --- the authorize page --------------------------------------------------------------------

_OAUTH_FIELDS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
)


class _Request:
    """A validated authorization request (the parameters of GET /oauth/authorize)."""

    def __init__(self, app: OAuthApp, params: Params, redirect_uri: str, scopes: tuple[str, ...]):
        self.app = app
        self.redirect_uri = redirect_uri
        self.scopes = scopes
        self.state = params.get("state")
        self.code_challenge = params.get("code_challenge") or None
        self.hidden = [
            (name, value) for name in _OAUTH_FIELDS if (value := params.get(name)) is not None
        ]

    def _url(self, values: dict[str, str]) -> str:
        query = dict(values)
        if self.state is not None:
            query["state"] = self.state
        sep = "&" if "?" in self.redirect_uri else "?"
        return self.redirect_uri + sep + urlencode(query)

    def fail(self, error: str, description: str, *, status: int = 400) -> NoReturn:
        """Send an OAuth error back to the client (shown instead for oob, with `status`)."""
        if self.redirect_uri == accounts.OOB_REDIRECT:
            raise _Problem(description, status=status)
        raise web.HTTPFound(self._url({"error": error, "error_description": description}))

    def succeed(self, request: web.Request, code: str) -> web.Response:
        """Back to the client with the code, or the code shown for oob."""
        if self.redirect_uri == accounts.OOB_REDIRECT:
            return _framed(html_page(request, "oauth_code.html", app_name=self.app.name, code=code))
        raise web.HTTPFound(self._url({"code": code}))

    def sign_in_url(self) -> str:
        """The site's sign-in, coming back to this request's authorize page."""
        back = "/oauth/authorize?" + urlencode(self.hidden)
        return f"/auth/sign_in?next={quote(back, safe='')}"


# No framing: a consent page inside someone else's page invites clickjacking.
_FRAME_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}


def _framed(response: web.Response) -> web.Response:
    response.headers.update(_FRAME_HEADERS)
    return response


class _Problem(Exception):
    """A request we must not redirect back (unknown client, unregistered redirect URI):
    `_shows_problems` answers it with a page saying why (the message in the page's
    language)."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _shows_problems(
    handler: Callable[[web.Request], Awaitable[web.Response]],
) -> Callable[[web.Request], Awaitable[web.Response]]:
    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except _Problem as exc:
            return _framed(
                html_page(request, "oauth_problem.html", status=exc.status, problem=str(exc))
            )

    return wrapped


async def _validate(request: web.Request, session: AsyncSession, params: Params) -> _Request:
    """Check the client, redirect URI, scopes and PKCE method of an authorization request."""
    client_id = params.get("client_id") or ""
    app = await accounts.find_app(session, client_id) if client_id else None
    if app is None:
        raise _Problem(translate(request, "This app is unknown here (unknown client_id)."))
    registered = accounts.app_redirect_uris(app)
    redirect_uri = params.get("redirect_uri")
    if redirect_uri is None and len(registered) == 1:
        redirect_uri = registered[0]
    if redirect_uri not in registered:
        raise _Problem(
            translate(request, "The redirect URI is not registered for this application.")
        )
    req = _Request(app, params, redirect_uri, ())
    try:
        scopes = accounts.parse_scopes(params.get("scope") or "read")
    except accounts.InvalidScopeError as exc:
        req.fail(
            "invalid_scope", translate(request, "The scope is not valid: %(error)s", error=str(exc))
        )
    if not set(scopes) <= accounts.expand_scopes(accounts.app_scopes(app)):
        req.fail(
            "invalid_scope",
            translate(request, "The requested scope is not registered for this application."),
        )
    if params.get("response_type") != "code":
        req.fail(
            "unsupported_response_type", translate(request, "Only response_type=code is supported.")
        )
    method = params.get("code_challenge_method")
    if req.code_challenge and (method or "S256") != "S256":
        req.fail(
            "invalid_request",
            translate(request, "Only the S256 code challenge method is supported."),
        )
    req.scopes = scopes
    return req


@_shows_problems
async def authorize_form(request: web.Request) -> web.Response:
    """The consent page for a signed-in person; anyone else goes through the site's sign-in
    (`/auth/sign_in`, with its limits and CSRF check) and comes back here. Problems with
    the request itself are shown first: no point signing in for an unknown app."""
    params = await read_params(request)
    viewer = await load_viewer(request)
    async with request.app[keys.SESSIONMAKER]() as session:
        req = await _validate(request, session, params)
        if viewer is None:
            raise web.HTTPSeeOther(f"/auth/sign_in?next={quote(request.path_qs, safe='')}")
        held = await accounts.actors_of(session, viewer.user_id)
    return _framed(
        html_page(
            request,
            "oauth_consent.html",
            app_name=req.app.name,
            app_website=req.app.website,
            scopes=req.scopes,
            hidden=req.hidden,
            actors=[(a.username, a.display_name or a.username, role.value) for a, role in held],
        )
    )


@_shows_problems
async def authorize_submit(request: web.Request) -> web.Response:
    """The consent page's POST: the signed-in person's choice, checked against their
    session's CSRF token and their roles; then a redirect with the code (or the code
    shown for oob). Without a session: the sign-in, and back to the consent page."""
    params = await read_params(request)
    async with request.app[keys.SESSIONMAKER]() as session:
        req = await _validate(request, session, params)
        viewer = await load_viewer(request)
        if viewer is None:
            raise web.HTTPSeeOther(req.sign_in_url())
        if not hmac.compare_digest(viewer.csrf_token, params.get("csrf_token") or ""):
            raise _Problem(
                translate(request, "This form expired. Please go back to the app and try again."),
                status=403,
            )
        if params.get("decision") == "deny":
            req.fail(
                "access_denied", translate(request, "The authorization was denied."), status=403
            )
        user = await session.get(User, viewer.user_id)
        held = await accounts.actors_of(session, viewer.user_id)
        if user is None or not held:
            raise _Problem(
                translate(
                    request, "You hold no role on any actor here, so no app can act for you."
                ),
                status=403,
            )
        chosen = _choose(held, params.get("actor"))
        if chosen is None:
            raise _Problem(translate(request, "Please choose one of your actors."), status=403)
        code = await accounts.issue_code(
            session,
            app=req.app,
            user=user,
            actor=chosen,
            redirect_uri=req.redirect_uri,
            scopes=req.scopes,
            code_challenge=req.code_challenge,
            now=request.app[keys.CLOCK](),
        )
        await session.commit()
    return req.succeed(request, code)


def _choose(held: list[tuple[Actor, RoleName]], name: str | None) -> Actor | None:
    """The actor named in the form, the only one held, or None (ask the person)."""
    if name:
        for actor, _ in held:
            if actor.username_key == name.lower():
                return actor
        return None
    return held[0][0] if len(held) == 1 else None


# --- tokens --------------------------------------------------------------------------------


def _oauth_error(status: int, error: str, description: str) -> ApiError:
    return ApiError(status, error, description)


def _client_credentials(request: web.Request, params: Params) -> tuple[str, str]:
    """From HTTP Basic (client_secret_basic) or the body (client_secret_post)."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("basic "):
        try:
            raw = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise _oauth_error(401, "invalid_client", "malformed Basic credentials") from None
        client_id, _, secret = raw.partition(":")
        return client_id, secret
    return params.get("client_id") or "", params.get("client_secret") or ""


async def _client(session: AsyncSession, request: web.Request, params: Params) -> OAuthApp:
    client_id, secret = _client_credentials(request, params)
    app = await accounts.authenticate_client(session, client_id, secret)
    if app is None:
        raise _oauth_error(
            401,
            "invalid_client",
            "Client authentication failed due to unknown client, no client authentication "
            "included, or unsupported authentication method.",
        )
    return app


def _requested_scopes(params: Params, app: OAuthApp) -> tuple[str, ...]:
    try:
        scopes = accounts.parse_scopes(params.get("scope") or "read")
    except accounts.InvalidScopeError as exc:
        raise _oauth_error(400, "invalid_scope", str(exc)) from None
    if not set(scopes) <= accounts.expand_scopes(accounts.app_scopes(app)):
        raise _oauth_error(
            400, "invalid_scope", "The requested scope is not registered for this application."
        )
    return scopes


def _token_json(issued: accounts.IssuedToken) -> Json:
    # `scope` is required: Mastodon.py raises without it.
    return {
        "access_token": issued.token,
        "token_type": "Bearer",
        "scope": " ".join(issued.scopes),
        "created_at": int(issued.created_at.timestamp()),
    }


def _invalid_grant(description: str) -> ApiError:
    return _oauth_error(400, "invalid_grant", description)


async def issue_token(request: web.Request) -> web.Response:
    params = await read_params(request)
    grant = params.get("grant_type") or ""
    now = request.app[keys.CLOCK]()
    try:
        attempt = request.app[keys.LIMITS].sign_in(request)
    except RateLimitedError as exc:
        raise too_many_requests(exc, now) from None
    async with request.app[keys.SESSIONMAKER]() as session:
        app = await _client(session, request, params)
        if grant == "authorization_code":
            try:
                row = await accounts.redeem_code(
                    session,
                    app=app,
                    code=params.get("code") or "",
                    redirect_uri=params.get("redirect_uri") or "",
                    code_verifier=params.get("code_verifier"),
                    now=now,
                )
            except InvalidGrantError as exc:
                await session.commit()  # the code is spent either way
                raise _invalid_grant(str(exc)) from None
            attempt.succeeded()
            user = await session.get(User, row.user_id)
            actor = await session.get(Actor, row.actor_id)
            scopes: tuple[str, ...] = tuple(row.scopes.split())
        elif grant == "password":
            scopes = _requested_scopes(params, app)
            username = params.get("username") or ""
            try:
                attempt.charge_account(username)
            except RateLimitedError as exc:
                raise too_many_requests(exc, now) from None
            user = await accounts.check_password(session, username, params.get("password") or "")
            if user is None:
                raise _invalid_grant("Wrong user name or password.")
            attempt.succeeded()
            actor = await _password_actor(session, user, params.get("actor"))
        elif grant == "client_credentials":
            attempt.succeeded()
            issued = await accounts.create_app_token(
                session, app=app, scopes=_requested_scopes(params, app), now=now
            )
            await session.commit()
            return json_response(_token_json(issued))
        else:
            raise _oauth_error(
                400,
                "unsupported_grant_type",
                "The authorization grant type is not supported by the authorization server.",
            )
        if user is None or actor is None:
            raise _invalid_grant("The user or actor no longer exists.")
        try:
            issued = await accounts.create_token(
                session, user=user, actor=actor, scopes=scopes, app_id=app.id, now=now
            )
        except NoRoleError as exc:
            raise _invalid_grant(str(exc)) from None
        await session.commit()
    return json_response(_token_json(issued))


async def _password_actor(session: AsyncSession, user: User, name: str | None) -> Actor:
    if name:
        actor = await find_actor(session, name.removeprefix("@").split("@")[0])
        if actor is None or await accounts.role_of(session, user.id, actor.id) is None:
            raise _invalid_grant(f"{user.username} holds no role on {name}")
        return actor
    held = await accounts.actors_of(session, user.id)
    if not held:
        raise _invalid_grant(f"{user.username} holds no role on any actor")
    return held[0][0]


async def revoke(request: web.Request) -> web.Response:
    """RFC 7009: 200 `{}` for our own and unknown tokens, 403 for another client's."""
    params = await read_params(request)
    async with request.app[keys.SESSIONMAKER]() as session:
        app = await _client(session, request, params)
        try:
            await accounts.revoke_token_value(
                session, params.get("token") or "", app_id=app.id, now=request.app[keys.CLOCK]()
            )
        except accounts.ForeignTokenError:
            raise _oauth_error(
                403, "unauthorized_client", "You are not authorized to revoke this token"
            ) from None
        await session.commit()
    return json_response({})


async def userinfo(request: web.Request) -> web.Response:
    """OpenID Connect userinfo (Mastodon 4.4): the acting actor."""
    caller = await require_user(request, "profile", "read:accounts")
    base = request.app[keys.CONFIG].instance.base_url
    uris = request.app[keys.URIS]
    actor = caller.actor
    return json_response(
        {
            "iss": base + "/",
            "sub": uris.actor(actor.username),
            "name": actor.display_name or actor.username,
            "preferred_username": actor.username,
            "profile": uris.profile_page(actor.username),
            "picture": actor.icon_url or base + "/avatars/original/missing.png",
        }
    )


def add_routes(app: web.Application) -> None:
    r = Routes(app)
    r.post("/api/v1/apps", create_app)
    r.get("/api/v1/apps/verify_credentials", verify_app)
    r.get("/.well-known/oauth-authorization-server", server_metadata)
    app.router.add_get("/oauth/authorize", authorize_form)
    app.router.add_post("/oauth/authorize", authorize_submit)
    r.post("/oauth/token", issue_token)
    r.post("/oauth/revoke", revoke)
    r.get("/oauth/userinfo", userinfo)
    r.post("/oauth/userinfo", userinfo)
