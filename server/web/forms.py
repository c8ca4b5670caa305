"""What every form of the web pages needs (issue 16): the body read within a size limit,
the signed-in person or a redirect to the sign-in page, and the CSRF check.

A signed-in person's forms carry their session's CSRF token (`viewer.csrf_token`) in a
hidden `csrf_token` field; a POST without it, or with another session's, gets 403 and
changes nothing. Pages that need a person send visitors to `/auth/sign_in?next=…`, back
to where they were after signing in.
"""

from __future__ import annotations

import hmac
from typing import Final
from urllib.parse import parse_qsl, quote

from aiohttp import web

from server.web.i18n import translate
from server.web.viewer import Viewer, load_viewer

__all__ = ["MAX_FORM_BYTES", "check_csrf", "read_form", "require_viewer", "signed_in_form"]

MAX_FORM_BYTES: Final = 64 * 1024  # a long post in Markdown fits; uploads use multipart


async def read_form(request: web.Request, max_bytes: int = MAX_FORM_BYTES) -> dict[str, str]:
    """An `application/x-www-form-urlencoded` body as a dict (the last of repeated names;
    read `parse_qsl` yourself for lists); 413 past `max_bytes`."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise web.HTTPRequestEntityTooLarge(max_size=max_bytes, actual_size=request.content_length)
    body = await request.content.read(max_bytes + 1)
    if len(body) > max_bytes:
        raise web.HTTPRequestEntityTooLarge(max_size=max_bytes, actual_size=len(body))
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


async def require_viewer(request: web.Request) -> Viewer:
    """The signed-in person, else a redirect (303) to the sign-in page and back here."""
    viewer = await load_viewer(request)
    if viewer is None:
        raise web.HTTPSeeOther(f"/auth/sign_in?next={quote(request.path_qs, safe='')}")
    return viewer


def check_csrf(viewer: Viewer, fields: dict[str, str], request: web.Request | None = None) -> None:
    """403 unless the form repeats the session's CSRF token (the page in `request`'s
    language when given)."""
    if not hmac.compare_digest(viewer.csrf_token, fields.get("csrf_token", "")):
        text = "This form expired. Please reload the page and try again."
        if request is not None:
            text = translate(request, "This form expired. Please reload the page and try again.")
        raise web.HTTPForbidden(text=text)


async def signed_in_form(
    request: web.Request, max_bytes: int = MAX_FORM_BYTES
) -> tuple[Viewer, dict[str, str]]:
    """A POSTed form of a signed-in person, CSRF-checked: what most form handlers start with.
    A visitor's POST gets the sign-in redirect (303, so the browser GETs it)."""
    viewer = await require_viewer(request)
    fields = await read_form(request, max_bytes)
    check_csrf(viewer, fields, request)
    return viewer, fields
