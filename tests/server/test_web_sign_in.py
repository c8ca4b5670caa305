"""Signing in to the web pages over real HTTP (issue 16): the form's CSRF double submit,
wrong passwords, the session cookie's flags, the layout showing who is signed in,
signing out here and everywhere, the shared sign-in limits."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlalchemy import func, select

from actors import accounts
from actors.web_sessions import WebSession
from tests.conftest import Instance, LoopbackResolver, StartInstance

PASSWORD = "a long passphrase of hers"


@pytest.fixture
async def alpha(start_instance: StartInstance) -> Instance:
    inst = await start_instance("alpha", limits={"sign_in_per_account": 3})
    async with inst.sessionmaker() as session:
        await accounts.create_user(
            session, username="anna", password=PASSWORD, now=inst.services.clock()
        )
        await session.commit()
    return inst


@pytest.fixture
async def browser(resolver: LoopbackResolver) -> AsyncIterator[aiohttp.ClientSession]:
    """A client with its own cookie jar, as one browser."""
    connector = aiohttp.TCPConnector(resolver=resolver, force_close=True)
    async with aiohttp.ClientSession(
        connector=connector, cookie_jar=aiohttp.CookieJar(unsafe=True)
    ) as session:
        yield session


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


async def sign_in(
    browser: aiohttp.ClientSession, inst: Instance, password: str = PASSWORD
) -> aiohttp.ClientResponse:
    async with browser.get(f"{inst.base_url}/auth/sign_in?next=/directory") as resp:
        assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
        csrf = csrf_of(await resp.text())
    form = {"csrf_token": csrf, "username": "anna", "password": password, "next": "/directory"}
    async with browser.post(
        f"{inst.base_url}/auth/sign_in", data=form, allow_redirects=False
    ) as resp:
        await resp.read()
        return resp


async def front(browser: aiohttp.ClientSession, inst: Instance) -> str:
    async with browser.get(f"{inst.base_url}/") as resp:
        assert resp.status == 200
        return await resp.text()


async def sessions(inst: Instance) -> int:
    async with inst.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(WebSession)) or 0)


async def test_sign_in_shows_the_person_and_sign_out_ends_the_session(
    alpha: Instance, browser: aiohttp.ClientSession
) -> None:
    assert "Sign in" in await front(browser, alpha)
    wrong = await sign_in(browser, alpha, password="not the password at all")
    assert wrong.status == 401
    assert await sessions(alpha) == 0

    signed = await sign_in(browser, alpha)
    assert signed.status == 303 and signed.headers["Location"] == "/directory"
    cookie = signed.headers["Set-Cookie"]
    assert "verbund_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # http development instance; https gets Secure
    async with alpha.sessionmaker() as session:
        [row] = await session.scalars(select(WebSession))
    token = signed.cookies["verbund_session"].value
    assert token not in (row.token_hash, row.csrf_token)  # only its hash is stored
    page = await front(browser, alpha)
    assert "Signed in as <strong>anna</strong>" in page
    # Signing out needs the session's CSRF token.
    async with browser.post(
        f"{alpha.base_url}/auth/sign_out", data={"csrf_token": "forged"}, allow_redirects=False
    ) as resp:
        assert resp.status == 403
    async with browser.post(
        f"{alpha.base_url}/auth/sign_out", data={"csrf_token": csrf_of(page)}, allow_redirects=False
    ) as resp:
        assert resp.status == 303
    assert await sessions(alpha) == 0
    assert "Sign in" in await front(browser, alpha)


async def test_sign_out_everywhere_ends_every_session_of_the_person(
    alpha: Instance, resolver: LoopbackResolver, browser: aiohttp.ClientSession
) -> None:
    connector = aiohttp.TCPConnector(resolver=resolver, force_close=True)
    async with aiohttp.ClientSession(
        connector=connector, cookie_jar=aiohttp.CookieJar(unsafe=True)
    ) as phone:
        assert (await sign_in(browser, alpha)).status == 303
        assert (await sign_in(phone, alpha)).status == 303
        assert await sessions(alpha) == 2
        page = await front(phone, alpha)
        async with phone.post(
            f"{alpha.base_url}/auth/sign_out",
            data={"csrf_token": csrf_of(page), "everywhere": "1"},
            allow_redirects=False,
        ) as resp:
            assert resp.status == 303
        assert await sessions(alpha) == 0
        assert "Signed in as" not in await front(browser, alpha)


async def test_the_sign_in_form_refuses_a_post_from_elsewhere_and_too_many_guesses(
    alpha: Instance, browser: aiohttp.ClientSession, client: aiohttp.ClientSession
) -> None:
    # Another site's form cannot know the browser's CSRF cookie.
    form = {"csrf_token": "guessed", "username": "anna", "password": PASSWORD}
    async with client.post(
        f"{alpha.base_url}/auth/sign_in", data=form, allow_redirects=False
    ) as resp:
        assert resp.status == 403 and "expired" in await resp.text()
    assert await sessions(alpha) == 0
    # Guesses count against the account (the OAuth sign-in's limit, here 3).
    for _ in range(3):
        assert (await sign_in(browser, alpha, password="wrong guess here")).status == 401
    limited = await sign_in(browser, alpha)
    assert limited.status == 429 and int(limited.headers["Retry-After"]) > 0
    assert await sessions(alpha) == 0


async def test_after_signing_in_the_browser_stays_on_this_site(
    alpha: Instance, browser: aiohttp.ClientSession
) -> None:
    async with browser.get(f"{alpha.base_url}/auth/sign_in") as resp:
        csrf = csrf_of(await resp.text())
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        form = {"csrf_token": csrf, "username": "anna", "password": PASSWORD, "next": target}
        async with browser.post(
            f"{alpha.base_url}/auth/sign_in", data=form, allow_redirects=False
        ) as resp:
            assert resp.status == 303 and resp.headers["Location"] == "/"
        browser.cookie_jar.clear_domain("alpha.test")
        async with browser.get(f"{alpha.base_url}/auth/sign_in") as resp:
            csrf = csrf_of(await resp.text())
