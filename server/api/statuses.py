"""Statuses: publish, read, edit, delete, boost, as the acting actor within the person's role.

Editors and owners publish and edit; moderators may delete but never publish.
Every post records which person wrote it (`author_user_id`); that is shown
only through `/api/verbund/v1/statuses/:id/author`, never published.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import timedelta

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.accounts import Action
from actors.models import Actor, RemoteActor
from outbox import posts
from outbox.context import PublishContext
from outbox.models import Status, Visibility
from outbox.polls import PollDraft
from server import keys
from server.api.accounts import view_for
from server.api.common import (
    Caller,
    Json,
    Params,
    Routes,
    json_response,
    not_allowed,
    not_found,
    optional_user,
    parse_id,
    read_params,
    require_user,
    validation_failed,
)
from server.api.entities import View
from server.api.media import media_for_post
from server.media import attachment_of, unattached_media


@dataclass
class _Idempotency:
    """Recent `Idempotency-Key`s per token → status id, for an hour (Tusky sends one always).

    Kept in this process only: a retry that lands on another process may post
    twice, which is what Mastodon does when its cache is gone too.
    """

    entries: OrderedDict[tuple[int, str], tuple[float, int]]

    def get(self, token_id: int, key: str) -> int | None:
        found = self.entries.get((token_id, key))
        if found is None or time.monotonic() - found[0] > 3600:
            return None
        return found[1]

    def put(self, token_id: int, key: str, status_id: int) -> None:
        self.entries[(token_id, key)] = (time.monotonic(), status_id)
        while len(self.entries) > 10_000:
            self.entries.popitem(last=False)


IDEMPOTENCY = web.AppKey("api_idempotency", _Idempotency)


async def _visible_status(view: View, status_id: str) -> Status:
    """A post the viewer may see, else 404 (never 403: its existence stays hidden)."""
    number = parse_id(status_id)
    row = await view.session.get(Status, number) if number is not None else None
    if row is None or not await view.visible([row]):
        raise not_found()
    return row


async def _own_status(session: AsyncSession, caller: Caller, status_id: str) -> Status:
    """A live post of the acting actor (not a boost), else 404 as Mastodon answers."""
    number = parse_id(status_id)
    row = await session.get(Status, number) if number is not None else None
    if (
        row is None
        or row.deleted_at is not None
        or row.local_actor_id != caller.actor.id
        or row.reblog_of_id is not None
    ):
        raise not_found()
    return row


def _draft(params: Params, *, max_chars: int, existing: Status | None = None) -> posts.Draft:
    """A Draft from Mastodon's fields plus our `title`; on edit, absent fields keep their value.
    The text is refused (422) when longer than `max_chars` (`instance.max_post_chars`)."""
    try:
        text = posts.post_text(params.get("status") or "", max_chars=max_chars)
    except posts.NewsError as exc:
        raise validation_failed(str(exc)) from None
    if "title" in params:
        title = (params.get("title") or "").strip() or None
    else:
        title = existing.name if existing is not None else None
    spoiler = params.get("spoiler_text")
    if spoiler is None and existing is not None and existing.type != "Article":
        spoiler = existing.summary
    language = params.get("language") if "language" in params else None
    if language is None and existing is not None:
        language = existing.language
    sensitive = params.get_bool("sensitive", existing.sensitive if existing else False)
    visibility = Visibility.PUBLIC
    if existing is not None:
        visibility = Visibility(existing.visibility)
    elif params.get("visibility"):
        try:
            visibility = posts.parse_visibility(params.get("visibility") or "")
        except posts.NewsError as exc:
            raise validation_failed(str(exc)) from None
    return posts.Draft(
        text=text,
        title=title,
        summary=spoiler or None,
        visibility=visibility,
        language=language or None,
        sensitive=sensitive,
        poll=_poll_draft(params) if existing is None else None,
    )


def _poll_draft(params: Params) -> PollDraft | None:
    """Mastodon's `poll[options][]`, `poll[expires_in]` (seconds), `poll[multiple]`,
    `poll[hide_totals]`; limits are checked when publishing."""
    options = params.get_list("poll[options]")
    if not options:
        return None
    seconds = params.get_int("poll[expires_in]")
    if seconds is None:
        raise validation_failed("poll[expires_in] must be a number of seconds")
    return PollDraft(
        options=tuple(options),
        expires_in=timedelta(seconds=min(seconds, 10**9)),
        multiple=params.get_bool("poll[multiple]"),
        hide_totals=params.get_bool("poll[hide_totals]"),
    )


def _refuse_unsupported(params: Params, *, editing: bool = False) -> None:
    if editing and params.get_list("media_ids"):
        raise validation_failed("Editing media attachments is not supported yet")
    if editing and params.get_list("poll[options]"):
        raise validation_failed("Editing polls is not supported yet")
    if params.get("scheduled_at"):
        raise validation_failed("Scheduled posts are not supported yet")


def publish_context(request: web.Request) -> PublishContext:
    """The same publishing context the CLI builds, waking this process's worker."""
    return request.app[keys.SERVICES].publish_context(request.app[keys.OUTBOX_WAKE].set)


async def _mentions(request: web.Request, text: str) -> dict[str, RemoteActor]:
    """WebFinger for the mentions, before any transaction is open (it is network work)."""
    return await publish_context(request).resolve_mentions(text)


async def create_status(request: web.Request) -> web.Response:
    params = await read_params(request)
    caller = await require_user(request, "write:statuses")
    if not caller.ctx.can(Action.PUBLISH):
        raise not_allowed()
    _refuse_unsupported(params)
    idempotency = request.app[IDEMPOTENCY]
    key = request.headers.get("Idempotency-Key", "")[:200]
    ctx = publish_context(request)
    if key and (earlier := idempotency.get(caller.ctx.token_id, key)) is not None:
        async with request.app[keys.SESSIONMAKER]() as session:
            row = await session.get(Status, earlier)
            if row is not None:
                return json_response(await view_for(request, session, caller).status(row))
    draft = _draft(params, max_chars=request.app[keys.CONFIG].instance.max_post_chars)
    uploads = await media_for_post(request, caller.user.id, params.get_list("media_ids"))
    base_url = request.app[keys.URIS].base_url
    draft = replace(draft, attachments=tuple(attachment_of(m, base_url) for m in uploads))
    in_reply_to = params.get("in_reply_to_id")
    mentions = await _mentions(request, draft.text)
    async with request.app[keys.SESSIONMAKER]() as session:
        view = view_for(request, session, caller)
        if in_reply_to:
            parent = await _visible_status(view, in_reply_to)
            draft = replace(draft, in_reply_to=parent.uri)
        actor = await session.get(Actor, caller.actor.id)
        if actor is None:
            raise not_found()
        try:
            row = await posts.publish(
                session,
                ctx,
                actor=actor,
                draft=draft,
                mentions=mentions,
                author_user_id=caller.user.id,
            )
        except posts.NewsError as exc:
            raise validation_failed(str(exc)) from None
        # The uploads become the post's, unless another post took them meanwhile.
        ids = [m.id for m in uploads]
        still = await unattached_media(session, caller.user.id, ids)
        if len(still) != len(ids):
            raise validation_failed("media_ids are not valid")
        for upload in still.values():
            upload.status_id = row.id
        await session.commit()
        ctx.wake()
        if key:
            idempotency.put(caller.ctx.token_id, key, row.id)
        return json_response(await view.status(row))


async def get_status(request: web.Request) -> web.Response:
    caller = await optional_user(request, "read:statuses")
    async with request.app[keys.SESSIONMAKER]() as session:
        view = view_for(request, session, caller)
        row = await _visible_status(view, request.match_info["id"])
        return json_response(await view.status(row))


async def edit_status(request: web.Request) -> web.Response:
    params = await read_params(request)
    caller = await require_user(request, "write:statuses")
    ctx = publish_context(request)
    async with request.app[keys.SESSIONMAKER]() as session:
        row = await _own_status(session, caller, request.match_info["id"])
        if not caller.ctx.can(Action.PUBLISH):
            raise not_allowed()
        _refuse_unsupported(params, editing=True)
        draft = _draft(
            params, max_chars=request.app[keys.CONFIG].instance.max_post_chars, existing=row
        )
    # Mentions are resolved outside the transaction, then the post is read again.
    mentions = await _mentions(request, draft.text)
    async with request.app[keys.SESSIONMAKER]() as session:
        row = await _own_status(session, caller, request.match_info["id"])
        actor = await session.get(Actor, caller.actor.id)
        assert actor is not None
        try:
            await posts.edit(session, ctx, status=row, actor=actor, draft=draft, mentions=mentions)
        except posts.NewsError as exc:
            raise validation_failed(str(exc)) from None
        await session.commit()
        ctx.wake()
        return json_response(await view_for(request, session, caller).status(row))


async def delete_status(request: web.Request) -> web.Response:
    """Owners, editors and moderators may delete; the answer carries the source (redraft)."""
    caller = await require_user(request, "write:statuses")
    ctx = publish_context(request)
    async with request.app[keys.SESSIONMAKER]() as session:
        row = await _own_status(session, caller, request.match_info["id"])
        if not caller.ctx.can(Action.DELETE):
            raise not_allowed()
        view = view_for(request, session, caller)
        doc = await view.status(row, with_source=True)
        actor = await session.get(Actor, caller.actor.id)
        assert actor is not None
        try:
            await posts.delete(session, ctx, status=row, actor=actor)
        except posts.NewsError as exc:
            raise validation_failed(str(exc)) from None
        await session.commit()
    ctx.wake()
    return json_response(doc)


async def status_source(request: web.Request) -> web.Response:
    caller = await require_user(request, "read:statuses")
    async with request.app[keys.SESSIONMAKER]() as session:
        row = await _own_status(session, caller, request.match_info["id"])
        if not caller.ctx.can(Action.PUBLISH):
            raise not_allowed()
        return json_response(_source_json(row))


def _source_json(row: Status) -> Json:
    return {
        "id": str(row.id),
        "text": row.source if row.source is not None else "",
        "spoiler_text": "" if row.type == "Article" else row.summary,
    }


async def status_history(request: web.Request) -> web.Response:
    """Only the current version is stored, so the history is that one entry."""
    caller = await optional_user(request, "read:statuses")
    async with request.app[keys.SESSIONMAKER]() as session:
        view = view_for(request, session, caller)
        row = await _visible_status(view, request.match_info["id"])
        doc = await view.status(row)
    return json_response(
        [
            {
                "content": doc["content"],
                "spoiler_text": doc["spoiler_text"],
                "sensitive": doc["sensitive"],
                "created_at": doc["edited_at"] or doc["created_at"],
                "account": doc["account"],
                "poll": doc["poll"],
                "media_attachments": doc["media_attachments"],
                "emojis": doc["emojis"],
            }
        ]
    )


MAX_CONTEXT = 60


async def status_context(request: web.Request) -> web.Response:
    """Ancestors (oldest first) and descendants (breadth first) among the posts we hold."""
    caller = await optional_user(request, "read:statuses")
    async with request.app[keys.SESSIONMAKER]() as session:
        view = view_for(request, session, caller)
        row = await _visible_status(view, request.match_info["id"])
        ancestors: list[Status] = []
        parent_uri = row.in_reply_to_uri
        while parent_uri and len(ancestors) < MAX_CONTEXT:
            parent = await session.scalar(select(Status).where(Status.uri == parent_uri))
            if parent is None or parent in ancestors:
                break
            ancestors.append(parent)
            parent_uri = parent.in_reply_to_uri
        descendants: list[Status] = []
        frontier = [row.uri]
        while frontier and len(descendants) < MAX_CONTEXT:
            children = list(
                await session.scalars(
                    select(Status)
                    .where(Status.in_reply_to_uri.in_(frontier))
                    .order_by(Status.id)
                    .limit(MAX_CONTEXT)
                )
            )
            children = [c for c in children if c not in descendants and c.id != row.id]
            descendants += children
            frontier = [c.uri for c in children]
        ancestors = await view.visible(ancestors[::-1])
        descendants = await view.visible(descendants[:MAX_CONTEXT])
        return json_response(
            {
                "ancestors": await view.statuses(ancestors),
                "descendants": await view.statuses(descendants),
            }
        )


async def _boost(request: web.Request, *, undo: bool) -> web.Response:
    caller = await require_user(request, "write:statuses")
    if not caller.ctx.can(Action.PUBLISH):
        raise not_allowed()
    ctx = publish_context(request)
    async with request.app[keys.SESSIONMAKER]() as session:
        view = view_for(request, session, caller)
        target = await _visible_status(view, request.match_info["id"])
        actor = await session.get(Actor, caller.actor.id)
        assert actor is not None
        try:
            if undo:
                await posts.unboost(session, ctx, actor=actor, target=target)
            else:
                wrapper = await posts.boost(session, ctx, actor=actor, target=target)
        except posts.NewsError as exc:
            if undo:  # un-boosting what was not boosted is no error in Mastodon
                return json_response(await view.status(target))
            raise validation_failed(str(exc)) from None
        await session.commit()
        ctx.wake()
        if undo:
            await session.refresh(target)
            return json_response(await view.status(target))
        return json_response(await view.status(wrapper))


async def reblog(request: web.Request) -> web.Response:
    return await _boost(request, undo=False)


async def unreblog(request: web.Request) -> web.Response:
    return await _boost(request, undo=True)


def add_routes(app: web.Application) -> None:
    app[IDEMPOTENCY] = _Idempotency(OrderedDict())
    r = Routes(app)
    r.post("/api/v1/statuses", create_status)
    r.get(r"/api/v1/statuses/{id:\d+}", get_status)
    r.put(r"/api/v1/statuses/{id:\d+}", edit_status)
    r.delete(r"/api/v1/statuses/{id:\d+}", delete_status)
    r.get(r"/api/v1/statuses/{id:\d+}/source", status_source)
    r.get(r"/api/v1/statuses/{id:\d+}/history", status_history)
    r.get(r"/api/v1/statuses/{id:\d+}/context", status_context)
    r.post(r"/api/v1/statuses/{id:\d+}/reblog", reblog)
    r.post(r"/api/v1/statuses/{id:\d+}/unreblog", unreblog)
