"""Accounts: the acting actor, profiles and their posts, lookup, search, relationships, follows."""

from __future__ import annotations

import contextlib

from aiohttp import web
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.accounts import Action
from actors.local import ActorError
from actors.models import Actor, Follow, FollowState, RemoteActor
from actors.profile import ProfileChange
from federation.hashtags import hashtag_key
from outbox.models import Status, StatusTag
from outbox.timelines import paginate
from server import actions, keys
from server.api.common import (
    Caller,
    Json,
    Params,
    Routes,
    json_response,
    link_header,
    not_allowed,
    not_found,
    optional_user,
    read_page,
    read_params,
    require_user,
    validation_failed,
)
from server.api.entities import AccountInfo, View, local_info, remote_info


def view_for(request: web.Request, session: AsyncSession, caller: Caller | None) -> View:
    uris = request.app[keys.URIS]
    return View(
        session,
        uris=uris,
        viewer_uri=caller.actor_uri(uris) if caller else None,
        now=request.app[keys.CLOCK](),
    )


async def pending_count(session: AsyncSession, actor_uri: str) -> int:
    n = await session.scalar(
        select(func.count())
        .select_from(Follow)
        .where(Follow.followed_uri == actor_uri, Follow.state == FollowState.PENDING)
    )
    return int(n or 0)


async def verify_credentials(request: web.Request) -> web.Response:
    caller = await require_user(request, "profile", "read:accounts")
    async with request.app[keys.SESSIONMAKER]() as session:
        view = view_for(request, session, caller)
        actor = await session.get(Actor, caller.actor.id)
        if actor is None:
            raise not_found()
        assert caller.ctx.role is not None  # a user token always has one
        pending = (
            await pending_count(session, caller.actor_uri(view.uris))
            if caller.ctx.can(Action.DECIDE_REQUESTS)
            else 0
        )
        doc = await view.credential_account(actor, caller.ctx.role, pending)
    return json_response(doc)


def _optional_bool(params: Params, name: str) -> bool | None:
    return params.get_bool(name) if params.get(name) is not None else None


def _optional_text(params: Params, name: str) -> str | None:
    value = params.get(name)
    return None if value is None else value.replace("\r\n", "\n")


async def update_credentials(request: web.Request) -> web.Response:
    """Mastodon's profile edit for the acting actor: `display_name`, `note` (plain text),
    `locked`, `discoverable`, `indexable`, `hide_collections`; other keys (avatar,
    `fields_attributes`, `source[...]`) are ignored. Region and interests are set through
    `/api/verbund/v1/profile`. Editors and owners may; 422 names a bad value."""
    params = await read_params(request)
    caller = await require_user(request, "write:accounts")
    if not caller.ctx.can(Action.PUBLISH):
        raise not_allowed()
    change = ProfileChange(
        display_name=_optional_text(params, "display_name"),
        summary=_optional_text(params, "note"),
        locked=_optional_bool(params, "locked"),
        discoverable=_optional_bool(params, "discoverable"),
        indexable=_optional_bool(params, "indexable"),
    )
    try:
        await actions.update_profile(
            request.app[keys.SERVICES],
            caller.actor.username,
            change,
            hide_collections=_optional_bool(params, "hide_collections"),
            wake=request.app[keys.OUTBOX_WAKE].set,
        )
    except ActorError as exc:
        raise validation_failed(str(exc)) from None
    return await verify_credentials(request)


async def _info(view: View, account_id: str) -> AccountInfo:
    info = await view.account_info_by_id(account_id)
    if info is None:
        raise not_found()
    return info


async def get_account(request: web.Request) -> web.Response:
    async with request.app[keys.SESSIONMAKER]() as session:
        view = view_for(request, session, None)
        info = await _info(view, request.match_info["id"])
        return json_response(await view.account(info))


async def account_statuses(request: web.Request) -> web.Response:
    """An actor's posts newest first; `pinned` and `only_media` give `[]` (neither exists yet)."""
    params = await read_params(request)
    caller = await optional_user(request, "read:statuses")
    page = read_page(params)
    async with request.app[keys.SESSIONMAKER]() as session:
        view = view_for(request, session, caller)
        info = await _info(view, request.match_info["id"])
        if params.get_bool("pinned") or params.get_bool("only_media"):
            return json_response([])
        visibilities = view.listed_visibilities(info.uri, follows=await view.follows(info.uri))
        query = select(Status).where(
            Status.actor_uri == info.uri,
            Status.deleted_at.is_(None),
            Status.visibility.in_(visibilities),
        )
        if params.get_bool("exclude_replies"):
            query = query.where(Status.in_reply_to_uri.is_(None))
        if params.get_bool("exclude_reblogs"):
            query = query.where(Status.reblog_of_id.is_(None))
        tagged = (params.get("tagged") or "").strip().lstrip("#")
        if tagged:
            tagged_ids = select(StatusTag.status_id).where(StatusTag.tag == hashtag_key(tagged))
            query = query.where(Status.id.in_(tagged_ids))
        query, reverse = paginate(query, page)
        rows = list(await session.scalars(query))
        rows = rows[::-1] if reverse else rows
        docs = await view.statuses(rows)
    return json_response(docs, headers=link_header(request, [r.id for r in rows]))


async def lookup(request: web.Request) -> web.Response:
    """`user` or `user@domain[:port]`; our own domain counts as local. No WebFinger."""
    params = await read_params(request)
    acct = (params.get("acct") or "").strip().removeprefix("@")
    if not acct:
        raise not_found()
    async with request.app[keys.SESSIONMAKER]() as session:
        view = view_for(request, session, None)
        info = await _by_acct(request, session, acct)
        if info is None:
            raise not_found()
        return json_response(await view.account(info))


async def _by_acct(request: web.Request, session: AsyncSession, acct: str) -> AccountInfo | None:
    config = request.app[keys.CONFIG]
    user, _, host = acct.partition("@")
    if not user:
        return None
    # `host` may carry a port (`news@localhost:3000`); our port-less host name means us.
    if not host or host.lower() in (config.instance.host, config.instance.hostname):
        actor = await session.scalar(
            select(Actor).where(Actor.username_key == user.lower(), Actor.is_instance.is_(False))
        )
        return local_info(actor, request.app[keys.URIS]) if actor else None
    remote = await session.scalar(
        select(RemoteActor).where(
            func.lower(RemoteActor.username) == user.lower(), RemoteActor.domain == host.lower()
        )
    )
    return remote_info(remote) if remote else None


async def search(request: web.Request) -> web.Response:
    """Known actors whose name or display name starts with `q` (local first); no remote lookups."""
    params = await read_params(request)
    query = (params.get("q") or "").strip().removeprefix("@")
    limit = max(1, min(params.get_int("limit") or 40, 80))
    offset = params.get_int("offset") or 0
    if not query:
        return json_response([])
    async with request.app[keys.SESSIONMAKER]() as session:
        view = view_for(request, session, None)
        if "@" in query:
            exact = await _by_acct(request, session, query)
            infos = [exact] if exact else []
        else:
            prefix = query.lower().replace("%", "").replace("_", r"\_") + "%"
            local = await session.scalars(
                select(Actor)
                .where(
                    Actor.is_instance.is_(False),
                    or_(
                        Actor.username_key.like(prefix, escape="\\"),
                        func.lower(Actor.display_name).like(prefix, escape="\\"),
                    ),
                )
                .order_by(Actor.username_key)
                .limit(offset + limit)
            )
            remote = await session.scalars(
                select(RemoteActor)
                .where(
                    or_(
                        func.lower(RemoteActor.username).like(prefix, escape="\\"),
                        func.lower(RemoteActor.display_name).like(prefix, escape="\\"),
                    )
                )
                .order_by(RemoteActor.username, RemoteActor.domain)
                .limit(offset + limit)
            )
            infos = [local_info(a, view.uris) for a in local] + [remote_info(r) for r in remote]
            infos = infos[offset : offset + limit]
        return json_response(await view.accounts(infos))


async def relationships(request: web.Request) -> web.Response:
    params = await read_params(request)
    caller = await require_user(request, "read:follows")
    async with request.app[keys.SESSIONMAKER]() as session:
        view = view_for(request, session, caller)
        infos: list[AccountInfo] = []
        for account_id in params.get_list("id")[:80]:
            info = await view.account_info_by_id(account_id)
            if info is not None:
                infos.append(info)
        return json_response(await view.relationships(infos))


async def relationship_json(request: web.Request, caller: Caller, account_id: str) -> Json:
    async with request.app[keys.SESSIONMAKER]() as session:
        view = view_for(request, session, caller)
        return (await view.relationships([await _info(view, account_id)]))[0]


async def _follow_target(request: web.Request, caller: Caller) -> AccountInfo:
    if not caller.ctx.can(Action.FOLLOW):
        raise not_allowed()
    async with request.app[keys.SESSIONMAKER]() as session:
        view = view_for(request, session, caller)
        info = await _info(view, request.match_info["id"])
    if info.local_id == caller.actor.id:
        raise not_allowed()
    return info


async def follow(request: web.Request) -> web.Response:
    """Follow as the acting actor (editors and owners); the Follow goes out through the outbox."""
    caller = await require_user(request, "write:follows")
    info = await _follow_target(request, caller)
    try:
        await actions.follow(request.app[keys.SERVICES], caller.actor.username, info.uri)
    except actions.ActionError as exc:
        raise validation_failed(str(exc)) from None
    request.app[keys.OUTBOX_WAKE].set()
    return json_response(await relationship_json(request, caller, info.id))


async def unfollow(request: web.Request) -> web.Response:
    """Idempotent, as in Mastodon: unfollowing someone not followed is no error."""
    caller = await require_user(request, "write:follows")
    info = await _follow_target(request, caller)
    with contextlib.suppress(actions.ActionError):
        await actions.unfollow(request.app[keys.SERVICES], caller.actor.username, info.uri)
    request.app[keys.OUTBOX_WAKE].set()
    return json_response(await relationship_json(request, caller, info.id))


def add_routes(app: web.Application) -> None:
    r = Routes(app)
    r.get("/api/v1/accounts/verify_credentials", verify_credentials)
    r.patch("/api/v1/accounts/update_credentials", update_credentials)
    r.get("/api/v1/accounts/lookup", lookup)
    r.get("/api/v1/accounts/search", search)
    r.get("/api/v1/accounts/relationships", relationships)
    r.get(r"/api/v1/accounts/{id:\d+}", get_account)
    r.get(r"/api/v1/accounts/{id:\d+}/statuses", account_statuses)
    r.post(r"/api/v1/accounts/{id:\d+}/follow", follow)
    r.post(r"/api/v1/accounts/{id:\d+}/unfollow", unfollow)
