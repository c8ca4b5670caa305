"""Who is signed in on a web request (`actors.web_sessions`), read once per request from
the session cookie and kept on the request, so that every page's layout can show it.

Must not import the page modules (`server.web.errors` uses it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from aiohttp import web

from actors.web_sessions import WebSession, find_session
from server import keys

__all__ = ["SESSION_COOKIE", "VIEWER", "Viewer", "load_viewer"]

SESSION_COOKIE: Final = "verbund_session"


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is signed in on this request, and the CSRF token their forms carry."""

    username: str
    user_id: int
    csrf_token: str
    session: WebSession
    locale: str = ""  # the person's chosen page language ("" = the browser's)
    is_admin: bool = False  # the operator: may use /admin


# The signed-in person of a request, once found (absent: nobody, or not looked up).
VIEWER = web.RequestKey("viewer", Viewer)


async def load_viewer(request: web.Request) -> Viewer | None:
    """The signed-in person of a request with a session cookie (one query), else None."""
    if VIEWER in request:
        return request[VIEWER]
    token = request.cookies.get(SESSION_COOKIE)
    found = None
    if token:
        async with request.app[keys.SESSIONMAKER]() as session:
            found = await find_session(session, token, now=request.app[keys.CLOCK]())
            await session.commit()
    if found is None:
        return None
    row, user = found
    viewer = Viewer(user.username, user.id, row.csrf_token, row, user.locale, user.is_admin)
    request[VIEWER] = viewer
    return viewer
