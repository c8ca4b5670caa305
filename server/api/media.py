"""Mastodon's media uploads: `POST /api/v2/media` (and the older `/api/v1/media`), then
`GET`/`PUT /api/v1/media/:id` for the description; the uploaded ids go into
`media_ids[]` of `POST /api/v1/statuses`. Files are checked, cleaned and stored by
`server.media`, as for the web page's uploads; only the uploader may use or change one,
and only until a post uses it."""

from __future__ import annotations

import asyncio

from aiohttp import web

from actors.accounts import Action
from federation.media import MAX_ALT_TEXT, MAX_ATTACHMENTS
from server import keys
from server.api.common import (
    ApiError,
    Json,
    Routes,
    json_response,
    not_allowed,
    not_found,
    parse_id,
    read_params,
    require_user,
    validation_failed,
)
from server.media import (
    MediaError,
    MediaFile,
    media_folder,
    media_url,
    process_image,
    read_multipart,
    store_image,
    unattached_media,
)


def attachment_json(row: MediaFile, base_url: str) -> Json:
    """Mastodon's MediaAttachment of an upload of ours."""
    original: Json = {
        "width": row.width,
        "height": row.height,
        "size": f"{row.width}x{row.height}",
        "aspect": row.width / row.height,
    }
    url = media_url(base_url, row.name)
    return {
        "id": str(row.id),
        "type": "image",
        "url": url,
        "preview_url": url,
        "remote_url": None,
        "preview_remote_url": None,
        "text_url": None,
        "meta": {"original": original, "small": dict(original)},
        "description": row.description or None,
        "blurhash": None,
    }


async def upload(request: web.Request) -> web.Response:
    caller = await require_user(request, "write:media")
    if not caller.ctx.can(Action.PUBLISH):
        raise not_allowed()
    config = request.app[keys.CONFIG]
    try:
        form = await read_multipart(request, max_file_bytes=config.media.max_bytes, max_files=1)
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, "File is too large") from None
    file = next((u for u in form.uploads if u.field == "file"), None)
    if file is None:
        raise validation_failed("file is missing")
    try:
        image = await asyncio.to_thread(
            process_image, file.data, max_pixels=config.media.max_pixels
        )
    except MediaError as exc:
        raise validation_failed(str(exc)) from None
    async with request.app[keys.SESSIONMAKER]() as session:
        row = await store_image(
            session,
            media_folder(config),
            image,
            user_id=caller.user.id,
            actor_id=caller.actor.id,
            description=form.get("description")[:MAX_ALT_TEXT],
            now=request.app[keys.CLOCK](),
        )
        await session.commit()
    return json_response(attachment_json(row, request.app[keys.URIS].base_url))


async def get_media(request: web.Request) -> web.Response:
    caller = await require_user(request, "read:statuses", "write:media")
    number = parse_id(request.match_info["id"])
    async with request.app[keys.SESSIONMAKER]() as session:
        row = await session.get(MediaFile, number) if number is not None else None
        if row is None or row.user_id != caller.user.id:
            raise not_found()
        return json_response(attachment_json(row, request.app[keys.URIS].base_url))


async def update_media(request: web.Request) -> web.Response:
    """The description (alt text) of an upload no post uses yet."""
    params = await read_params(request)
    caller = await require_user(request, "write:media")
    number = parse_id(request.match_info["id"])
    async with request.app[keys.SESSIONMAKER]() as session:
        found = await unattached_media(session, caller.user.id, [number] if number else [])
        row = found.get(number or 0)
        if row is None:
            raise not_found()
        if "description" in params:
            row.description = (params.get("description") or "").strip()[:MAX_ALT_TEXT]
        await session.commit()
        return json_response(attachment_json(row, request.app[keys.URIS].base_url))


async def media_for_post(request: web.Request, user_id: int, raw_ids: list[str]) -> list[MediaFile]:
    """The uploads `media_ids[]` names, in order: the caller's own, unused, at most 4;
    else 422 as Mastodon answers."""
    if len(raw_ids) > MAX_ATTACHMENTS:
        raise validation_failed(f"at most {MAX_ATTACHMENTS} media attachments")
    ids = [parse_id(raw) for raw in raw_ids]
    if any(i is None for i in ids) or len(set(ids)) != len(ids):
        raise validation_failed("media_ids are not valid")
    async with request.app[keys.SESSIONMAKER]() as session:
        found = await unattached_media(session, user_id, [i for i in ids if i is not None])
    if len(found) != len(ids):
        raise validation_failed("media_ids are not valid")
    return [found[i] for i in ids if i is not None]


def add_routes(app: web.Application) -> None:
    r = Routes(app)
    r.post("/api/v2/media", upload)
    r.post("/api/v1/media", upload)
    r.get(r"/api/v1/media/{id:\d+}", get_media)
    r.put(r"/api/v1/media/{id:\d+}", update_media)
