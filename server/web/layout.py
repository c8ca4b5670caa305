"""The site's HTML layout: the Jinja2 environment's app key and the one function that
renders a page of it (every page, error pages included, gets the same site context)."""

from __future__ import annotations

import jinja2
from aiohttp import web

from server import keys

TEMPLATES = web.AppKey("templates", jinja2.Environment)


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
