"""Error answers in the form the client reads, for our handlers and for paths nobody
serves.

Browsers (an Accept that asks for `text/html`) get a page in the site's layout; everyone
else, ActivityPub peers and key fetchers that do not negotiate included, gets
`{"error": "..."}` (`federation.documents.wants_activity_json` decides, as it does for the
documents themselves). `/api/` and `/oauth/` always get JSON: their clients are programs.

No app-wide middleware: aiohttp would run it on every request, the actor GETs and inbox
POSTs of the hot paths included. Instead:

- handlers return `error_response` / `not_found` for what they know is missing;
- `with_error_pages` wraps the handlers of pages, documents and feeds at registration (an
  uncaught exception becomes a logged 500 that says nothing about the failure; aiohttp's
  plain-text errors become a page or JSON); the actor GET catches inline, which costs
  nothing until something is raised; the inbox answers its own JSON errors;
- `unknown_path`, a catch-all route registered last, answers 404 (or 405 with `Allow`)
  for any path no route serves. The router tries it only after every other route.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus

from aiohttp import web

from federation.documents import wants_activity_json
from server import keys
from server.web.i18n import translate
from server.web.layout import html_page
from server.web.viewer import SESSION_COOKIE, load_viewer

log = logging.getLogger("verbund.server")

JSON_PREFIXES = ("/api/", "/oauth/")

# What a visitor reads under the status line; `message`, when a handler gives one, is
# shown instead (it names what is missing, never how the server failed). Both are in the
# page's language (`_page_text`, `_page_title`).


def _page_text(request: web.Request, status: int) -> str:
    texts = {
        400: translate(request, "The request could not be understood."),
        401: translate(request, "This page needs a signed request."),
        403: translate(request, "You may not see this page."),
        404: translate(request, "There is nothing at this address."),
        405: translate(request, "This address does not answer that kind of request."),
        410: translate(request, "What was here has been deleted."),
        413: translate(request, "The request is too large."),
        429: translate(request, "Too many requests. Please try again later."),
        500: translate(request, "Something went wrong on our side. Please try again later."),
    }
    return texts.get(status) or texts[500 if status >= 500 else 400]


def _page_title(request: web.Request, status: int) -> str:
    titles = {
        400: translate(request, "Bad Request"),
        401: translate(request, "Unauthorized"),
        403: translate(request, "Forbidden"),
        404: translate(request, "Not Found"),
        405: translate(request, "Method Not Allowed"),
        409: translate(request, "Conflict"),
        410: translate(request, "Gone"),
        413: translate(request, "Request Entity Too Large"),
        422: translate(request, "Unprocessable Entity"),
        429: translate(request, "Too Many Requests"),
        500: translate(request, "Internal Server Error"),
        502: translate(request, "Bad Gateway"),
        504: translate(request, "Gateway Timeout"),
    }
    return titles.get(status) or _phrase(status)


# Headers of a raised HTTPException that describe its body; the rest (Allow,
# Retry-After, WWW-Authenticate) are kept.
_BODY_HEADERS = frozenset({"content-type", "content-length", "content-encoding"})


def wants_json_error(request: web.Request) -> bool:
    return request.path.startswith(JSON_PREFIXES) or wants_activity_json(
        request.headers.get("Accept", "")
    )


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def error_response(
    request: web.Request,
    status: int,
    message: str | None = None,
    *,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """`status` as an HTML page or as `{"error": message}`, with `Vary: Accept`.

    `message` is for the client (what is missing); without one, the status phrase
    ("not found") is the JSON error and a general sentence the page's text.
    """
    extra = {**(headers or {}), "Vary": "Accept"}
    if wants_json_error(request):
        return web.json_response(
            {"error": message or _phrase(status).lower()}, status=status, headers=extra
        )
    response = html_page(
        request,
        "error.html",
        status=status,
        title=_page_title(request, status),
        message=message or _page_text(request, status),
    )
    response.headers.update(extra)
    return response


def not_found(request: web.Request, message: str | None = None) -> web.Response:
    return error_response(request, 404, message)


def _message(exc: web.HTTPException) -> str | None:
    """The text a handler raised with, unless it is aiohttp's default ("404: Not Found")."""
    text = (exc.text or "").strip()
    if not text or text == f"{exc.status}: {exc.reason}":
        return None
    return text


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def from_exception(request: web.Request, exc: web.HTTPException) -> web.StreamResponse:
    """A raised aiohttp error as `error_response`, its status and headers (Allow,
    Retry-After) kept; redirects and errors that already carry JSON are left as they are."""
    if exc.status < 400 or exc.content_type != "text/plain":
        raise exc
    kept = {k: v for k, v in exc.headers.items() if k.lower() not in _BODY_HEADERS}
    return error_response(request, exc.status, _message(exc), headers=kept)


def internal_error(request: web.Request) -> web.Response:
    """An uncaught exception: logged with the request line, answered with a 500 that says
    nothing about it. Call from an `except Exception` at the top of a handler (the top of
    a request, as a worker loop's top is for its jobs)."""
    log.exception("unhandled error answering %s %s", request.method, request.path)
    return error_response(request, 500)


def with_error_pages(handler: Handler) -> Handler:
    """`handler` with its raised errors answered by `from_exception` / `internal_error`."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            if SESSION_COOKIE in request.cookies:
                await load_viewer(request)  # the layout shows who is signed in
            # The instance's name and settings as the operator set them (a cache).
            await request.app[keys.SETTINGS].get(request.app[keys.SESSIONMAKER])
            return await handler(request)
        except web.HTTPException as exc:
            return from_exception(request, exc)
        except Exception:
            return internal_error(request)

    return wrapped


CATCH_ALL = "/{tail:.*}"


async def unknown_path(request: web.Request) -> web.Response:
    """What no route serves: 405 with `Allow` when some route serves the path with other
    methods (the catch-all matches every method, so aiohttp cannot tell), else 404."""
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if resource.canonical == "/{tail}":
            continue
        match, methods = await resource.resolve(request)
        if match is None:
            allowed |= methods
    if allowed:
        return error_response(request, 405, headers={"Allow": ",".join(sorted(allowed))})
    return not_found(request)


def add_catch_all_route(app: web.Application) -> None:
    """Register last: every other route must be tried first."""
    app.router.add_route("*", CATCH_ALL, unknown_path)
