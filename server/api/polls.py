"""Polls: `GET /api/v1/polls/:id` and `POST /api/v1/polls/:id/votes` (Mastodon's routes).

A poll's id is its post's id. Voting speaks for the acting actor, so it needs the
same role as publishing; the vote itself and what it sends are `outbox.polls.vote`.
"""

from __future__ import annotations

from aiohttp import web

from actors.accounts import Action
from actors.models import Actor
from outbox.documents import render_poll_update
from outbox.models import Poll, Status
from outbox.polls import PollError, own_choices
from outbox.polls import vote as cast_vote
from server import keys
from server.api.accounts import view_for
from server.api.common import (
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
from server.api.statuses import publish_context


async def _visible_poll(view: View, raw_id: str) -> tuple[Status, Poll]:
    number = parse_id(raw_id)
    row = await view.session.get(Status, number) if number is not None else None
    poll = await view.session.get(Poll, number) if row is not None else None
    if row is None or poll is None or not await view.visible([row]):
        raise not_found()
    return row, poll


async def _poll_json(view: View, status: Status, poll: Poll) -> web.Response:
    own: list[int] = []
    if view.viewer_uri is not None:
        own = (await own_choices(view.session, view.viewer_uri, [poll.status_id])).get(
            poll.status_id, []
        )
    return json_response(view.poll_json(poll, status, own))


async def get_poll(request: web.Request) -> web.Response:
    caller = await optional_user(request, "read:statuses")
    async with request.app[keys.SESSIONMAKER]() as session:
        view = view_for(request, session, caller)
        status, poll = await _visible_poll(view, request.match_info["id"])
        return await _poll_json(view, status, poll)


async def vote(request: web.Request) -> web.Response:
    """`choices[]`: option indices. 422 for a second vote, an ended poll or a bad choice."""
    params = await read_params(request)
    caller = await require_user(request, "write:statuses")
    if not caller.ctx.can(Action.PUBLISH):
        raise not_allowed()
    raw = params.get_list("choices")
    choices = [parse_id(c) for c in raw]
    if not raw or any(c is None for c in choices):
        raise validation_failed("Choices must be option numbers")
    ctx = publish_context(request)
    async with request.app[keys.SESSIONMAKER]() as session:
        view = view_for(request, session, caller)
        status, poll = await _visible_poll(view, request.match_info["id"])
        actor = await session.get(Actor, caller.actor.id)
        if actor is None:
            raise not_found()
        try:
            await cast_vote(
                session,
                ctx,
                status=status,
                poll=poll,
                actor=actor,
                choices=[c for c in choices if c is not None],
                render_update=render_poll_update,
            )
        except PollError as exc:
            raise validation_failed(str(exc)) from None
        await session.commit()
        ctx.wake()
        return await _poll_json(view, status, poll)


def add_routes(app: web.Application) -> None:
    r = Routes(app)
    r.get(r"/api/v1/polls/{id:\d+}", get_poll)
    r.post(r"/api/v1/polls/{id:\d+}/votes", vote)
