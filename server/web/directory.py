"""`GET /directory`: the directory as a page for people and as an ActivityStreams
collection for peer instances (docs/federation.md), negotiated on `Accept`.

The page searches our discoverable actors and the entries cached from peers; the
collection lists only our own actors (peers do not re-share what they read elsewhere).
With `directory.share_with = "peers"` the collection needs a signature by an actor of an
instance on `directory.peers` (verified as authorized fetch verifies GETs); the page
stays public.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from aiohttp import web

from actors.directory import (
    MAX_OFFSET,
    DirectoryHit,
    DirectoryQuery,
    DirectoryQueryError,
    directory_item,
    listing_basis,
    listing_page,
    search,
)
from actors.links import ListedLink, linked_domains, links_for_listing
from actors.models import LinkKind
from actors.peers import is_operator_peer
from actors.regions import region_name
from federation.directory import (
    Cursor,
    DirectoryParamError,
    DirectoryParams,
    directory_etag,
    etag_matches,
    filter_pairs,
    parse_directory_params,
    render_directory_collection,
    render_directory_item,
    render_directory_page,
    render_tombstone,
    wants_directory_json,
)
from federation.documents import format_datetime
from federation.signatures import SignatureError
from federation.webfinger import acct_domain
from server import keys
from server.web.activitypub import verify_get
from server.web.errors import with_error_pages
from server.web.i18n import language_of, translate
from server.web.layout import html_page

__all__ = ["add_directory_routes", "page_language"]

AP_TYPE = "application/activity+json"
HTML_PAGE_SIZE = 20
PATH = "/directory"


def _json(doc: object, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(
        doc, status=status, content_type=AP_TYPE, headers={"Vary": "Accept", **(headers or {})}
    )


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(
        {"error": message}, status=status, headers={"Vary": "Accept", **(headers or {})}
    )


def _query(
    params: DirectoryParams, *, offset: int = 0, limit: int = 40, local_only: bool = False
) -> DirectoryQuery:
    return DirectoryQuery(
        region=params.region,
        interests=params.interests,
        match_all=params.match_all,
        types=params.types,
        text=params.text,
        local_only=local_only,
        offset=offset,
        limit=limit,
    )


# --- the collection -------------------------------------------------------------------------


async def _is_peer(request: web.Request, host: str) -> bool:
    """On `directory.peers`, added by the operator, or (`link_peers`) the instance of a
    confirmed link."""
    config = request.app[keys.CONFIG]
    if host in config.directory.peers:
        return True
    async with request.app[keys.SESSIONMAKER]() as session:
        if await is_operator_peer(session, host):  # added on the admin pages
            return True
        if not config.directory.link_peers:
            return False
        return host in await linked_domains(session, own_host=config.instance.host)


async def _peer_refusal(request: web.Request) -> web.Response | None:
    """With `share_with = "peers"`: None for a GET signed by an actor of a peer instance,
    else the 401 (no or bad signature) or 403 (not a peer) to answer."""
    config = request.app[keys.CONFIG]
    if config.directory.share_with != "peers":
        return None
    try:
        verified = await verify_get(request)
    except SignatureError as exc:
        reason = exc.reason.value
        return _error(
            401,
            f"this directory is shared with peer instances only: signature {reason}",
            {
                "WWW-Authenticate": (
                    f'Signature realm="{config.instance.domain}", '
                    f'headers="(request-target) host date", error="{reason}"'
                )
            },
        )
    request[keys.SIGNER] = verified.key_id
    host = acct_domain(verified.owner)
    if not await _is_peer(request, host) or not request.app[keys.POLICY].allows_url(verified.owner):
        return _error(403, f"{host or 'the signer'} is not a directory peer of this instance")
    return None


async def collection(request: web.Request) -> web.Response:
    refusal = await _peer_refusal(request)
    if refusal is not None:
        return refusal
    try:
        params = parse_directory_params(list(request.query.items()))
    except DirectoryParamError as exc:
        return _error(400, str(exc))
    config = request.app[keys.CONFIG]
    uris = request.app[keys.URIS]
    page_size = config.directory.page_size
    query = _query(params)
    base = uris.base_url + PATH
    pairs = filter_pairs(params)
    if params.since is not None:
        pairs.append(("since", format_datetime(params.since)))
    try:
        async with request.app[keys.SESSIONMAKER]() as session:
            total, newest = await listing_basis(session, query, since=params.since)
            etag = directory_etag(
                base,
                urlencode(pairs),
                params.page,
                params.before,
                page_size,
                total,
                newest.isoformat() if newest else "",
            )
            headers = {"ETag": etag}
            if etag_matches(request.headers.get("If-None-Match"), etag):
                return web.Response(status=304, headers={"Vary": "Accept", **headers})
            if not params.page:
                return _json(
                    render_directory_collection(base, query=pairs, total=total), headers=headers
                )
            actors = await listing_page(
                session, query, since=params.since, before=params.before, limit=page_size + 1
            )
    except DirectoryQueryError as exc:
        return _error(400, str(exc))
    shown = actors[:page_size]
    items: list[object] = []
    for actor in shown:
        if actor.discoverable:
            items.append(render_directory_item(directory_item(actor, uris)))
        else:
            changed = actor.profile_changed_at or actor.updated_at
            items.append(render_tombstone(uris.actor(actor.username), actor.type, changed))
    next_cursor = None
    if len(actors) > page_size and shown:
        last = shown[-1]
        assert last.profile_changed_at is not None  # the listing's WHERE requires it
        next_cursor = Cursor(last.profile_changed_at, last.id)
    doc = render_directory_page(
        base, query=pairs, before=params.before, items=items, next_cursor=next_cursor
    )
    return _json(doc, headers=headers)


# --- the page -------------------------------------------------------------------------------


def page_language(accept_language: str) -> str:
    """ "de" when the most preferred language of `Accept-Language` is German, else "en";
    of equally preferred ones the first listed wins."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")[:50]):
        tag, _, params = part.partition(";")
        q = 1.0
        name, _, value = params.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value)
            except ValueError:
                continue
        if q > 0 and tag.strip():
            ranked.append((q, -position, tag.strip().lower().split("-")[0]))
    return "de" if ranked and max(ranked)[2] == "de" else "en"


@dataclass(frozen=True, slots=True)
class HitView:
    """One result as the page shows it."""

    name: str
    handle: str
    type: str
    link: str
    region: str
    interests: tuple[str, ...]
    lives: str  # "this instance" or the peer's domain
    is_local: bool
    # Confirmed organisation links (issue 15), as "Part of @x", "Branch @y", "Partner @z".
    links: tuple[str, ...] = ()


def _region_text(hit: DirectoryHit, language: str) -> str:
    if not hit.region_code:
        return ""
    named = f"{region_name(hit.region_code, language)} ({hit.region_code})"
    return f"{hit.locality}, {named}" if hit.locality else named


def _link_label(request: web.Request, kind: LinkKind, handle: str) -> str:
    if kind == LinkKind.PARENT:
        return translate(request, "part of @%(handle)s", handle=handle)
    if kind == LinkKind.BRANCH:
        return translate(request, "branch @%(handle)s", handle=handle)
    return translate(request, "partner @%(handle)s", handle=handle)


def type_label(request: web.Request, type_: str) -> str:
    """An actor type as pages name it, in the page's language."""
    labels = {
        "Organization": translate(request, "Organisation"),
        "Group": translate(request, "Group"),
        "Person": translate(request, "Person"),
        "Application": translate(request, "Instance"),
        "Service": translate(request, "Service"),
    }
    return labels.get(type_, type_)


def _hit_view(
    request: web.Request, hit: DirectoryHit, language: str, links: Sequence[ListedLink] = ()
) -> HitView:
    return HitView(
        name=hit.display_name or hit.username,
        handle=f"@{hit.handle}",
        type=type_label(request, hit.type),
        link=hit.url or hit.actor_uri,
        region=_region_text(hit, language),
        interests=hit.interests,
        lives="this instance" if hit.peer is None else hit.peer,
        is_local=hit.peer is None,
        links=tuple(_link_label(request, k.kind, k.handle) for k in links),
    )


async def page(request: web.Request) -> web.Response:
    language = language_of(request)
    form = {
        "region": request.query.get("region", ""),
        "interest": ", ".join(request.query.getall("interest", [])),
        "match": request.query.get("match", "any"),
        "type": request.query.get("type", ""),
        "q": request.query.get("q", ""),
        "local": bool(request.query.get("local")),
    }

    def render(status: int, **context: object) -> web.Response:
        return html_page(
            request,
            "directory.html",
            status=status,
            form=form,
            language=language,
            **context,
        )

    offset_raw = request.query.get("offset", "0").strip() or "0"
    if not offset_raw.isdigit() or len(offset_raw) > 7 or int(offset_raw) > MAX_OFFSET:
        return render(
            400,
            error=translate(request, "offset must be a number from 0 to %(max)s", max=MAX_OFFSET),
            hits=[],
        )
    offset = int(offset_raw)
    try:
        params = parse_directory_params(list(request.query.items()))
        query = _query(
            params, offset=offset, limit=HTML_PAGE_SIZE + 1, local_only=bool(form["local"])
        )
        async with request.app[keys.SESSIONMAKER]() as session:
            hits = await search(
                session,
                query,
                local_domain=request.app[keys.CONFIG].instance.host,
                uris=request.app[keys.URIS],
            )
            listed = await links_for_listing(
                session,
                request.app[keys.URIS],
                request.app[keys.CONFIG].instance.host,
                [h.actor_uri for h in hits[:HTML_PAGE_SIZE]],
            )
    except (DirectoryParamError, DirectoryQueryError) as exc:
        return render(400, error=str(exc), hits=[])
    kept = filter_pairs(params) + ([("local", "1")] if form["local"] else [])

    def link(at: int) -> str:
        return f"{PATH}?{urlencode([*kept, ('offset', str(at))])}"

    return render(
        200,
        error=None,
        hits=[
            _hit_view(request, h, language, listed.get(h.actor_uri, ()))
            for h in hits[:HTML_PAGE_SIZE]
        ],
        searched=bool(kept),
        next_url=link(offset + HTML_PAGE_SIZE) if len(hits) > HTML_PAGE_SIZE else None,
        prev_url=link(max(0, offset - HTML_PAGE_SIZE)) if offset > 0 else None,
    )


async def directory(request: web.Request) -> web.Response:
    if wants_directory_json(request.headers.get("Accept", "")):
        return await collection(request)
    return await page(request)


def add_directory_routes(app: web.Application) -> None:
    app.router.add_get(PATH, with_error_pages(directory))
