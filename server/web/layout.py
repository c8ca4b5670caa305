"""The site's HTML layout: the Jinja2 environment's app key and the one function that
renders a page of it (every page, error pages included, gets the same site context)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit, urlunsplit

from aiohttp import web

from server import keys
from server.web.i18n import LANG_COOKIE, LANGUAGES, Templates, language_of
from server.web.viewer import VIEWER

TEMPLATES = web.AppKey("templates", Templates)

STYLESHEET: Final = (Path(__file__).parent / "static" / "verbund.css").read_bytes()
# The URL changes with the content, so browsers may keep it for a year.
STYLESHEET_PATH: Final = "/static/verbund.css"
STYLESHEET_VERSION: Final = hashlib.sha256(STYLESHEET).hexdigest()[:12]


def render_html(request: web.Request, template: str, **context: object) -> str:
    config = request.app[keys.CONFIG]
    viewer = request.get(VIEWER)
    language = language_of(request, chosen=viewer.locale if viewer else "")
    return (
        request.app[TEMPLATES]
        .get(language)
        .get_template(template)
        .render(
            instance_name=config.instance.name,
            domain=config.instance.domain,
            base_url=config.instance.base_url,
            acct_host=config.instance.host,
            stylesheet_url=f"{STYLESHEET_PATH}?v={STYLESHEET_VERSION}",
            viewer=viewer,
            languages=LANGUAGES,
            current_path=request.path,
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
        headers={"Vary": "Accept, Accept-Language, Cookie"},
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


def local_path(value: str | None) -> str:
    """A path on this site only (no `//host`, scheme or backslash), else "/"."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


async def choose_language(request: web.Request) -> web.Response:
    """`/lang/de`: the footer's language switch for visitors (a cookie for a year), back to
    the page it was on (`next`, else the Referer when it is this site). A member's own
    choice in their settings wins over it. The links carry no path, so that a page reads
    the same at each of its URLs."""
    language = request.match_info["language"]
    if language not in LANGUAGES:
        raise web.HTTPNotFound(text="no such language")
    back = request.query.get("next")
    referer = urlsplit(request.headers.get("Referer", ""))
    if back is None and referer.netloc == request.app[keys.CONFIG].instance.domain:
        back = urlunsplit(("", "", referer.path, referer.query, ""))
    response = web.HTTPSeeOther(local_path(back))
    response.set_cookie(
        LANG_COOKIE,
        language,
        max_age=365 * 24 * 3600,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=request.app[keys.CONFIG].instance.scheme == "https",
    )
    raise response


def add_static_routes(app: web.Application) -> None:
    app.router.add_get(STYLESHEET_PATH, stylesheet)
    app.router.add_get("/lang/{language}", choose_language)
