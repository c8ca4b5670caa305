"""The site's HTML layout: the Jinja2 environment's app key and the one function that
renders a page of it (every page, error pages included, gets the same site context)."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
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
# Infinite scroll of the paged listings (`server.web.paging`), on every page: it does
# nothing where no list is paged. A file, not inline, so a strict CSP stays possible.
PAGES_SCRIPT: Final = (Path(__file__).parent / "static" / "pages.js").read_bytes()
PAGES_SCRIPT_PATH: Final = "/static/pages.js"
PAGES_SCRIPT_VERSION: Final = hashlib.sha256(PAGES_SCRIPT).hexdigest()[:12]


def render_html(request: web.Request, template: str, **context: object) -> str:
    config = request.app[keys.CONFIG]
    # The settings as last read (`with_error_pages` reads them again when due).
    settings = request.app[keys.SETTINGS].current()
    viewer = request.get(VIEWER)
    language = language_of(request, chosen=viewer.locale if viewer else "")
    return (
        request.app[TEMPLATES]
        .get(language)
        .get_template(template)
        .render(
            instance_name=settings.name,
            instance_settings=settings,
            domain=config.instance.domain,
            base_url=config.instance.base_url,
            acct_host=config.instance.host,
            stylesheet_url=f"{STYLESHEET_PATH}?v={STYLESHEET_VERSION}",
            pages_script_url=f"{PAGES_SCRIPT_PATH}?v={PAGES_SCRIPT_VERSION}",
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


def static_file(
    body: bytes, version: str, content_type: str
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A file of ours, kept for a year by browsers when asked for by its current version."""

    async def handler(request: web.Request) -> web.Response:
        current = request.query.get("v") == version
        return web.Response(
            body=body,
            content_type=content_type,
            charset="utf-8",
            headers={
                "Cache-Control": "public, max-age=31536000, immutable" if current else "no-cache",
                "ETag": f'"{version}"',
                "X-Content-Type-Options": "nosniff",
            },
        )

    return handler


stylesheet = static_file(STYLESHEET, STYLESHEET_VERSION, "text/css")
pages_script = static_file(PAGES_SCRIPT, PAGES_SCRIPT_VERSION, "text/javascript")


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
    app.router.add_get(PAGES_SCRIPT_PATH, pages_script)
    app.router.add_get("/lang/{language}", choose_language)
