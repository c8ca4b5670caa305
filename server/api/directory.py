"""The directory in the client API: Mastodon's `GET /api/v1/directory` and our
`GET /api/verbund/v1/directory` with the structured region and interests. Both are public
(no token), as Mastodon's directory is, and both take the directory filters `region`,
`interest` (repeatable, comma lists), `match=any|all`, `type` and `q` besides Mastodon's
`local`, `order=active|new`, `offset` and `limit`.

Account ids of cached peer entries (docs/api.md): the `remote_actors` id (REMOTE_ID_OFFSET
space) when we hold the actor's document, so that following and the account routes work
with it; otherwise `directory_entries.id + DIRECTORY_ID_OFFSET`, stable while the entry
stays cached. Such an id is not (yet) an account the account routes know: a client looks
the handle up (`/api/v1/accounts/lookup?acct=`) to follow it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from aiohttp import web
from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.directory import (
    MAX_OFFSET,
    DirectoryHit,
    DirectoryQuery,
    DirectoryQueryError,
    LastPostAt,
    search,
)
from actors.links import ListedLink, links_for_listing
from actors.models import Actor, RemoteActor
from actors.regions import region_name
from federation.content import plain_text
from federation.directory import DirectoryParamError, parse_directory_params
from outbox.models import Status, Visibility
from server import keys
from server.api.common import (
    Json,
    Params,
    Routes,
    api_datetime,
    json_response,
    read_params,
    validation_failed,
)
from server.api.entities import (
    DIRECTORY_ID_OFFSET,
    AccountInfo,
    View,
    local_info,
    remote_info,
)

DEFAULT_LIMIT = 40
MAX_LIMIT = 80


def last_post_at(actor_uri: ColumnElement[str]) -> ColumnElement[Any]:
    """The newest public or unlisted post of a local actor: one seek backwards on the
    (actor_uri, id) index, ids being snowflakes of the publishing time."""
    return (
        select(Status.published_at)
        .where(
            Status.actor_uri == actor_uri,
            Status.deleted_at.is_(None),
            Status.visibility.in_([Visibility.PUBLIC, Visibility.UNLISTED]),
        )
        .order_by(Status.id.desc())
        .limit(1)
        .scalar_subquery()
    )


_LAST_POST_AT: LastPostAt = last_post_at


def _number(params: Params, name: str, default: int, high: int, *, clamp: bool) -> int:
    raw = params.get(name)
    if raw is None or not raw.strip():
        return default
    text = raw.strip()
    if not text.isdigit() or len(text) > 18:
        raise validation_failed(f"{name} must be a whole number from 0 to {high}")
    value = int(text)
    if value > high:
        if not clamp:
            raise validation_failed(f"{name} must be at most {high}")
        value = high
    return value


async def _search(
    request: web.Request, *, clamp_limit: bool, look_ahead: int = 0
) -> tuple[DirectoryQuery, list[DirectoryHit]]:
    """The query the request asks for and its hits (`look_ahead` more than its limit)."""
    params = await read_params(request)
    try:
        filters = parse_directory_params(list(request.query.items()))
    except DirectoryParamError as exc:
        raise validation_failed(str(exc)) from None
    order = (params.get("order") or "active").strip().lower()
    if order not in ("active", "new"):
        raise validation_failed("order must be 'active' or 'new'")
    limit = _number(params, "limit", DEFAULT_LIMIT, MAX_LIMIT, clamp=clamp_limit)
    query = DirectoryQuery(
        region=filters.region,
        interests=filters.interests,
        match_all=filters.match_all,
        types=filters.types,
        text=filters.text,
        local_only=params.get_bool("local"),
        order=order,
        offset=_number(params, "offset", 0, MAX_OFFSET, clamp=False),
        limit=max(1, limit),
    )
    try:
        async with request.app[keys.SESSIONMAKER]() as session:
            hits = await search(
                session,
                replace(query, limit=query.limit + look_ahead),
                local_domain=request.app[keys.CONFIG].instance.host,
                uris=request.app[keys.URIS],
                last_post_at=_LAST_POST_AT,
            )
    except DirectoryQueryError as exc:
        raise validation_failed(str(exc)) from None
    return query, hits


def _entry_info(hit: DirectoryHit) -> AccountInfo:
    note = hit.summary_html
    assert hit.entry_id is not None
    return AccountInfo(
        id=str(hit.entry_id + DIRECTORY_ID_OFFSET),
        uri=hit.actor_uri,
        username=hit.username,
        acct=hit.handle,
        url=hit.url or hit.actor_uri,
        display_name=hit.display_name,
        note_html=note,
        note_text=plain_text(note) if note else "",
        avatar=hit.icon_url,
        type=hit.type,
        locked=False,
        discoverable=True,
        hide_collections=False,
        created_at=hit.updated_at,
        local_id=None,
    )


async def _account_infos(
    session: AsyncSession, view: View, hits: list[DirectoryHit]
) -> list[AccountInfo]:
    local_ids = [h.local_actor_id for h in hits if h.local_actor_id is not None]
    actors = {a.id: a for a in await session.scalars(select(Actor).where(Actor.id.in_(local_ids)))}
    remote_uris = [h.actor_uri for h in hits if h.local_actor_id is None]
    remotes = {
        r.uri: r
        for r in await session.scalars(select(RemoteActor).where(RemoteActor.uri.in_(remote_uris)))
    }
    infos: list[AccountInfo] = []
    for hit in hits:
        if hit.local_actor_id is not None:
            actor = actors.get(hit.local_actor_id)
            if actor is not None:
                infos.append(local_info(actor, view.uris))
        elif hit.actor_uri in remotes:
            infos.append(remote_info(remotes[hit.actor_uri]))
        else:
            infos.append(_entry_info(hit))
    return infos


async def mastodon_directory(request: web.Request) -> web.Response:
    """Mastodon's profile directory: Account entities. `limit` above 80 is cut to 80, as
    Mastodon does; a limit or offset that is not a number is refused (422)."""
    _query, hits = await _search(request, clamp_limit=True)
    async with request.app[keys.SESSIONMAKER]() as session:
        view = View(
            session, uris=request.app[keys.URIS], viewer_uri=None, now=request.app[keys.CLOCK]()
        )
        docs = await view.accounts(await _account_infos(session, view, hits))
    return json_response(docs)


def _region_json(hit: DirectoryHit) -> Json | None:
    if not hit.region_code:
        return None
    return {
        "code": hit.region_code,
        "name_en": region_name(hit.region_code, "en"),
        "name_de": region_name(hit.region_code, "de"),
        "locality": hit.locality,
        "postal_prefix": hit.postal_prefix,
    }


def hit_json(hit: DirectoryHit, links: Sequence[ListedLink] = ()) -> Json:
    return {
        "handle": hit.handle,
        "actor_uri": hit.actor_uri,
        "url": hit.url,
        "type": hit.type,
        "display_name": hit.display_name,
        "note": hit.summary_html,
        "avatar": hit.icon_url,
        "region": _region_json(hit),
        "interests": list(hit.interests),
        "peer": hit.peer,
        "updated_at": api_datetime(hit.updated_at),
        # Confirmed organisation links only (issue 15): what each `uri` is to this actor.
        "links": [{"kind": k.kind.value, "uri": k.uri, "acct": k.handle} for k in links],
    }


async def verbund_directory(request: web.Request) -> web.Response:
    """`{"items": [...], "offset", "limit", "next_offset"}`; a limit above 80 is refused."""
    query, hits = await _search(request, clamp_limit=False, look_ahead=1)
    more = len(hits) > query.limit
    hits = hits[: query.limit]
    svc = request.app[keys.SERVICES]
    async with request.app[keys.SESSIONMAKER]() as session:
        listed = await links_for_listing(
            session, svc.uris, svc.config.instance.host, [h.actor_uri for h in hits]
        )
    return json_response(
        {
            "items": [hit_json(h, listed.get(h.actor_uri, ())) for h in hits],
            "offset": query.offset,
            "limit": query.limit,
            "next_offset": query.offset + query.limit if more else None,
        }
    )


def add_routes(app: web.Application) -> None:
    r = Routes(app)
    r.get("/api/v1/directory", mastodon_directory)
    r.get("/api/verbund/v1/directory", verbund_directory)


__all__ = ["DIRECTORY_ID_OFFSET", "add_routes", "hit_json", "last_post_at"]
