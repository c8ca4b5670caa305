"""Helpers for tests of the web pages over real HTTP: a browser-like client with its own
cookie jar, signing in through the real form, and the CSRF token of a page."""

from __future__ import annotations

import re

import aiohttp

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
