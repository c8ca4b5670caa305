"""The site's HTML layout: the Jinja2 environment's app key and the one function that
renders a page of it (every page, error pages included, gets the same site context)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Final

import jinja2
from aiohttp import web

from server import keys
from server.web.viewer import VIEWER

TEMPLATES = web.AppKey("templates", jinja2.Environment)

STYLESHEET: Final = (Path(__file__).parent / "static" / "verbund.css").read_bytes()
# The URL changes with the content, so browsers may keep it for a year.
STYLESHEET_PATH: Final = "/static/verbund.css"
STYLESHEET_VERSION: Final = hashlib.sha256(STYLESHEET).hexdigest()[:12]


def render_html(request: web.Request, template: str, **context: object) -> str:
    config = request.app[keys.CONFIG]
    return (
        request.app[TEMPLATES]
        .get_template(template)
        .render(
            instance_name=config.instance.name,
            domain=config.instance.domain,
            base_url=config.instance.base_url,
            acct_host=config.instance.host,
            stylesheet_url=f"{STYLESHEET_PATH}?v={STYLESHEET_VERSION}",
            viewer=request.get(VIEWER),
            **context,
        )
    )


def html_page(
    request: web.Request, template: str, *, status: int = 200, **context: object
) -> web.Response:
    """A page of the site; `Vary: Accept`, since the same URLs also serve JSON."""
    return web.Response(
        text=render_html(request, template, **context),
        status=status,
        content_type="text/html",
        headers={"Vary": "Accept"},
    )


async def stylesheet(request: web.Request) -> web.Response:
    current = request.query.get("v") == STYLESHEET_VERSION
    return web.Response(
        body=STYLESHEET,
        content_type="text/css",
        charset="utf-8",
        headers={
            "Cache-Control": "public, max-age=31536000, immutable" if current else "no-cache",
            "ETag": f'"{STYLESHEET_VERSION}"',
        },
    )


def add_static_routes(app: web.Application) -> None:
    app.router.add_get(STYLESHEET_PATH, stylesheet)
