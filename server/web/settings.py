"""A member's settings pages (issue 16).

`/settings/profile?actor=NAME`: display name, summary, region, interests, discoverable
and locked of the member's own person or of an actor their role lets them publish for;
saving goes through `server.actions.update_profile`, as `verbund profile set` and the
API do, so the Update of the actor goes to its followers.

`/settings/account`: the page language, the password (the member's other sessions end
when it changes), their sign-in sessions, their API tokens and authorised apps, and the
export of their data (`export.json`, and `follows.csv` as Mastodon's import reads it).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any, Final
from urllib.parse import urlencode

from aiohttp import web
from sqlalchemy import select

from actors import accounts
from actors.accounts import Action
from actors.local import ActorError
from actors.models import Follow, FollowState, RemoteActor, User
from actors.profile import ProfileChange, actor_region
from actors.regions import countries, subdivisions
from actors.relations import page_relations
from actors.web_sessions import close_other_sessions, close_session, list_sessions
from federation.documents import format_datetime
from outbox.models import Status
from server import actions, keys
from server.ratelimit import RateLimitedError
from server.web.errors import with_error_pages
from server.web.forms import require_viewer, signed_in_form
from server.web.i18n import LANGUAGES, language_of, translate
from server.web.layout import html_page
from server.web.member import Acting, acting_for, own_person
from server.web.viewer import Viewer

__all__ = ["add_settings_routes"]

PROFILE: Final = "/settings/profile"
ACCOUNT: Final = "/settings/account"
MAX_EXPORT_POSTS: Final = 100_000


def _back(path: str, done: str, actor: str = "") -> web.HTTPSeeOther:
    query = [("actor", actor)] if actor else []
    return web.HTTPSeeOther(f"{path}?{urlencode([*query, ('done', done)])}")


def _no_store(response: web.Response) -> web.Response:
    response.headers["Cache-Control"] = "no-store"
    return response


# --- profile --------------------------------------------------------------------------------


def _profile_values(acting: Acting) -> dict[str, Any]:
    actor = acting.actor
    region = actor_region(actor)
    code = region.code if region else ""
    return {
        "display_name": actor.display_name,
        "summary": actor.summary,
        "country": code[:2],
        "subdivision": code if "-" in code else "",
        "locality": region.locality if region else "",
        "postal_prefix": region.postal_prefix if region else "",
        "interests": ", ".join(str(n) for n in actor.interests),
        "discoverable": actor.discoverable,
        "locked": actor.manually_approves,
    }


def _profile_page(
    request: web.Request,
    acting: Acting,
    values: dict[str, Any],
    *,
    status: int = 200,
    error: str = "",
) -> web.Response:
    language = language_of(request)
    return _no_store(
        html_page(
            request,
            "settings_profile.html",
            status=status,
            acting=acting,
            handle=f"@{acting.username}@{request.app[keys.CONFIG].instance.host}",
            values=values,
            countries=countries(language),
            subdivisions=subdivisions(values["country"], language) if values["country"] else (),
            error=error,
            done=request.query.get("done", ""),
        )
    )


async def profile_form(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    acting = await acting_for(request, viewer, request.query.get("actor"), Action.PUBLISH)
    return _profile_page(request, acting, _profile_values(acting))


def _interests(text: str) -> list[str]:
    return [name for name in (part.strip() for part in text.split(",")) if name]


async def save_profile(request: web.Request) -> web.Response:
    viewer, fields = await signed_in_form(request)
    acting = await acting_for(request, viewer, fields.get("actor"), Action.PUBLISH)
    country = fields.get("country", "").strip().upper()
    subdivision = fields.get("subdivision", "").strip().upper()
    if not subdivision.startswith(f"{country}-"):
        subdivision = ""  # of the country chosen before: pick one of the new country's
    values: dict[str, Any] = {
        "display_name": fields.get("display_name", "").strip(),
        "summary": fields.get("summary", "").strip(),
        "country": country,
        "subdivision": subdivision,
        "locality": fields.get("locality", "").strip(),
        "postal_prefix": fields.get("postal_prefix", "").strip(),
        "interests": fields.get("interests", ""),
        "discoverable": fields.get("discoverable") == "1",
        "locked": fields.get("locked") == "1",
    }
    code = subdivision or country
    change = ProfileChange(
        display_name=values["display_name"],
        summary=values["summary"],
        region=code,
        locality=values["locality"] if code else None,
        postal_prefix=values["postal_prefix"] if code else None,
        interests=_interests(values["interests"]),
        discoverable=values["discoverable"],
        locked=values["locked"],
    )
    try:
        await actions.update_profile(
            request.app[keys.SERVICES],
            acting.username,
            change,
            wake=request.app[keys.OUTBOX_WAKE].set,
        )
    except ActorError as exc:
        return _profile_page(request, acting, values, status=422, error=str(exc))
    raise _back(PROFILE, "saved", "" if acting.own else acting.username)


# --- account --------------------------------------------------------------------------------


async def _account_page(
    request: web.Request,
    viewer: Viewer,
    *,
    status: int = 200,
    error: str = "",
    error_section: str = "",
) -> web.Response:
    now = request.app[keys.CLOCK]()
    async with request.app[keys.SESSIONMAKER]() as session:
        sessions = await list_sessions(session, viewer.user_id, now=now)
        tokens = await accounts.list_tokens(session, user_id=viewer.user_id)
        held = await accounts.actors_of(session, viewer.user_id)
    return _no_store(
        html_page(
            request,
            "settings_account.html",
            status=status,
            sessions=sessions,
            current_session=viewer.session.id,
            apps=[t for t in tokens if t.app_name],
            tokens=[t for t in tokens if not t.app_name],
            held=[(a.username, role.value) for a, role in held if not a.is_alias],
            locale=viewer.locale,
            error=error,
            error_section=error_section,
            done=request.query.get("done", ""),
        )
    )


async def account_page(request: web.Request) -> web.Response:
    return await _account_page(request, await require_viewer(request))


async def set_language(request: web.Request) -> web.Response:
    viewer, fields = await signed_in_form(request)
    locale = fields.get("locale", "")
    if locale and locale not in LANGUAGES:
        raise web.HTTPBadRequest(text="There is no such language.")
    async with request.app[keys.SESSIONMAKER]() as session:
        user = await session.get(User, viewer.user_id)
        assert user is not None  # the session's person
        user.locale = locale
        await session.commit()
    raise _back(ACCOUNT, "language")


async def change_password(request: web.Request) -> web.Response:
    viewer, fields = await signed_in_form(request)
    new = fields.get("new_password", "")
    if new != fields.get("repeat_password", ""):
        return await _account_page(
            request,
            viewer,
            status=422,
            error=translate(request, "The two new passwords differ."),
            error_section="password",
        )
    try:  # guesses of the current password share the sign-in's limits
        attempt = request.app[keys.LIMITS].sign_in(request)
        attempt.charge_account(viewer.username)
    except RateLimitedError as exc:
        response = await _account_page(
            request,
            viewer,
            status=429,
            error=translate(request, "Too many attempts. Please try again later."),
            error_section="password",
        )
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    async with request.app[keys.SESSIONMAKER]() as session:
        user = await accounts.check_password(
            session, viewer.username, fields.get("current_password", "")
        )
        if user is None:
            return await _account_page(
                request,
                viewer,
                status=422,
                error=translate(request, "The current password is wrong."),
                error_section="password",
            )
        attempt.succeeded()
        try:
            await accounts.set_password(session, user, new)
        except accounts.InvalidUserError as exc:
            return await _account_page(
                request, viewer, status=422, error=str(exc), error_section="password"
            )
        await close_other_sessions(session, viewer.session)
        await session.commit()
    raise _back(ACCOUNT, "password")


async def end_session(request: web.Request) -> web.Response:
    viewer, fields = await signed_in_form(request)
    async with request.app[keys.SESSIONMAKER]() as session:
        if fields.get("which") == "others":
            await close_other_sessions(session, viewer.session)
        else:
            number = fields.get("session_id", "")
            if not number.isdigit() or int(number) == viewer.session.id:
                raise web.HTTPNotFound(text="There is no such session of yours.")
            if not await close_session(session, viewer.user_id, int(number)):
                raise web.HTTPNotFound(text="There is no such session of yours.")
        await session.commit()
    raise _back(ACCOUNT, "sessions")


async def revoke_token(request: web.Request) -> web.Response:
    viewer, fields = await signed_in_form(request)
    number = fields.get("token_id", "")
    async with request.app[keys.SESSIONMAKER]() as session:
        try:
            if not number.isdigit() or len(number) > 18:
                raise accounts.UnknownTokenError(number)
            await accounts.revoke_token(
                session, int(number), user_id=viewer.user_id, now=request.app[keys.CLOCK]()
            )
        except accounts.UnknownTokenError:
            raise web.HTTPNotFound(text="There is no such token of yours.") from None
        await session.commit()
    raise _back(ACCOUNT, "token")


# --- export ---------------------------------------------------------------------------------


def _when(value: datetime | None) -> str | None:
    return format_datetime(value) if value else None


async def _handles(request: web.Request, uris: list[str]) -> list[str]:
    svc = request.app[keys.SERVICES]
    async with request.app[keys.SESSIONMAKER]() as session:
        remotes = {
            r.uri: r
            for r in await session.scalars(select(RemoteActor).where(RemoteActor.uri.in_(uris)))
        }
    return [actions.handle_of(svc, remotes.get(u), u) for u in uris]


async def _person_relations(request: web.Request, uri: str) -> dict[str, list[str]]:
    async with request.app[keys.SESSIONMAKER]() as session:
        following = await page_relations(session, uri, followers=False, offset=0, limit=100_000)
        followers = await page_relations(session, uri, followers=True, offset=0, limit=100_000)
        pending = list(
            await session.scalars(
                select(Follow.followed_uri).where(
                    Follow.follower_uri == uri, Follow.state == FollowState.PENDING
                )
            )
        )
    return {
        "following": await _handles(request, following),
        "following_pending": await _handles(request, pending),
        "followers": await _handles(request, followers),
    }


async def export_json(request: web.Request) -> web.Response:
    """Everything the instance keeps of the member, as one JSON document."""
    viewer = await require_viewer(request)
    svc = request.app[keys.SERVICES]
    host = request.app[keys.CONFIG].instance.host
    async with request.app[keys.SESSIONMAKER]() as session:
        user = await session.get(User, viewer.user_id)
        assert user is not None
        held = await accounts.actors_of(session, viewer.user_id)
        person = await own_person(session, viewer.user_id)
        posts = (
            list(
                await session.scalars(
                    select(Status)
                    .where(Status.local_actor_id == person.id, Status.deleted_at.is_(None))
                    .order_by(Status.published_at)
                    .limit(MAX_EXPORT_POSTS)
                )
            )
            if person is not None
            else []
        )
    doc: dict[str, Any] = {
        "exported_at": _when(request.app[keys.CLOCK]()),
        "instance": host,
        "user": {
            "username": user.username,
            "email": user.email,
            "created_at": _when(user.created_at),
            "locale": user.locale,
            "is_admin": user.is_admin,
        },
        "actors": [],
        "posts": [
            {
                "id": str(s.id),
                "uri": s.uri,
                "url": s.url,
                "type": s.type,
                "summary": s.summary,
                "content": s.content,
                "source": s.source,
                "language": s.language,
                "visibility": s.visibility.value,
                "sensitive": s.sensitive,
                "in_reply_to": s.in_reply_to_uri,
                "boost_of": str(s.reblog_of_id) if s.reblog_of_id else None,
                "attachments": s.attachments,
                "published_at": _when(s.published_at),
                "edited_at": _when(s.edited_at),
            }
            for s in posts
        ],
        "follows": {},
        "contact_requests": [],
    }
    for actor, role in held:
        if actor.is_alias:
            continue
        region = actor_region(actor)
        doc["actors"].append(
            {
                "handle": f"{actor.username}@{host}",
                "uri": svc.uris.actor(actor.username),
                "type": actor.type,
                "role": role.value,
                "own_person": person is not None and actor.id == person.id,
                "display_name": actor.display_name,
                "summary": actor.summary,
                "region": None
                if region is None
                else {
                    "code": region.code,
                    "locality": region.locality,
                    "postal_prefix": region.postal_prefix,
                },
                "interests": [str(n) for n in actor.interests],
                "discoverable": actor.discoverable,
                "indexable": actor.indexable,
                "locked": actor.manually_approves,
            }
        )
    if person is not None:
        doc["follows"] = await _person_relations(request, svc.uris.actor(person.username))
        for view in await actions.list_contacts(svc, person.username):
            row = view.request
            doc["contact_requests"].append(
                {
                    "id": str(row.id),
                    "box": row.box.value,
                    "state": row.state.value,
                    "other": view.other_handle,
                    "anonymous": row.is_anonymous or row.requester_uri is not None,
                    "message": row.message,
                    "created_at": _when(row.created_at),
                    "updated_at": _when(row.updated_at),
                    "messages": [
                        {
                            "direction": m.direction.value,
                            "text": m.text,
                            "created_at": _when(m.created_at),
                        }
                        for m in view.messages
                    ],
                }
            )
    body = json.dumps(doc, ensure_ascii=False, indent=2)
    return web.Response(
        text=body,
        content_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="verbund-{user.username}.json"',
            "Cache-Control": "no-store",
        },
    )


async def export_follows_csv(request: web.Request) -> web.Response:
    """Whom the member's person follows, as Mastodon's follows export (and import) has it."""
    viewer = await require_viewer(request)
    svc = request.app[keys.SERVICES]
    async with request.app[keys.SESSIONMAKER]() as session:
        person = await own_person(session, viewer.user_id)
    following = (
        (await _person_relations(request, svc.uris.actor(person.username)))["following"]
        if person
        else []
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["Account address", "Show boosts", "Notify on new posts", "Languages"])
    for handle in following:
        writer.writerow([handle, "true", "false", ""])
    return web.Response(
        text=out.getvalue(),
        content_type="text/csv",
        headers={
            "Content-Disposition": 'attachment; filename="following_accounts.csv"',
            "Cache-Control": "no-store",
        },
    )


def add_settings_routes(app: web.Application) -> None:
    app.router.add_get(PROFILE, with_error_pages(profile_form))
    app.router.add_post(PROFILE, with_error_pages(save_profile))
    app.router.add_get(ACCOUNT, with_error_pages(account_page))
    app.router.add_post(f"{ACCOUNT}/language", with_error_pages(set_language))
    app.router.add_post(f"{ACCOUNT}/password", with_error_pages(change_password))
    app.router.add_post(f"{ACCOUNT}/sessions", with_error_pages(end_session))
    app.router.add_post(f"{ACCOUNT}/tokens", with_error_pages(revoke_token))
    app.router.add_get(f"{ACCOUNT}/export.json", with_error_pages(export_json))
    app.router.add_get(f"{ACCOUNT}/follows.csv", with_error_pages(export_follows_csv))
