"""`/api/verbund/v1/…`: what Mastodon's API lacks, for organisations run by several people.

A person's actors and roles, the staff of the acting actor (owners grant and
revoke roles), tokens for another actor the person holds a role on (switching
organisation without logging in again), and which person wrote a post. The
shapes are described in docs/openapi-verbund.json.
"""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from actors import accounts
from actors.accounts import Action
from actors.local import ActorError, find_actor
from actors.models import Actor, RoleName, User
from actors.profile import ProfileChange, actor_region
from actors.regions import region_name
from outbox.models import Status
from server import actions, keys
from server.api.accounts import view_for
from server.api.common import (
    ApiError,
    Caller,
    Json,
    Routes,
    api_datetime,
    api_datetime_or_none,
    json_response,
    not_allowed,
    not_found,
    parse_id,
    read_json,
    read_params,
    require_user,
    validation_failed,
)
from server.api.entities import local_info


def user_json(user_id: int, username: str) -> Json:
    return {"id": str(user_id), "username": username}


def role_json(view: accounts.RoleView) -> Json:
    return {
        "user": user_json(view.user_id, view.username),
        "actor": view.actor_username,
        "role": view.role.value,
        "permissions": sorted(a.value for a in accounts.PERMISSIONS[view.role]),
        "created_at": api_datetime(view.created_at),
    }


async def my_actors(request: web.Request) -> web.Response:
    """The actors the token's person holds roles on, with the role and what it permits."""
    caller = await require_user(request, "read:accounts", "profile")
    async with request.app[keys.SESSIONMAKER]() as session:
        held = await accounts.actors_of(session, caller.user.id)
        view = view_for(request, session, caller)
        docs = await view.accounts([local_info(a, view.uris) for a, _ in held])
    return json_response(
        [
            {
                "account": doc,
                "role": role.value,
                "permissions": sorted(a.value for a in accounts.PERMISSIONS[role]),
                "acting": actor.id == caller.actor.id,
            }
            for (actor, role), doc in zip(held, docs, strict=True)
        ]
    )


async def list_staff(request: web.Request) -> web.Response:
    """Who holds which role on the acting actor (any of its staff may look)."""
    caller = await require_user(request, "read:accounts")
    async with request.app[keys.SESSIONMAKER]() as session:
        views = await accounts.list_roles(session, actor_id=caller.actor.id)
    return json_response([role_json(v) for v in views])


def _owner(caller: Caller) -> None:
    if not caller.ctx.can(Action.MANAGE_ROLES):
        raise not_allowed()


async def _user(session: AsyncSession, username: str) -> User:
    user = await accounts.find_user(session, username)
    if user is None:
        raise validation_failed(f"no user named {username!r}")
    return user


async def grant(request: web.Request) -> web.Response:
    """Owners only: give a person a role on the acting actor (or change theirs)."""
    params = await read_params(request)
    caller = await require_user(request, "write:accounts")
    _owner(caller)
    try:
        role = RoleName(params.require("role"))
    except ValueError:
        raise validation_failed("role must be owner, editor or moderator") from None
    async with request.app[keys.SESSIONMAKER]() as session:
        user = await _user(session, params.require("username"))
        actor = await session.get(Actor, caller.actor.id)
        assert actor is not None
        try:
            await accounts.grant_role(
                session, user=user, actor=actor, role=role, now=request.app[keys.CLOCK]()
            )
        except accounts.AccountError as exc:
            raise validation_failed(str(exc)) from None
        await session.commit()
        views = await accounts.list_roles(session, actor_id=actor.id, user_id=user.id)
    return json_response(role_json(views[0]))


async def revoke_staff(request: web.Request) -> web.Response:
    """Owners only: take a person's role on the acting actor away (their tokens for it too)."""
    caller = await require_user(request, "write:accounts")
    _owner(caller)
    async with request.app[keys.SESSIONMAKER]() as session:
        user = await accounts.find_user(session, request.match_info["username"])
        actor = await session.get(Actor, caller.actor.id)
        if user is None or actor is None:
            raise not_found()
        try:
            await accounts.revoke_role(
                session, user=user, actor=actor, now=request.app[keys.CLOCK]()
            )
        except accounts.NoRoleError:
            raise not_found() from None
        except accounts.LastOwnerError as exc:
            raise validation_failed(str(exc)) from None
        await session.commit()
    return json_response({})


def token_view_json(view: accounts.TokenView) -> Json:
    return {
        "id": str(view.id),
        "name": view.name,
        "actor": view.actor_username,
        "application": view.app_name,
        "scopes": list(view.scopes),
        "created_at": api_datetime(view.created_at),
        "last_used_at": api_datetime_or_none(view.last_used_at),
    }


async def list_tokens(request: web.Request) -> web.Response:
    caller = await require_user(request, "read:accounts")
    async with request.app[keys.SESSIONMAKER]() as session:
        views = await accounts.list_tokens(session, user_id=caller.user.id)
    return json_response([token_view_json(v) for v in views])


async def create_token(request: web.Request) -> web.Response:
    """A token for the same person acting for another actor they hold a role on.

    Its scopes are at most those of the calling token (default: the same).
    """
    params = await read_params(request)
    caller = await require_user(request, "write:accounts")
    name = params.require("actor").removeprefix("@").split("@")[0]
    try:
        scopes = accounts.parse_scopes(
            params.get("scopes") or params.get("scope") or "", default=()
        )
    except accounts.InvalidScopeError as exc:
        raise validation_failed(str(exc)) from None
    granted = accounts.expand_scopes(caller.ctx.scopes)
    if not scopes:
        scopes = tuple(sorted(caller.ctx.scopes))
    if not set(scopes) <= granted:
        raise ApiError(403, "This action is outside the authorized scopes")
    async with request.app[keys.SESSIONMAKER]() as session:
        actor = await find_actor(session, name)
        role = await accounts.role_of(session, caller.user.id, actor.id) if actor else None
        if actor is None or role is None:
            raise not_found()
        issued = await accounts.create_token(
            session,
            user=caller.user,
            actor=actor,
            scopes=scopes,
            name=(params.get("name") or "")[:200],
            app_id=caller.ctx.app_id,
            now=request.app[keys.CLOCK](),
        )
        await session.commit()
        account = await view_for(request, session, caller).account(
            local_info(actor, request.app[keys.URIS])
        )
    return json_response(
        {
            "id": str(issued.id),
            "access_token": issued.token,
            "token_type": "Bearer",
            "scope": " ".join(issued.scopes),
            "created_at": int(issued.created_at.timestamp()),
            "account": account,
            "role": role.value,
        }
    )


async def revoke_token(request: web.Request) -> web.Response:
    """Revoke one of the person's own tokens (the calling one included)."""
    caller = await require_user(request, "write:accounts")
    token_id = request.match_info["id"]
    async with request.app[keys.SESSIONMAKER]() as session:
        try:
            await accounts.revoke_token(
                session, int(token_id), user_id=caller.user.id, now=request.app[keys.CLOCK]()
            )
        except accounts.UnknownTokenError:
            raise not_found() from None
        await session.commit()
    return json_response({})


async def status_author(request: web.Request) -> web.Response:
    """Which person wrote a post of the acting actor: staff only, never published."""
    caller = await require_user(request, "read:statuses")
    async with request.app[keys.SESSIONMAKER]() as session:
        view = view_for(request, session, caller)
        status_id = request.match_info["id"]
        number = parse_id(status_id)
        row = await session.get(Status, number) if number is not None else None
        if row is None or not await view.visible([row]):
            raise not_found()
        if row.local_actor_id != caller.actor.id or not caller.ctx.can(Action.VIEW_AUTHORS):
            raise not_allowed()
        author = await session.get(User, row.author_user_id) if row.author_user_id else None
    return json_response(
        {
            "status_id": str(row.id),
            "actor": caller.actor.username,
            "user": user_json(author.id, author.username) if author else None,
        }
    )


def profile_json(actor: Actor) -> Json:
    """The directory profile of an actor, as `GET /api/verbund/v1/profile` returns it."""
    region = actor_region(actor)
    return {
        "region": None
        if region is None
        else {
            "code": region.code,
            "name_en": region_name(region.code, "en"),
            "name_de": region_name(region.code, "de"),
            "locality": region.locality,
            "postal_prefix": region.postal_prefix,
        },
        "interests": [n for n in actor.interests if isinstance(n, str)],
        "discoverable": actor.discoverable,
        "indexable": actor.indexable,
    }


async def get_profile(request: web.Request) -> web.Response:
    caller = await require_user(request, "read:accounts")
    async with request.app[keys.SESSIONMAKER]() as session:
        actor = await session.get(Actor, caller.actor.id)
        if actor is None:
            raise not_found()
        return json_response(profile_json(actor))


def _read_profile_change(body: object) -> ProfileChange:
    """A JSON object with any of `region` (an object, a code, or null to clear),
    `interests` (a list of names), `discoverable`, `indexable`; 422 names a bad key."""
    if not isinstance(body, dict):
        raise validation_failed("the body must be a JSON object")
    region: str | None = None
    locality: str | None = None
    postal: str | None = None
    if "region" in body:
        value = body["region"]
        if value is None or value == "":
            region = ""
        elif isinstance(value, str):
            region = value
        elif isinstance(value, dict):
            code = value.get("code")
            if not isinstance(code, str):
                raise validation_failed("region.code must be a string")
            region = code
            locality = _text_or_none(value, "locality")
            postal = _text_or_none(value, "postal_prefix")
        else:
            raise validation_failed("region must be an object, a code or null")
    interests: list[str] | None = None
    if "interests" in body:
        listed = body["interests"]
        if not isinstance(listed, list) or not all(isinstance(n, str) for n in listed):
            raise validation_failed("interests must be a list of strings")
        interests = listed
    flags: dict[str, bool | None] = {}
    for name in ("discoverable", "indexable"):
        flag = body.get(name)
        if flag is not None and not isinstance(flag, bool):
            raise validation_failed(f"{name} must be true or false")
        flags[name] = flag
    return ProfileChange(
        region=region,
        locality=locality if region else None,
        postal_prefix=postal if region else None,
        interests=interests,
        discoverable=flags["discoverable"],
        indexable=flags["indexable"],
    )


def _text_or_none(obj: dict[str, object], name: str) -> str | None:
    value = obj.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise validation_failed(f"region.{name} must be a string")
    return value


async def update_profile(request: web.Request) -> web.Response:
    """Change the acting actor's region, interests and listing (editors and owners);
    keys left out stay as they are. The new actor document goes to its followers."""
    caller = await require_user(request, "write:accounts")
    if not caller.ctx.can(Action.PUBLISH):
        raise not_allowed()
    change = _read_profile_change(await read_json(request))
    try:
        actor = await actions.update_profile(
            request.app[keys.SERVICES],
            caller.actor.username,
            change,
            wake=request.app[keys.OUTBOX_WAKE].set,
        )
    except ActorError as exc:
        raise validation_failed(str(exc)) from None
    return json_response(profile_json(actor))


def add_routes(app: web.Application) -> None:
    r = Routes(app)
    r.get("/api/verbund/v1/actors", my_actors)
    r.get("/api/verbund/v1/profile", get_profile)
    r.patch("/api/verbund/v1/profile", update_profile)
    r.get("/api/verbund/v1/roles", list_staff)
    r.post("/api/verbund/v1/roles", grant)
    r.delete("/api/verbund/v1/roles/{username}", revoke_staff)
    r.get("/api/verbund/v1/tokens", list_tokens)
    r.post("/api/verbund/v1/tokens", create_token)
    r.delete(r"/api/verbund/v1/tokens/{id:\d{1,18}}", revoke_token)
    r.get(r"/api/verbund/v1/statuses/{id:\d{1,19}}/author", status_author)
