"""Error answers in the form the client reads, and the middleware that gives every error
that form.

Browsers (an Accept that asks for `text/html`) get a page in the site's layout; everyone
else, ActivityPub peers and key fetchers that do not negotiate included, gets
`{"error": "..."}` (`federation.documents.wants_activity_json` decides, as it does for the
documents themselves). `/api/` and `/oauth/` always get JSON: their clients are programs.

The middleware costs the success path one `try`: it acts only on a raised
`HTTPException` of 400 or more whose body is aiohttp's plain text (unknown paths, wrong
methods, handlers that raise), and on an exception nobody caught (500, logged, no
traceback in the answer). Responses that handlers return, errors included, pass untouched,
so the inbox's and the API's own JSON errors stay as they are.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus

from aiohttp import web

from federation.documents import wants_activity_json
from server.layout import html_page

log = logging.getLogger("verbund.server")

JSON_PREFIXES = ("/api/", "/oauth/")

# What a visitor reads under the status line; `message`, when a handler gives one, is
# shown instead (it names what is missing, never how the server failed).
PAGE_TEXT = {
    400: "The request could not be understood.",
    401: "This page needs a signed request.",
    403: "You may not see this page.",
    404: "There is nothing at this address.",
    405: "This address does not answer that kind of request.",
    410: "What was here has been deleted.",
    413: "The request is too large.",
    429: "Too many requests. Please try again later.",
    500: "Something went wrong on our side. Please try again later.",
}
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
        title=_phrase(status),
        message=message or PAGE_TEXT.get(status, PAGE_TEXT[500 if status >= 500 else 400]),
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


@web.middleware
async def error_pages(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Plain-text errors and uncaught exceptions → `error_response`; all else untouched."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type != "text/plain":
            raise
        kept = {k: v for k, v in exc.headers.items() if k.lower() not in _BODY_HEADERS}
        return error_response(request, exc.status, _message(exc), headers=kept)
    except Exception:
        # The top of every request, as a worker loop's top is for its jobs: log with the
        # request line, answer a page that says nothing about the failure.
        log.exception("unhandled error answering %s %s", request.method, request.path)
        return error_response(request, 500)
