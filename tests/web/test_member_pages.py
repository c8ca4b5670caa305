"""A member's profile and account settings pages over real HTTP (issue 16): editing the
profile sends the actor's Update to its followers on another instance; password change,
language, sessions, tokens and the data export; CSRF and other people's objects
refused with nothing changed."""

from __future__ import annotations

import csv
import io
import json

from sqlalchemy import select

from actors import accounts
from actors.local import get_actor
from actors.models import ActorType, RemoteActor, RoleName
from actors.web_sessions import WebSession
from outbox.models import Activity
from server import actions
from tests.conftest import LoopbackResolver, StartInstance
from tests.helpers import settle
from tests.web.member import PASSWORD, member, page, post
from tests.webpages import browser_client, sign_in


async def test_profile_edit_updates_the_actor_and_its_followers(
    start_instance: StartInstance, resolver: LoopbackResolver
) -> None:
    alpha = await start_instance("alpha")
    beta = await start_instance("beta", domain="beta.test:8443")
    await member(alpha, "anna", display_name="Anna")
    await beta.add_actor("bert", ActorType.PERSON)
    await actions.follow(beta.services, "bert", "anna@alpha.test")
    await settle(alpha, beta)
    async with browser_client(resolver) as browser:
        # A visitor is sent to sign in, and back.
        async with browser.get(f"{alpha.base_url}/settings/profile", allow_redirects=False) as r:
            assert r.status == 303
            assert r.headers["Location"].startswith("/auth/sign_in?next=")
        csrf = await sign_in(browser, alpha, "anna", PASSWORD)
        form_page = await page(browser, f"{alpha.base_url}/settings/profile")
        assert 'name="display_name"' in form_page and 'value="Anna"' in form_page
        assert '<option value="DE">Germany</option>' in form_page
        fields = {
            "csrf_token": csrf,
            "display_name": "Anna Berlin",
            "summary": "Radfahrerin",
            "country": "DE",
            "subdivision": "DE-BE",
            "locality": "Pankow",
            "postal_prefix": "13",
            "interests": "Radverkehr, Klima",
            "discoverable": "1",
            "locked": "1",
        }
        location, _ = await post(browser, f"{alpha.base_url}/settings/profile", fields)
        assert location == "/settings/profile?done=saved"
        saved = await page(browser, f"{alpha.base_url}{location}")
        assert 'role="status"' in saved and 'value="Pankow"' in saved
        assert '<option value="DE-BE" selected>Berlin (DE-BE)</option>' in saved
        async with alpha.sessionmaker() as session:
            anna = await get_actor(session, "anna")
            assert (anna.display_name, anna.region_code, anna.locality) == (
                "Anna Berlin",
                "DE-BE",
                "Pankow",
            )
            assert (anna.postal_prefix, anna.interests) == ("13", ["Radverkehr", "Klima"])
            assert anna.discoverable and anna.manually_approves
            updates = await session.scalars(select(Activity).where(Activity.type == "Update"))
            assert len(list(updates)) == 1
        await settle(alpha, beta)
        async with beta.sessionmaker() as session:
            seen = await session.scalar(
                select(RemoteActor).where(RemoteActor.uri == alpha.actor_uri("anna"))
            )
            assert seen is not None and seen.display_name == "Anna Berlin"
            assert seen.region_code == "DE-BE"

        # A subdivision of another country than the one chosen is dropped, not refused.
        fields.update(country="AT", subdivision="DE-BE", locality="")
        await post(browser, f"{alpha.base_url}/settings/profile", fields)
        async with alpha.sessionmaker() as session:
            assert (await get_actor(session, "anna")).region_code == "AT"

        # Bad input: 422 with the reason and what was typed, nothing changed.
        bad = {**fields, "interests": "not a tag!", "display_name": "Changed"}
        _, text = await post(browser, f"{alpha.base_url}/settings/profile", bad, status=422)
        assert "not a hashtag" in text and 'value="Changed"' in text
        # A wrong CSRF token: 403, nothing changed.
        await post(
            browser,
            f"{alpha.base_url}/settings/profile",
            {**fields, "csrf_token": "forged", "display_name": "Forged"},
            status=403,
        )
        async with alpha.sessionmaker() as session:
            assert (await get_actor(session, "anna")).display_name == "Anna Berlin"


async def test_profile_of_an_organisation_needs_a_role_that_publishes(
    start_instance: StartInstance, resolver: LoopbackResolver
) -> None:
    alpha = await start_instance("alpha")
    await alpha.add_actor("kv", display_name="Kreisverband")
    await alpha.add_actor("other", display_name="Other")
    await member(alpha, "anna", roles={"kv": RoleName.EDITOR})
    await member(alpha, "max", roles={"kv": RoleName.MODERATOR})
    async with browser_client(resolver) as browser:
        csrf = await sign_in(browser, alpha, "anna", PASSWORD)
        text = await page(browser, f"{alpha.base_url}/settings/profile?actor=kv")
        assert 'value="Kreisverband"' in text and 'name="actor" value="kv"' in text
        form = {"csrf_token": csrf, "actor": "kv", "display_name": "KV Pankow", "country": ""}
        location, _ = await post(browser, f"{alpha.base_url}/settings/profile", form)
        assert location == "/settings/profile?actor=kv&done=saved"
        # An actor she holds no role on: 404, nothing changed.
        await page(browser, f"{alpha.base_url}/settings/profile?actor=other", status=404)
        await post(
            browser,
            f"{alpha.base_url}/settings/profile",
            {**form, "actor": "other", "display_name": "Taken"},
            status=404,
        )
    async with browser_client(resolver) as browser:
        csrf = await sign_in(browser, alpha, "max", PASSWORD)
        # A moderator does not speak for the organisation.
        text = await page(browser, f"{alpha.base_url}/settings/profile?actor=kv", status=403)
        assert "does not allow" in text
        await post(
            browser,
            f"{alpha.base_url}/settings/profile",
            {"csrf_token": csrf, "actor": "kv", "display_name": "Moderated"},
            status=403,
        )
    async with alpha.sessionmaker() as session:
        assert (await get_actor(session, "kv")).display_name == "KV Pankow"
        assert (await get_actor(session, "other")).display_name == "Other"


async def test_password_change_ends_the_other_sessions(
    start_instance: StartInstance, resolver: LoopbackResolver
) -> None:
    alpha = await start_instance("alpha")
    await member(alpha, "anna")
    url = f"{alpha.base_url}/settings/account"
    async with browser_client(resolver) as phone, browser_client(resolver) as laptop:
        await sign_in(phone, alpha, "anna", PASSWORD)
        csrf = await sign_in(laptop, alpha, "anna", PASSWORD)
        text = await page(laptop, url)
        assert text.count("End this session") == 1 and "this session" in text
        change = {
            "csrf_token": csrf,
            "current_password": "wrong one entirely",
            "new_password": "another long passphrase",
            "repeat_password": "another long passphrase",
        }
        _, text = await post(laptop, f"{url}/password", change, status=422)
        assert "The current password is wrong." in text
        mismatch = {**change, "current_password": PASSWORD, "repeat_password": "typo"}
        _, text = await post(laptop, f"{url}/password", mismatch, status=422)
        assert "The two new passwords differ." in text
        short = {**mismatch, "new_password": "short", "repeat_password": "short"}
        await post(laptop, f"{url}/password", short, status=422)
        await post(laptop, f"{url}/password", {**change, "csrf_token": "x"}, status=403)
        # Nothing changed so far: the phone is still signed in.
        await page(phone, url)
        location, _ = await post(
            laptop, f"{url}/password", {**change, "current_password": PASSWORD}
        )
        assert location == "/settings/account?done=password"
        assert "Your other sessions were ended." in await page(
            laptop, f"{alpha.base_url}{location}"
        )
        async with phone.get(url, allow_redirects=False) as resp:
            assert resp.status == 303 and resp.headers["Location"].startswith("/auth/sign_in")
    async with alpha.sessionmaker() as session:
        assert await accounts.check_password(session, "anna", PASSWORD) is None
        assert await accounts.check_password(session, "anna", "another long passphrase")


async def test_language_sessions_tokens_and_export(
    start_instance: StartInstance, resolver: LoopbackResolver
) -> None:
    alpha = await start_instance("alpha")
    beta = await start_instance("beta", domain="beta.test:8443")
    await beta.add_actor("news", display_name="News")
    await member(alpha, "anna", display_name="Anna")
    await member(alpha, "max")
    await actions.follow(alpha.services, "anna", "news@beta.test:8443")
    await settle(alpha, beta)
    now = alpha.services.clock()
    async with alpha.sessionmaker() as session:
        anna = await accounts.get_user(session, "anna")
        mine = await accounts.create_token(
            session, user=anna, actor=await get_actor(session, "anna"), scopes=["read"], now=now,
            name="script",
        )  # fmt: skip
        max_ = await accounts.get_user(session, "max")
        theirs = await accounts.create_token(
            session, user=max_, actor=await get_actor(session, "max"), scopes=["read"], now=now
        )
        await session.commit()
    url = f"{alpha.base_url}/settings/account"
    async with browser_client(resolver) as other, browser_client(resolver) as browser:
        await sign_in(other, alpha, "anna", PASSWORD)
        csrf = await sign_in(browser, alpha, "anna", PASSWORD)
        # Language: her choice wins over the browser's.
        await post(browser, f"{url}/language", {"csrf_token": csrf, "locale": "de"})
        text = await page(browser, url)
        assert '<html lang="de">' in text and "Kontoeinstellungen" in text
        await post(browser, f"{url}/language", {"csrf_token": csrf, "locale": "xx"}, status=400)
        await post(browser, f"{url}/language", {"csrf_token": csrf, "locale": ""})
        assert '<html lang="en">' in await page(browser, url)
        # Tokens: hers can be revoked, another person's not (404, still live).
        assert "script" in text
        await post(browser, f"{url}/tokens", {"csrf_token": csrf, "token_id": str(theirs.id)}, 404)
        await post(browser, f"{url}/tokens", {"csrf_token": csrf, "token_id": str(mine.id)})
        async with alpha.sessionmaker() as session:
            live = {t.id for t in await accounts.list_tokens(session)}
            assert live == {theirs.id}
        # Sessions: end the other one; not one of another person's.
        async with alpha.sessionmaker() as session:
            rows = list(await session.scalars(select(WebSession).order_by(WebSession.id)))
        assert len(rows) == 2
        await post(browser, f"{url}/sessions", {"csrf_token": csrf, "session_id": "99999"}, 404)
        await post(browser, f"{url}/sessions", {"csrf_token": csrf, "session_id": str(rows[0].id)})
        async with other.get(url, allow_redirects=False) as resp:
            assert resp.status == 303
        await page(browser, url)
        # The export: one JSON and Mastodon's follows CSV.
        async with browser.get(f"{url}/export.json") as resp:
            assert resp.status == 200 and "attachment" in resp.headers["Content-Disposition"]
            doc = json.loads(await resp.text())
        assert doc["user"]["username"] == "anna"
        assert [(a["handle"], a["role"], a["own_person"]) for a in doc["actors"]] == [
            ("anna@alpha.test", "owner", True)
        ]
        assert doc["follows"]["following"] == ["news@beta.test:8443"]
        assert doc["posts"] == [] and doc["contact_requests"] == []
        async with browser.get(f"{url}/follows.csv") as resp:
            rows_csv = list(csv.reader(io.StringIO(await resp.text())))
        assert rows_csv == [
            ["Account address", "Show boosts", "Notify on new posts", "Languages"],
            ["news@beta.test:8443", "true", "false", ""],
        ]
    # A visitor gets no export.
    async with (
        browser_client(resolver) as visitor,
        visitor.get(f"{url}/export.json", allow_redirects=False) as resp,
    ):
        assert resp.status == 303


async def test_guessing_the_current_password_shares_the_sign_in_limits(
    start_instance: StartInstance, resolver: LoopbackResolver
) -> None:
    alpha = await start_instance("alpha", limits={"sign_in_per_account": 2})
    await member(alpha, "anna")
    url = f"{alpha.base_url}/settings/account/password"
    async with browser_client(resolver) as browser:
        csrf = await sign_in(browser, alpha, "anna", PASSWORD)
        guess = {
            "csrf_token": csrf,
            "current_password": "a wrong guess of it",
            "new_password": "another long passphrase",
            "repeat_password": "another long passphrase",
        }
        for _ in range(2):
            await post(browser, url, guess, status=422)
        _, text = await post(browser, url, {**guess, "current_password": PASSWORD}, status=429)
        assert "Too many attempts" in text
    async with alpha.sessionmaker() as session:
        assert await accounts.check_password(session, "anna", PASSWORD)
