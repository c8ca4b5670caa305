"""Uploaded images served at `/media/NAME` (`server.media` stores them).

Only names with a `media_files` row are served (the row is the truth; several processes
share the folder), with the media type the row records, a year's caching (a name never
changes its content) and `X-Content-Type-Options: nosniff`, so no browser ever reads
one as anything but an image.
"""

from __future__ import annotations

from aiohttp import web

from server import keys
from server.media import find_media, media_folder
from server.web.errors import not_found, with_error_pages

__all__ = ["add_media_routes"]


async def media_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    async with request.app[keys.SESSIONMAKER]() as session:
        row = await find_media(session, name)
    path = media_folder(request.app[keys.CONFIG]) / name if row is not None else None
    if row is None or path is None or not path.is_file():
        return not_found(request, "no such file")
    return web.FileResponse(
        path,
        headers={
            "Content-Type": row.media_type,
            "Cache-Control": "public, max-age=31536000, immutable",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Content-Disposition": "inline",
        },
    )


def add_media_routes(app: web.Application) -> None:
    app.router.add_get("/media/{name}", with_error_pages(media_file))
