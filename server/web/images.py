"""`/settings/images?actor=NAME`: the avatar and header image of an actor the person may
edit (the role that allows publishing, as the profile API asks). Uploads are checked and
cleaned by `server.media`; the actor document's `icon` and `image` then carry them, and
the Update{Actor} goes to its followers (`server.actions.set_profile_images`)."""

from __future__ import annotations

import asyncio
from typing import Final

from aiohttp import web

from actors.accounts import Action
from server import actions, keys
from server.media import (
    MediaError,
    media_folder,
    media_url,
    process_image,
    read_multipart,
    store_image,
)
from server.web.errors import with_error_pages
from server.web.forms import check_csrf, require_viewer
from server.web.i18n import translate
from server.web.layout import html_page
from server.web.timeline import acting_actor

__all__ = ["add_image_routes"]

# Longest edges, as Mastodon scales them (avatars 400 by 400, headers 1500 by 500).
EDGES: Final = {"avatar": 400, "header": 1500}


async def _page(
    request: web.Request, name: str | None, *, status: int = 200, error: str = "", done: str = ""
) -> web.Response:
    viewer = await require_viewer(request)
    async with request.app[keys.SESSIONMAKER]() as session:
        actor, choices = await acting_actor(request, session, viewer.user_id, Action.PUBLISH, name)
    return html_page(
        request,
        "settings_images.html",
        status=status,
        actor=actor,
        choices=[(a.username, a.display_name or a.username) for a, _ in choices],
        csrf_token=viewer.csrf_token,
        error=error,
        done=done,
    )


async def images_post(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    config = request.app[keys.CONFIG]
    form = await read_multipart(request, max_file_bytes=config.media.max_bytes, max_files=1)
    check_csrf(viewer, {"csrf_token": form.get("csrf_token")})
    which, action = form.get("which"), form.get("action")
    if which not in EDGES or action not in ("upload", "remove"):
        raise web.HTTPBadRequest(text="This form could not be read.")
    async with request.app[keys.SESSIONMAKER]() as session:
        actor, _ = await acting_actor(
            request, session, viewer.user_id, Action.PUBLISH, form.get("actor")
        )
    url: str | None = None
    if action == "upload":
        upload = next((u for u in form.uploads if u.field == "file"), None)
        if upload is None:
            return await _page(
                request, actor.username, status=422, error=translate(request, "Choose an image.")
            )
        try:
            image = await asyncio.to_thread(
                process_image, upload.data, max_pixels=min(EDGES[which], config.media.max_pixels)
            )
        except MediaError as exc:
            return await _page(
                request, actor.username, status=422, error=translate(request, str(exc))
            )
        async with request.app[keys.SESSIONMAKER]() as session:
            row = await store_image(
                session,
                media_folder(config),
                image,
                user_id=viewer.user_id,
                actor_id=actor.id,
                now=request.app[keys.CLOCK](),
            )
            await session.commit()
        url = media_url(request.app[keys.URIS].base_url, row.name)
    wake = request.app[keys.OUTBOX_WAKE].set
    svc = request.app[keys.SERVICES]
    await actions.set_profile_image(
        svc, actor.username, header=which == "header", url=url, wake=wake
    )
    raise web.HTTPSeeOther(f"/settings/images?actor={actor.username}&done={which}-{action}")


async def images_done(request: web.Request) -> web.Response:
    return await _page(request, request.query.get("actor"), done=request.query.get("done", ""))


def add_image_routes(app: web.Application) -> None:
    app.router.add_get("/settings/images", with_error_pages(images_done))
    app.router.add_post("/settings/images", with_error_pages(images_post))
