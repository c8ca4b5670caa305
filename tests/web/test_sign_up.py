"""Signing up on the web pages (issue 16), over real HTTP: invitations by an
organisation's owner (granting a role) and by the operator, refused when expired, used
up or withdrawn; open sign-up with the operator's approval; the OAuth authorize page
for a signed-in person."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
from sqlalchemy import select
from yarl import URL

from actors import accounts
from actors.invitations import Invitation, create_invitation
from actors.local import find_actor
from actors.models import ActorType, RoleName, User
from server import keys
from server.instance_settings import save_settings
from tests.conftest import Instance, LoopbackResolver, StartInstance
from tests.webpages import browser_client, create_person, csrf_of, sign_in, sign_in_on_the_way

PASSWORD = "a long passphrase of hers"
NEW_PASSWORD = "correct horse battery staple"


async def owner_of(inst: Instance, username: str, actor: str) -> None:
    """`username` (a new person) owns the organisation `actor` (created here)."""
    await inst.add_actor(actor, display_name=actor.upper())
    await create_person(inst, username, PASSWORD)
    async with inst.sessionmaker() as session:
        user = await accounts.get_user(session, username)
        org = await find_actor(session, actor)
        assert org is not None
        now = inst.services.clock()
        await accounts.grant_role(session, user=user, actor=org, role=RoleName.OWNER, now=now)
        await session.commit()


async def new_link(browser: aiohttp.ClientSession, url: str, csrf: str, **fields: str) -> str:
    """Create an invitation on `url` (a signed-in staff page); the link it shows once."""
    async with browser.post(url, data={"csrf_token": csrf, **fields}) as resp:
        page = await resp.text()
        assert resp.status == 200, page
    match = re.search(r'value="(http://[^"]+/invite/[^"]+)"', page)
    assert match, page
    return match.group(1)


async def sign_up_form(browser: aiohttp.ClientSession, url: str, **headers: str) -> tuple[int, str]:
    async with browser.get(url, headers=headers) as resp:
        return resp.status, await resp.text()


async def submit(
    browser: aiohttp.ClientSession, url: str, csrf: str, username: str, **extra: str
) -> aiohttp.ClientResponse:
    form = {
        "csrf_token": csrf,
        "username": username,
        "email": f"{username}@mail.example",
        "password": NEW_PASSWORD,
        "password_again": NEW_PASSWORD,
        "locale": "de",
        **extra,
    }
    resp = await browser.post(url, data=form, allow_redirects=False)
    await resp.read()
    return resp


async def roles_of(inst: Instance, username: str) -> dict[str, RoleName]:
    async with inst.sessionmaker() as session:
        user = await accounts.get_user(session, username)
        return {a.username: role for a, role in await accounts.actors_of(session, user.id)}


async def test_an_owner_invites_with_a_role_and_the_link_works_once(
    start_instance: StartInstance, resolver: LoopbackResolver
) -> None:
    alpha = await start_instance("alpha")
    await owner_of(alpha, "anna", "kv")
    async with browser_client(resolver) as staff:
        csrf = await sign_in(staff, alpha, "anna", PASSWORD)
        async with staff.get(f"{alpha.base_url}/manage/kv/invitations") as resp:
            page = await resp.text()
            assert resp.status == 200 and "Invitations to KV" in page
        link = await new_link(
            staff,
            f"{alpha.base_url}/manage/kv/invitations",
            csrf,
            role="editor",
            max_uses="1",
            days="7",
            note="for Bert",
        )
        async with staff.get(f"{alpha.base_url}/manage/kv/invitations") as resp:
            page = await resp.text()
            assert "for Bert" in page and link not in page  # the token is shown only once

    async with browser_client(resolver) as bert:
        status, page = await sign_up_form(bert, link)
        assert status == 200 and "editor of KV" in page
        # The passwords must match, and nothing is created until they do.
        resp = await submit(bert, link, csrf_of(page), "bert", password_again="something else")
        assert resp.status == 422
        async with alpha.sessionmaker() as session:
            assert await accounts.find_user(session, "bert") is None
        resp = await submit(bert, link, csrf_of(page), "bert")
        assert resp.status == 303 and resp.headers["Location"] == "/@bert"
        assert "verbund_session" in resp.cookies
        async with bert.get(alpha.base_url + "/@bert") as resp:
            page = await resp.text()
            # Signed in, in the language chosen on the form.
            assert resp.status == 200 and '<html lang="de">' in page and "bert" in page
    assert await roles_of(alpha, "bert") == {"bert": RoleName.OWNER, "kv": RoleName.EDITOR}
    async with alpha.sessionmaker() as session:
        person = await find_actor(session, "bert")
        assert person is not None and person.type == ActorType.PERSON.value
        user = await accounts.get_user(session, "bert")
        assert user.email == "bert@mail.example" and user.locale == "de"
        assert user.password_hash.startswith("$argon2")
        [row] = await session.scalars(select(Invitation))
        assert row.uses == 1 and link.rsplit("/", 1)[1] not in row.token_hash

    async with browser_client(resolver) as carl:
        status, page = await sign_up_form(carl, link)
        assert status == 410 and "already been used" in page
        resp = await submit(carl, link, "x", "carl")
        assert resp.status == 410
    async with alpha.sessionmaker() as session:
        assert await accounts.find_user(session, "carl") is None


async def test_expired_withdrawn_and_unknown_invitations_are_refused(
    start_instance: StartInstance, resolver: LoopbackResolver
) -> None:
    alpha = await start_instance("alpha")
    await create_person(alpha, "olga", PASSWORD, is_admin=True)
    async with alpha.sessionmaker() as session:
        olga = await accounts.get_user(session, "olga")
        past = alpha.services.clock() - timedelta(days=8)
        _, expired = await create_invitation(session, by=olga, now=past, days=7)
        await session.commit()
    async with browser_client(resolver) as visitor:
        status, page = await sign_up_form(visitor, f"{alpha.base_url}/invite/{expired}")
        assert status == 410 and "has expired" in page
        status, page = await sign_up_form(visitor, f"{alpha.base_url}/invite/nonsense")
        assert status == 404 and "does not exist" in page
        status, page = await sign_up_form(
            visitor,
            f"{alpha.base_url}/invite/{expired}",
            **{"Accept-Language": "de-DE,de;q=0.9"},
        )
        assert '<html lang="de">' in page and "Diese Einladung ist abgelaufen." in page

    async with browser_client(resolver) as admin:
        csrf = await sign_in(admin, alpha, "olga", PASSWORD)
        link = await new_link(admin, f"{alpha.base_url}/admin/invitations", csrf, max_uses="5")
        async with alpha.sessionmaker() as session:
            [_, row] = sorted(await session.scalars(select(Invitation)), key=lambda r: r.id)
        # Withdrawing needs the session's CSRF token.
        url = f"{alpha.base_url}/admin/invitations/{row.id}/revoke"
        async with admin.post(url, data={"csrf_token": "forged"}) as resp:
            assert resp.status == 403
        async with admin.post(url, data={"csrf_token": csrf}) as resp:
            assert resp.status == 200 and "withdrawn" in await resp.text()
    async with browser_client(resolver) as visitor:
        status, page = await sign_up_form(visitor, link)
        assert status == 410 and "was withdrawn" in page


async def test_only_owners_and_the_operator_invite(
    start_instance: StartInstance, resolver: LoopbackResolver
) -> None:
    alpha = await start_instance("alpha")
    await owner_of(alpha, "anna", "kv")
    await create_person(alpha, "eddi", PASSWORD)
    async with alpha.sessionmaker() as session:
        eddi = await accounts.get_user(session, "eddi")
        kv = await find_actor(session, "kv")
        assert kv is not None
        now = alpha.services.clock()
        await accounts.grant_role(session, user=eddi, actor=kv, role=RoleName.EDITOR, now=now)
        await session.commit()
    async with browser_client(resolver) as browser:
        async with browser.get(
            f"{alpha.base_url}/manage/kv/invitations", allow_redirects=False
        ) as resp:
            assert resp.status == 303 and resp.headers["Location"].startswith("/auth/sign_in?next=")
        csrf = await sign_in(browser, alpha, "eddi", PASSWORD)
        async with browser.get(f"{alpha.base_url}/manage/kv/invitations") as resp:
            assert resp.status == 403 and "Only the owners of kv" in await resp.text()
        form = {"csrf_token": csrf, "role": "owner"}
        async with browser.post(f"{alpha.base_url}/manage/kv/invitations", data=form) as resp:
            assert resp.status == 403
        async with browser.get(f"{alpha.base_url}/admin/invitations") as resp:
            assert resp.status == 403
        async with browser.post(f"{alpha.base_url}/admin/invitations", data=form) as resp:
            assert resp.status == 403
    async with browser_client(resolver) as browser:
        csrf = await sign_in(browser, alpha, "anna", PASSWORD)
        # A forged form changes nothing, even for an owner.
        form = {"csrf_token": "forged", "role": "owner"}
        async with browser.post(f"{alpha.base_url}/manage/kv/invitations", data=form) as resp:
            assert resp.status == 403
        async with browser.get(f"{alpha.base_url}/manage/nobody/invitations") as resp:
            assert resp.status == 404
    async with alpha.sessionmaker() as session:
        assert list(await session.scalars(select(Invitation))) == []


async def test_open_sign_up_waits_for_the_operators_approval(
    start_instance: StartInstance, resolver: LoopbackResolver
) -> None:
    alpha = await start_instance("alpha", registrations="approval")
    await create_person(alpha, "olga", PASSWORD, is_admin=True)
    url = f"{alpha.base_url}/auth/sign_up"
    async with browser_client(resolver) as visitor:
        status, page = await sign_up_form(visitor, f"{alpha.base_url}/auth/sign_in")
        assert 'href="/auth/sign_up"' in page
        status, page = await sign_up_form(visitor, url)
        assert status == 200 and 'name="reason"' in page
        resp = await submit(visitor, url, "forged", "carl")
        assert resp.status == 403
        status, page = await sign_up_form(visitor, url)  # the refusal set a new token
        resp = await submit(visitor, url, csrf_of(page), "olga")  # taken
        assert resp.status == 422
        resp = await submit(visitor, url, csrf_of(page), "carl", reason="I run the choir")
        assert resp.status == 200 and "verbund_session" not in resp.cookies
        assert "waits for the operator" in await resp.text()
        resp = await submit(visitor, url, csrf_of(page), "dora")
        assert resp.status == 200
        # A pending account cannot sign in, and is told why.
        async with visitor.get(f"{alpha.base_url}/auth/sign_in") as r:
            csrf = csrf_of(await r.text())
        form = {"csrf_token": csrf, "username": "carl", "password": NEW_PASSWORD, "next": "/"}
        async with visitor.post(f"{alpha.base_url}/auth/sign_in", data=form) as r:
            assert r.status == 403 and "waits for the operator" in await r.text()
    async with alpha.sessionmaker() as session:
        assert await find_actor(session, "carl") is None  # no public actor before approval

    async with browser_client(resolver) as admin:
        csrf = await sign_in(admin, alpha, "olga", PASSWORD)
        async with admin.get(f"{alpha.base_url}/admin/sign_ups") as resp:
            page = await resp.text()
            assert resp.status == 200 and "I run the choir" in page and "dora" in page
        async with alpha.sessionmaker() as session:
            carl = await accounts.get_user(session, "carl")
            dora = await accounts.get_user(session, "dora")
        approve = f"{alpha.base_url}/admin/sign_ups/{carl.id}/approve"
        async with admin.post(approve, data={"csrf_token": "forged"}) as resp:
            assert resp.status == 403
        async with admin.post(approve, data={"csrf_token": csrf}) as resp:
            assert resp.status == 200 and "carl" not in re.sub(r"done=[^\"]*", "", str(resp.url))
        decline = f"{alpha.base_url}/admin/sign_ups/{dora.id}/decline"
        async with admin.post(decline, data={"csrf_token": csrf}) as resp:
            assert resp.status == 200
        async with admin.post(decline, data={"csrf_token": csrf}) as resp:
            assert resp.status == 404
    async with alpha.sessionmaker() as session:
        assert await accounts.find_user(session, "dora") is None
        carl_actor = await find_actor(session, "carl")
        assert carl_actor is not None and carl_actor.type == ActorType.PERSON.value
    assert await roles_of(alpha, "carl") == {"carl": RoleName.OWNER}
    async with browser_client(resolver) as browser:
        await sign_in(browser, alpha, "carl", NEW_PASSWORD)

    # A person who is not the operator cannot decide sign-ups.
    async with browser_client(resolver) as browser:
        csrf = await sign_in(browser, alpha, "carl", NEW_PASSWORD)
        async with browser.get(f"{alpha.base_url}/admin/sign_ups") as resp:
            assert resp.status == 403


async def test_sign_up_needs_an_invitation_or_is_closed(
    start_instance: StartInstance, resolver: LoopbackResolver
) -> None:
    alpha = await start_instance("alpha")
    closed = await start_instance("beta", registrations="closed")
    await create_person(closed, "olga", PASSWORD, is_admin=True)
    async with closed.sessionmaker() as session:
        olga = await accounts.get_user(session, "olga")
        _, token = await create_invitation(session, by=olga, now=closed.services.clock())
        await session.commit()
    async with browser_client(resolver) as visitor:
        status, page = await sign_up_form(visitor, f"{alpha.base_url}/auth/sign_up")
        assert status == 403 and "invitation link" in page
        resp = await submit(visitor, f"{alpha.base_url}/auth/sign_up", "x", "carl")
        assert resp.status == 403
        status, page = await sign_up_form(visitor, f"{closed.base_url}/invite/{token}")
        assert status == 403 and "no new accounts" in page
    async with alpha.sessionmaker() as session:
        assert list(await session.scalars(select(User).where(User.username == "carl"))) == []


async def test_the_operators_run_time_setting_opens_and_closes_sign_up(
    start_instance: StartInstance, resolver: LoopbackResolver
) -> None:
    """`/admin/settings`' sign-up mode (stored, read by every process) overrides the
    config's `[registrations] mode`."""
    alpha = await start_instance("alpha")  # the config says "invite"
    for mode, status in (("approval", 200), ("closed", 403), ("invite-only", 403)):
        async with alpha.sessionmaker() as session:
            await save_settings(
                session,
                alpha.config,
                {"registration_mode": mode},
                now=alpha.services.clock(),
            )
            await session.commit()
        alpha.app[keys.SETTINGS].invalidate()  # as another process sees it after the TTL
        async with browser_client(resolver) as visitor:
            got, page = await sign_up_form(visitor, f"{alpha.base_url}/auth/sign_up")
            assert got == status, (mode, page)


async def test_sign_up_is_charged_to_the_sign_in_limits(
    start_instance: StartInstance, resolver: LoopbackResolver
) -> None:
    alpha = await start_instance(
        "alpha",
        registrations="approval",
        limits={"sign_in_per_address": 2, "sign_in_per_address_seconds": 600},
    )
    url = f"{alpha.base_url}/auth/sign_up"
    async with browser_client(resolver) as visitor:
        _, page = await sign_up_form(visitor, url)
        for name in ("carl", "dora"):
            assert (await submit(visitor, url, csrf_of(page), name)).status == 200
        resp = await submit(visitor, url, csrf_of(page), "emil")
        assert resp.status == 429 and "Retry-After" in resp.headers
    async with alpha.sessionmaker() as session:
        assert await accounts.find_user(session, "emil") is None


async def test_oauth_authorize_uses_the_web_sign_in(
    start_instance: StartInstance, resolver: LoopbackResolver
) -> None:
    alpha = await start_instance("alpha")
    await owner_of(alpha, "anna", "kv")
    redirect = "com.example.app:/oauth"
    async with browser_client(resolver) as browser:
        form = {"client_name": "Pocket", "redirect_uris": redirect, "scopes": "read write"}
        async with browser.post(f"{alpha.base_url}/api/v1/apps", data=form) as resp:
            app = await resp.json()
        query = {
            "response_type": "code",
            "client_id": app["client_id"],
            "redirect_uri": redirect,
            "scope": "read write",
            "state": "s1",
        }
        authorize = f"{alpha.base_url}/oauth/authorize?{urlencode(query)}"
        # A visitor is sent to the site's sign-in, which comes back here.
        async with browser.get(authorize, allow_redirects=False) as resp:
            assert resp.status == 303
            assert URL(resp.headers["Location"]).query["next"] == URL(authorize).raw_path_qs
        landed, page = await sign_in_on_the_way(browser, authorize, "anna", PASSWORD)
        assert landed == URL(authorize)
        assert "Pocket" in page and "read" in page and 'name="password"' not in page
        hidden = dict(re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', page))
        assert hidden["csrf_token"] and hidden["actor"] == "kv"
        # anna holds roles on her organisation kv only: one click.
        forged = {**hidden, "csrf_token": "forged", "decision": "allow"}
        async with browser.post(f"{alpha.base_url}/oauth/authorize", data=forged) as resp:
            assert resp.status == 403
        async with browser.post(
            f"{alpha.base_url}/oauth/authorize",
            data={**hidden, "decision": "allow"},
            allow_redirects=False,
        ) as resp:
            assert resp.status == 302
            location = urlsplit(resp.headers["Location"])
        assert f"{location.scheme}:{location.path}" == redirect
        got = parse_qs(location.query)
        assert got["state"] == ["s1"]
        exchange = {
            "grant_type": "authorization_code",
            "code": got["code"][0],
            "redirect_uri": redirect,
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
        }
        async with browser.post(f"{alpha.base_url}/oauth/token", data=exchange) as resp:
            token = (await resp.json())["access_token"]
        async with browser.get(
            f"{alpha.base_url}/api/v1/accounts/verify_credentials",
            headers={"Authorization": f"Bearer {token}"},
        ) as resp:
            assert (await resp.json())["acct"] == "kv"
        # Denying sends the app an error.
        async with browser.post(
            f"{alpha.base_url}/oauth/authorize",
            data={**hidden, "decision": "deny"},
            allow_redirects=False,
        ) as resp:
            assert resp.status == 302 and "error=access_denied" in resp.headers["Location"]
