"""Helpers for tests of the web pages over real HTTP: a browser-like client with its own
cookie jar, signing in through the real form (also on the way to a page that needs it),
and the CSRF token of a page."""

from __future__ import annotations

import html
import re

import aiohttp
from yarl import URL

from actors import accounts
from tests.conftest import Instance, LoopbackResolver


def csrf_of(page: str) -> str:
    """The first form's CSRF token on a page."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def browser_client(resolver: LoopbackResolver) -> aiohttp.ClientSession:
    """A client with its own cookie jar, as one browser (the caller closes it)."""
    connector = aiohttp.TCPConnector(resolver=resolver, force_close=True)
    return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.CookieJar(unsafe=True))


async def create_person(
    inst: Instance, username: str, password: str, *, is_admin: bool = False
) -> int:
    """A person with a login on `inst` (`accounts.create_user`); their user id."""
    async with inst.sessionmaker() as session:
        user = await accounts.create_user(
            session,
            username=username,
            password=password,
            now=inst.services.clock(),
            is_admin=is_admin,
        )
        await session.commit()
        return user.id


async def sign_in(
    browser: aiohttp.ClientSession, inst: Instance, username: str, password: str
) -> str:
    """Sign `browser` in through the sign-in form; the session's CSRF token for forms."""
    async with browser.get(f"{inst.base_url}/auth/sign_in") as resp:
        assert resp.status == 200
        csrf = csrf_of(await resp.text())
    form = {"csrf_token": csrf, "username": username, "password": password, "next": "/"}
    async with browser.post(f"{inst.base_url}/auth/sign_in", data=form) as resp:
        page = await resp.text()
        assert resp.status == 200, page
    return csrf_of(page)


def sign_in_fields(page: str, username: str, password: str) -> dict[str, str]:
    """What the sign-in form on `page` sends, filled in (its CSRF token and `next` kept)."""
    found = re.search(r'name="next" value="([^"]*)"', page)
    assert found, page
    return {
        "csrf_token": csrf_of(page),
        "username": username,
        "password": password,
        "next": html.unescape(found.group(1)),
    }


async def sign_in_on_the_way(
    browser: aiohttp.ClientSession, url: str, username: str, password: str
) -> tuple[URL, str]:
    """GET `url` as a visitor, which sends the browser to the sign-in form, and sign in
    there: (the URL it lands on, that page), as after a person's sign-in."""
    async with browser.get(url) as resp:
        page = await resp.text()
        assert resp.status == 200 and resp.url.path == "/auth/sign_in", (resp.url, page)
        action = resp.url.with_query(None)
    form = sign_in_fields(page, username, password)
    async with browser.post(action, data=form) as resp:
        return resp.url, await resp.text()
