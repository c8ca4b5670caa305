"""Following from your own server (issue 16), both ways, as Mastodon's remote follow.

- `/@NAME/remote_follow`: a visitor gives their handle `user@their.server`; we read its
  WebFinger (the SSRF-safe client of every fetch) for the
  `http://ostatus.org/schema/1.0/subscribe` template and send them (303) to it with
  `{uri}` = our actor's id. A server without one gets the handle to copy; unknown
  handles and servers that do not answer get a page saying so.
- `/authorize_interaction?uri=…`: what our own WebFinger names as that template. A
  signed-in member confirms (POST, CSRF) that one of the actors they may follow for
  follows the remote actor (`server.actions.follow`); visitors sign in first.
"""

from __future__ import annotations

import hmac
from typing import Final
from urllib.parse import quote

from aiohttp import web

from actors import accounts
from actors.accounts import new_secret
from actors.models import Actor, FollowState
from actors.remote import RemoteActorError
from federation.errors import ParseError
from federation.fetch import FetchTimeoutError
from federation.webfinger import parse_acct
from server import actions, keys
from server.web.auth import CSRF_COOKIE, set_cookie
from server.web.errors import error_response, with_error_pages
from server.web.forms import read_form, require_viewer, signed_in_form
from server.web.i18n import translate
from server.web.layout import html_page
from server.web.viewer import Viewer

__all__ = ["add_remote_follow_routes"]

MAX_FORM_BYTES: Final = 4 * 1024
LOOKUP_TIMEOUT: Final = 8.0
MAX_HANDLE: Final = 300


def _form(
    request: web.Request,
    actor_view: object,
    *,
    csrf: str,
    status: int = 200,
    error: str = "",
    handle: str = "",
    copy_handle: str = "",
) -> web.Response:
    response = html_page(
        request,
        "remote_follow.html",
        status=status,
        actor=actor_view,
        csrf_token=csrf,
        error=error,
        handle=handle,
        copy_handle=copy_handle,
    )
    set_cookie(response, request, CSRF_COOKIE, csrf, max_age=3600)
    response.headers["Cache-Control"] = "no-store"
    return response


async def remote_follow_form(request: web.Request) -> web.Response:
    entry = await request.app[keys.DOCUMENTS].get(request.match_info["username"])
    if entry is None or entry.gone:
        return error_response(request, 404, translate(request, "no such actor"))
    return _form(request, entry.view, csrf=request.cookies.get(CSRF_COOKIE) or new_secret())


async def remote_follow(request: web.Request) -> web.Response:
    entry = await request.app[keys.DOCUMENTS].get(request.match_info["username"])
    if entry is None or entry.gone:
        return error_response(request, 404, translate(request, "no such actor"))
    view = entry.view
    fields = await read_form(request, MAX_FORM_BYTES)
    handle = fields.get("handle", "").strip().removeprefix("@").removeprefix("acct:")[:MAX_HANDLE]
    cookie = request.cookies.get(CSRF_COOKIE, "")
    ours = f"@{view.username}@{request.app[keys.CONFIG].instance.host}"

    def again(status: int, error: str, **extra: str) -> web.Response:
        return _form(
            request, view, csrf=cookie or new_secret(), status=status, error=error, handle=handle,
            **extra,
        )  # fmt: skip

    if not cookie or not hmac.compare_digest(cookie, fields.get("csrf_token", "")):
        return again(403, translate(request, "This form expired. Please try again."))
    limits = request.app[keys.LIMITS]
    if limits.api_writes.enabled:
        wait = limits.api_writes.hit(f"remote-follow:{limits.client_address(request)}")
        if wait > 0:
            return again(429, translate(request, "Too many requests. Please try again later."))
    try:
        acct = parse_acct(handle)
    except ParseError:
        return again(
            422,
            translate(
                request,
                "Please give your address on your server, like user@example.org.",
            ),
        )
    svc = request.app[keys.SERVICES]
    config = request.app[keys.CONFIG].instance
    if acct.host in (config.host, config.hostname):
        # One of ours: follow here, after signing in.
        raise web.HTTPSeeOther(f"/authorize_interaction?uri={quote(view.id, safe='')}")
    try:
        template = await svc.directory.interaction_template(
            acct.user, acct.host, scheme=svc.webfinger_scheme, wait=LOOKUP_TIMEOUT
        )
    except FetchTimeoutError:
        return again(
            504,
            translate(
                request,
                "%(host)s did not answer in time. Please try again later, or search for "
                "%(handle)s in your app.",
                host=acct.host,
                handle=ours,
            ),
            copy_handle=ours,
        )
    except RemoteActorError:
        theirs = acct.user + "@" + acct.host
        return again(
            404,
            translate(
                request, "We could not find %(handle)s. Please check your address.", handle=theirs
            ),
        )
    if template is None:
        return again(
            422,
            translate(
                request,
                "Your server offers no follow page. Please search for %(handle)s in your "
                "app and follow from there.",
                handle=ours,
            ),
            copy_handle=ours,
        )
    raise web.HTTPSeeOther(template.replace("{uri}", quote(view.id, safe="")))


# --- /authorize_interaction: following a remote actor from here --------------------------------


def _target(raw: str) -> str:
    """An actor URL, or a handle without `acct:` and a leading @."""
    raw = raw.strip()[:2000]
    if raw.startswith(("https://", "http://")):
        return raw
    return raw.removeprefix("acct:").removeprefix("@")


async def _followers_for(request: web.Request, viewer: Viewer) -> list[tuple[Actor, str]]:
    """The actors the viewer may follow for, with their role's label."""
    async with request.app[keys.SESSIONMAKER]() as session:
        held = await accounts.actors_of(session, viewer.user_id)
    return [
        (actor, role.value)
        for actor, role in held
        if accounts.can(role, accounts.Action.FOLLOW) and not actor.is_instance
    ]


async def authorize_interaction(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    target = _target(request.query.get("uri", ""))
    if not target:
        return error_response(request, 400, translate(request, "Whom to follow is missing."))
    svc = request.app[keys.SERVICES]
    try:
        remote = await actions.resolve_remote(svc, target)
    except actions.ActionError:
        return error_response(
            request, 404, translate(request, "We could not find %(handle)s.", handle=target)
        )
    mine = await _followers_for(request, viewer)
    if not mine:
        return error_response(
            request, 403, translate(request, "You may not follow anyone for any actor here.")
        )
    response = html_page(
        request,
        "authorize_interaction.html",
        remote=remote,
        handle=f"{remote.username}@{remote.domain}",
        uri=remote.uri,
        actors=mine,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


async def authorize_interaction_submit(request: web.Request) -> web.Response:
    viewer, fields = await signed_in_form(request, MAX_FORM_BYTES)
    target = _target(fields.get("uri", ""))
    name = fields.get("actor", "")
    mine = {a.username_key: a for a, _ in await _followers_for(request, viewer)}
    actor = mine.get(name.lower())
    if actor is None or not target:
        return error_response(
            request, 403, translate(request, "You may not follow anyone for this actor.")
        )
    svc = request.app[keys.SERVICES]
    try:
        row = await actions.follow(svc, actor.username, target)
    except actions.ActionError as exc:
        return error_response(request, 422, str(exc))
    response = html_page(
        request,
        "authorize_interaction_done.html",
        handle=target,
        actor_name=actor.display_name or actor.username,
        pending=row.state is FollowState.PENDING,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def add_remote_follow_routes(app: web.Application) -> None:
    """Register before the post pages: their `/@NAME/{id}` would take `/@NAME/remote_follow`."""
    app.router.add_get("/@{username}/remote_follow", with_error_pages(remote_follow_form))
    app.router.add_post("/@{username}/remote_follow", with_error_pages(remote_follow))
    app.router.add_get("/authorize_interaction", with_error_pages(authorize_interaction))
    app.router.add_post("/authorize_interaction", with_error_pages(authorize_interaction_submit))
