"""Discovery routes: WebFinger, host-meta, NodeInfo and actor documents.

These are the hottest read paths: handlers answer from ActorDocuments' cache
with prebuilt bytes and touch the database only on a cache miss.
"""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version
from urllib.parse import unquote

from aiohttp import web

from actors.documents import CachedActor
from actors.local import count_actors
from federation.documents import (
    LD_JSON,
    VERBUND_CONTEXT_PATH,
    render_verbund_context,
    wants_activity_json,
)
from federation.errors import ParseError
from federation.nodeinfo import VERSIONS, NodeStats, render_nodeinfo, render_nodeinfo_links
from federation.webfinger import parse_acct, render_host_meta_json, render_host_meta_xrd
from server import keys
from server.web.activitypub import signed_get
from server.web.errors import error_response, internal_error, not_found, with_error_pages
from server.web.pages import render_profile

CORS = {"Access-Control-Allow-Origin": "*"}
AP_HEADERS = {"Content-Type": "application/activity+json", "Vary": "Accept", **CORS}
JRD_HEADERS = {"Content-Type": "application/jrd+json", **CORS}


def software_version() -> str:
    try:
        return version("verbund")
    except PackageNotFoundError:
        return "0.0.0"


def json_response(
    doc: object, *, status: int = 200, content_type: str = "application/json"
) -> web.Response:
    return web.Response(
        body=json.dumps(doc, ensure_ascii=False).encode(),
        status=status,
        headers={"Content-Type": f"{content_type}; charset=utf-8", **CORS},
    )


def json_error(status: int, message: str) -> web.Response:
    return json_response({"error": message}, status=status)


def _split_acct(resource: str) -> tuple[str, str | None]:
    """(user, host) of an `acct:` resource, lower-cased; host None if it is no handle.

    Our instance actor is named after the domain, port and all (`acct:localhost:8080@
    localhost:8080`, as Mastodon's), which is no valid user part, so it is matched first.
    """
    text = unquote(resource).strip().lower().removeprefix("acct:")
    user, _, host = text.rpartition("@")
    if ":" in user:
        return (user, host) if user == host else ("", None)
    try:
        acct = parse_acct(resource)
    except ParseError:
        return "", None
    return acct.user, acct.host


async def webfinger(request: web.Request) -> web.Response:
    """Answers `acct:user@<domain>` (port included when the domain has one) and, leniently,
    the port-less `acct:user@<host name>`; the `subject` is always the handle with the port.
    A handle on another port is another instance: 404."""
    resource = request.query.get("resource")
    if not resource:
        return json_error(400, "missing resource parameter")
    docs = request.app[keys.DOCUMENTS]
    config = request.app[keys.CONFIG]
    entry: CachedActor | None = None
    uris = request.app[keys.URIS]
    if uris.is_local(resource) and resource != uris.front_page:
        name = uris.username_of(resource) or uris.page_username(resource)
        if resource == uris.instance_actor:
            entry = await docs.instance()
        elif name is not None:
            entry = await docs.get(name)
        else:
            return json_error(404, "unknown resource")
    else:
        user, host = _split_acct(resource)
        if host is None:
            return json_error(400, "resource must be acct:user@host or an actor URL")
        if host not in (config.instance.host, config.instance.hostname):
            return json_error(404, "not a user of this instance")
        if user in (config.instance.host, config.instance.hostname):
            entry = await docs.instance()
        else:
            entry = await docs.get(user)
    if entry is None:
        return json_error(404, "no such user")
    if entry.gone:
        return json_error(410, "deleted")
    return web.Response(body=entry.jrd_json, headers=JRD_HEADERS)


async def host_meta(request: web.Request) -> web.Response:
    base = request.app[keys.CONFIG].instance.base_url
    if "json" in request.headers.get("Accept", "") and "xml" not in request.headers.get(
        "Accept", ""
    ):
        return json_response(render_host_meta_json(base), content_type="application/json")
    return web.Response(
        text=render_host_meta_xrd(base),
        content_type="application/xrd+xml",
        headers=CORS,
    )


async def host_meta_json(request: web.Request) -> web.Response:
    return json_response(render_host_meta_json(request.app[keys.CONFIG].instance.base_url))


async def nodeinfo_links(request: web.Request) -> web.Response:
    return json_response(render_nodeinfo_links(request.app[keys.CONFIG].instance.base_url))


async def nodeinfo(request: web.Request) -> web.Response:
    ver = request.match_info["version"]
    if ver not in VERSIONS:
        return json_error(404, "unknown NodeInfo version")
    settings = await request.app[keys.SETTINGS].get(request.app[keys.SESSIONMAKER])
    async with request.app[keys.SESSIONMAKER]() as session:
        users = await count_actors(session)
    doc = render_nodeinfo(
        ver,
        software_version=software_version(),
        open_registrations=settings.registration_mode == "approval",
        stats=NodeStats(
            users_total=users,
            users_active_month=users,
            users_active_halfyear=users,
            local_posts=0,
        ),
        node_name=settings.name,
        node_description=settings.description,
    )
    profile = f"http://nodeinfo.diaspora.software/ns/schema/{ver}#"
    return json_response(doc, content_type=f'application/json; profile="{profile}"')


async def _actor_response(
    request: web.Request, entry: CachedActor, *, public: bool = False
) -> web.Response:
    if wants_activity_json(request.headers.get("Accept", "")):
        if not public and request.app[keys.CONFIG].federation.authorized_fetch:
            try:
                await signed_get(request)
            except web.HTTPUnauthorized:
                # Unsigned fetches still get the key, as under Mastodon's AUTHORIZED_FETCH.
                return web.Response(body=entry.bare_json, headers=AP_HEADERS)
        return web.Response(body=entry.actor_json, headers=AP_HEADERS)
    return await render_profile(request, entry.view)


async def actor(request: web.Request) -> web.Response:
    # The hottest read path: errors are caught here, inline (free until one is raised),
    # rather than by a wrapper that every request would pay for.
    try:
        entry = await request.app[keys.DOCUMENTS].get(request.match_info["username"])
        if entry is None:
            return not_found(request, "no such actor")
        if entry.gone:
            return error_response(request, 410, "this actor was deleted")
        return await _actor_response(request, entry)
    except web.HTTPException:
        raise
    except Exception:
        return internal_error(request)


async def instance_actor(request: web.Request) -> web.Response:
    entry = await request.app[keys.DOCUMENTS].instance()
    if entry is None:
        return not_found(request, "no instance actor yet")
    return await _actor_response(request, entry, public=True)


# The context never changes within a release: peers and JSON-LD processors may keep it.
_CONTEXT_BODY = json.dumps(render_verbund_context(), ensure_ascii=False, indent=2).encode()
_CONTEXT_HEADERS = {
    "Content-Type": f"{LD_JSON}; charset=utf-8",
    "Cache-Control": "public, max-age=86400",
    **CORS,
}


async def verbund_context(request: web.Request) -> web.Response:
    """Our JSON-LD context (`region`, `locality`, `postalCodePrefix`, `interests`)."""
    return web.Response(body=_CONTEXT_BODY, headers=_CONTEXT_HEADERS)


def add_discovery_routes(app: web.Application) -> None:
    app.router.add_get("/.well-known/webfinger", with_error_pages(webfinger))
    app.router.add_get("/.well-known/host-meta", with_error_pages(host_meta))
    app.router.add_get("/.well-known/host-meta.json", with_error_pages(host_meta_json))
    app.router.add_get("/.well-known/nodeinfo", with_error_pages(nodeinfo_links))
    app.router.add_get("/nodeinfo/{version}", with_error_pages(nodeinfo))
    app.router.add_get("/users/{username}", actor)
    app.router.add_get("/actor", with_error_pages(instance_actor))
    app.router.add_get(VERBUND_CONTEXT_PATH, verbund_context)
