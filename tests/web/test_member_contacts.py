"""Contact requests in the browser over real HTTP (issue 16): a member searches the
directory, sends an anonymous contact request from beta (domain with a port) to an
organisation on alpha, whose owner accepts it on their page; replies, withdrawing (named
and anonymous); other people's requests and forged forms refused."""

from __future__ import annotations

import re

from sqlalchemy import select

from actors.models import ContactBox, ContactRequest, RoleName
from tests.conftest import Instance, LoopbackResolver, StartInstance
from tests.helpers import settle
from tests.web.member import PASSWORD, member, page, post
from tests.webpages import browser_client, sign_in


async def states(inst: Instance, box: ContactBox) -> list[str]:
    async with inst.sessionmaker() as session:
        rows = await session.scalars(
            select(ContactRequest).where(ContactRequest.box == box).order_by(ContactRequest.id)
        )
        return [r.state.value for r in rows]


async def received_id(inst: Instance) -> int:
    async with inst.sessionmaker() as session:
        rows = await session.scalars(
            select(ContactRequest.id)
            .where(ContactRequest.box == ContactBox.RECEIVED)
            .order_by(ContactRequest.id.desc())
        )
        return next(iter(rows))


async def net(start_instance: StartInstance) -> tuple[Instance, Instance]:
    alpha = await start_instance("alpha")
    beta = await start_instance(
        "beta", domain="beta.test:8443", contacts={"alias_delay_seconds": 0}
    )
    await alpha.add_actor("kv", display_name="Kreisverband Pankow")
    await member(alpha, "anna", display_name="Anna", roles={"kv": RoleName.OWNER})
    await member(alpha, "mallory")
    await member(beta, "erika", display_name="Erika Mustermann")
    return alpha, beta


async def test_anonymous_contact_request_from_the_directory_accepted_by_the_owner(
    start_instance: StartInstance, resolver: LoopbackResolver
) -> None:
    alpha, beta = await net(start_instance)
    # The directory offers members (not visitors) a contact request on each result.
    async with browser_client(resolver) as visitor:
        text = await page(visitor, f"{alpha.base_url}/directory?q=Kreisverband")
        assert "Kreisverband Pankow" in text and "/contact/new" not in text
    async with browser_client(resolver) as browser:
        await sign_in(browser, alpha, "anna", PASSWORD)
        text = await page(browser, f"{alpha.base_url}/directory?q=Kreisverband")
        assert 'href="/contact/new?to=kv%40alpha.test"' in text

    async with browser_client(resolver) as erika:
        csrf = await sign_in(erika, beta, "erika", PASSWORD)
        form = await page(erika, f"{beta.base_url}/contact/new?to=kv%40alpha.test")
        assert 'value="kv@alpha.test"' in form and "one-off alias" in form
        send = {
            "csrf_token": csrf,
            "to": "kv@alpha.test",
            "message": "Ich möchte mitmachen, bleibe aber lieber erst anonym.",
            "anonymous": "1",
        }
        await post(erika, f"{beta.base_url}/contact/new", {**send, "csrf_token": "x"}, 403)
        _, text = await post(
            erika, f"{beta.base_url}/contact/new", {**send, "message": " "}, status=422
        )
        assert "needs a message" in text and 'name="anonymous" value="1"' in text
        location, _ = await post(erika, f"{beta.base_url}/contact/new", send)
        assert re.fullmatch(r"/contacts/\d+\?done=sent", location)
        text = await page(erika, f"{beta.base_url}{location}")
        assert "Your contact request was sent." in text and "sent anonymously" in text
        sent_url = f"{beta.base_url}{location.split('?')[0]}"
        # A second pending request to the same recipient is refused.
        _, text = await post(erika, f"{beta.base_url}/contact/new", send, status=422)
        assert "pending contact request" in text
    await settle(alpha, beta)
    rid = await received_id(alpha)

    async with browser_client(resolver) as browser:
        csrf = await sign_in(browser, alpha, "mallory", PASSWORD)
        # Not mallory's: 404 with or without naming kv, nothing decided.
        await page(browser, f"{alpha.base_url}/contacts/{rid}", status=404)
        await page(browser, f"{alpha.base_url}/contacts/{rid}?actor=kv", status=404)
        await post(browser, f"{alpha.base_url}/contacts/{rid}/accept", {"csrf_token": csrf}, 404)
        await post(
            browser,
            f"{alpha.base_url}/contacts/{rid}/accept",
            {"csrf_token": csrf, "actor": "kv"},
            404,
        )
    assert await states(alpha, ContactBox.RECEIVED) == ["pending"]

    async with browser_client(resolver) as anna:
        csrf = await sign_in(anna, alpha, "anna", PASSWORD)
        text = await page(anna, f"{alpha.base_url}/contacts?actor=kv")
        assert f'href="/contacts/{rid}?actor=kv"' in text and ">anonymous<" in text
        assert "Erika" not in text and "erika" not in text
        text = await page(anna, f"{alpha.base_url}/contacts/{rid}?actor=kv")
        assert "bleibe aber lieber erst anonym" in text and "an anonymous alias" in text
        assert "erika" not in text.lower()
        accept = {"csrf_token": csrf, "actor": "kv", "follow_back": "1"}
        await post(
            anna, f"{alpha.base_url}/contacts/{rid}/accept", {**accept, "csrf_token": ""}, 403
        )
        # Withdrawing is for the sender only.
        await post(anna, f"{alpha.base_url}/contacts/{rid}/withdraw", accept, 404)
        location, _ = await post(anna, f"{alpha.base_url}/contacts/{rid}/accept", accept)
        assert location == f"/contacts/{rid}?actor=kv&done=accept"
        assert "You accepted the request." in await page(anna, f"{alpha.base_url}{location}")
        await settle(alpha, beta)
        # A decided request cannot be decided again: 409 with the reason.
        _, text = await post(anna, f"{alpha.base_url}/contacts/{rid}/decline", accept, 409)
        assert "accepted" in text
    assert await states(alpha, ContactBox.RECEIVED) == ["accepted"]
    assert await states(beta, ContactBox.SENT) == ["accepted"]
    async with browser_client(resolver) as erika:
        await sign_in(erika, beta, "erika", PASSWORD)
        text = await page(erika, sent_url)
        assert "accepted" in text and "Kreisverband Pankow" in text


async def test_replies_and_withdrawing_named_and_anonymous_requests(
    start_instance: StartInstance, resolver: LoopbackResolver
) -> None:
    alpha, beta = await net(start_instance)
    async with browser_client(resolver) as erika:
        csrf = await sign_in(erika, beta, "erika", PASSWORD)
        named, _ = await post(
            erika,
            f"{beta.base_url}/contact/new",
            {"csrf_token": csrf, "to": "anna@alpha.test", "message": "Hallo Anna"},
        )
        anonymous, _ = await post(
            erika,
            f"{beta.base_url}/contact/new",
            {"csrf_token": csrf, "to": "kv@alpha.test", "message": "Frage", "anonymous": "1"},
        )
        await settle(alpha, beta)
        async with browser_client(resolver) as anna:
            anna_csrf = await sign_in(anna, alpha, "anna", PASSWORD)
            text = await page(anna, f"{alpha.base_url}/contacts")
            assert "Erika Mustermann" in text and "Hallo Anna" in text
            rid = re.search(r'href="/contacts/(\d+)"', text)
            assert rid
            reply = {"csrf_token": anna_csrf, "message": "Hallo Erika, worum geht es?"}
            await post(anna, f"{alpha.base_url}/contacts/{rid[1]}/reply", reply)
            await settle(alpha, beta)
        text = await page(erika, f"{beta.base_url}{named.split('?')[0]}")
        assert "Hallo Erika, worum geht es?" in text and "They wrote" in text
        # Erika withdraws both; a forged form changes nothing.
        for location in (named, anonymous):
            url = f"{beta.base_url}{location.split('?')[0]}/withdraw"
            await post(erika, url, {"csrf_token": "x"}, 403)
            done, _ = await post(erika, url, {"csrf_token": csrf})
            assert done.endswith("done=withdraw")
            assert "You withdrew the request." in await page(erika, f"{beta.base_url}{done}")
            _, text = await post(erika, url, {"csrf_token": csrf}, 409)
        await settle(alpha, beta)
    assert await states(beta, ContactBox.SENT) == ["withdrawn", "withdrawn"]
    assert await states(alpha, ContactBox.RECEIVED) == ["withdrawn", "withdrawn"]
