"""The operator's pages (`/admin`, issue 16) over real HTTP: who may use them, CSRF,
instance settings seen by the front page and the API, a domain block that holds against
another instance's inbox POSTs, relays, directory peers, reports and a dead delivery sent
again."""

from __future__ import annotations

import re
from urllib.parse import unquote

import aiohttp
from sqlalchemy import func, select, update

from actors.local import get_actor
from actors.models import (
    ActorType,
    DirectoryPeer,
    DomainRule,
    Follow,
    FollowState,
    InstanceSetting,
    Report,
    ReportState,
)
from actors.uris import LocalUris
from inbox.models import InboxActivity
from outbox import content, posts, queue
from outbox.context import PublishContext
from outbox.models import Delivery, DeliveryState, Status
from outbox.posts import Draft
from server import actions, keys
from server.instance_settings import SettingsCache, registration_mode, save_settings
from tests.conftest import Instance, LoopbackResolver, StartInstance
from tests.helpers import settle, worker_for
from tests.webpages import browser_client, create_person, sign_in

HTML = {"Accept": "text/html"}
ADMIN_PAGES = (
    "/admin",
    "/admin/settings",
    "/admin/domains",
    "/admin/relays",
    "/admin/peers",
    "/admin/reports",
    "/admin/deliveries",
)


async def signed_in_admin(
    inst: Instance, resolver: LoopbackResolver, name: str = "root"
) -> tuple[aiohttp.ClientSession, str]:
    await create_person(inst, name, "operator-password-1", is_admin=True)
    browser = browser_client(resolver)
    return browser, await sign_in(browser, inst, name, "operator-password-1")


async def count(inst: Instance, model: type[object]) -> int:
    async with inst.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_visitors_sign_in_and_members_get_403(
    start_instance: StartInstance, resolver: LoopbackResolver
) -> None:
    alpha = await start_instance("alpha")
    url = f"{alpha.base_url}/admin/domains"
    async with (
        browser_client(resolver) as visitor,
        visitor.get(url, allow_redirects=False) as resp,
    ):
        assert resp.status == 303
        assert unquote(resp.headers["Location"]) == "/auth/sign_in?next=/admin/domains"
    await create_person(alpha, "mia", "member-password-1")
    async with browser_client(resolver) as member:
        csrf = await sign_in(member, alpha, "mia", "member-password-1")
        for path in ADMIN_PAGES:
            async with member.get(f"{alpha.base_url}{path}", headers=HTML) as resp:
                page = await resp.text()
                assert resp.status == 403, path
                assert "Only the operators of this instance may use this page." in page
                assert "<h1>Forbidden</h1>" in page
        form = {"csrf_token": csrf, "domain": "spam.example", "reason": "spam"}
        async with member.post(f"{alpha.base_url}/admin/domains/block", data=form) as resp:
            assert resp.status == 403
        form = {"csrf_token": csrf, "name": "Taken over", "registration_mode": "approval"}
        async with member.post(f"{alpha.base_url}/admin/settings", data=form) as resp:
            assert resp.status == 403
    assert await count(alpha, DomainRule) == 0
    assert await count(alpha, InstanceSetting) == 0
    assert alpha.app[keys.POLICY].allows_host("spam.example")


async def test_forms_without_the_session_csrf_token_change_nothing(
    start_instance: StartInstance, resolver: LoopbackResolver
) -> None:
    alpha = await start_instance("alpha")
    browser, csrf = await signed_in_admin(alpha, resolver)
    async with browser:
        async with browser.get(f"{alpha.base_url}/admin") as resp:
            assert resp.status == 200
            page = await resp.text()
            for path in ADMIN_PAGES[1:]:
                assert f'href="{path}"' in page
        for token in ("", "forged", csrf[:-1]):
            form = {"csrf_token": token, "domain": "spam.example"}
            async with browser.post(f"{alpha.base_url}/admin/domains/block", data=form) as resp:
                assert resp.status == 403
                assert "This form expired" in await resp.text()
            form = {"csrf_token": token, "name": "Hijacked", "registration_mode": "closed"}
            async with browser.post(f"{alpha.base_url}/admin/settings", data=form) as resp:
                assert resp.status == 403
    assert await count(alpha, DomainRule) == 0
    assert await count(alpha, InstanceSetting) == 0


async def test_settings_change_shows_on_the_front_page_and_the_api(
    start_instance: StartInstance, resolver: LoopbackResolver, client: aiohttp.ClientSession
) -> None:
    alpha = await start_instance("alpha")
    async with client.get(f"{alpha.base_url}/api/v1/instance") as resp:
        before = await resp.json()
    assert before["title"] == "Alpha"
    assert before["rules"] == []
    browser, csrf = await signed_in_admin(alpha, resolver)
    async with browser:
        async with browser.get(f"{alpha.base_url}/admin/settings") as resp:
            page = await resp.text()
            assert 'value="Alpha"' in page
            assert '<option value="invite-only" selected>' in page
        bad = {
            "csrf_token": csrf,
            "name": "Netz",
            "contact_email": "not an address",
            "registration_mode": "closed",
        }
        async with browser.post(f"{alpha.base_url}/admin/settings", data=bad) as resp:
            assert resp.status == 422
            page = await resp.text()
            assert "The contact email is not an email address." in page
            assert 'value="not an address" aria-invalid="true"' in page
        assert await count(alpha, InstanceSetting) == 0
        form = {
            "csrf_token": csrf,
            "name": "Netzwerk Nord",
            "description": "Vereine im Norden",
            "contact_email": "vorstand@alpha.test",
            "registration_mode": "closed",
            "rules": "Freundlich bleiben\n\nKeine Werbung\n",
            "default_language": "DE",
        }
        async with browser.post(f"{alpha.base_url}/admin/settings", data=form) as resp:
            assert resp.status == 200
            assert str(resp.url).endswith("/admin/settings?done=saved")
            page = await resp.text()
            assert "The settings were saved." in page
            assert "<title>Instance settings \N{EN DASH} Netzwerk Nord</title>" in page
    async with client.get(f"{alpha.base_url}/") as resp:
        front = await resp.text()
    assert "<title>Netzwerk Nord</title>" in front
    assert "<h1>Netzwerk Nord</h1>" in front
    assert "Vereine im Norden" in front
    async with client.get(f"{alpha.base_url}/api/v1/instance") as resp:
        v1 = await resp.json()
    assert v1["title"] == "Netzwerk Nord"
    assert v1["description"] == "Vereine im Norden"
    assert v1["email"] == "vorstand@alpha.test"
    assert v1["languages"] == ["de"]
    assert v1["registrations"] is False
    assert v1["rules"] == [
        {"id": "1", "text": "Freundlich bleiben"},
        {"id": "2", "text": "Keine Werbung"},
    ]
    async with client.get(f"{alpha.base_url}/api/v2/instance") as resp:
        v2 = await resp.json()
    assert v2["title"] == "Netzwerk Nord"
    assert v2["contact"]["email"] == "vorstand@alpha.test"
    assert v2["registrations"]["enabled"] is False
    async with client.get(f"{alpha.base_url}/api/v1/instance/rules") as resp:
        assert [r["text"] for r in await resp.json()] == ["Freundlich bleiben", "Keine Werbung"]
    async with alpha.sessionmaker() as session:
        assert await registration_mode(session, alpha.config) == "closed"


async def test_another_process_sees_a_change_within_the_cache_time(
    start_instance: StartInstance,
) -> None:
    """Each process reads the settings again after a few seconds: a change saved by
    another process (here: straight to the database) shows once the cache time passed."""
    alpha = await start_instance("alpha")
    now = [100.0]
    cache = SettingsCache(alpha.config, ttl=2.0, monotonic=lambda: now[0])
    assert (await cache.get(alpha.sessionmaker)).name == "Alpha"
    async with alpha.sessionmaker() as session:
        await save_settings(
            session, alpha.config, {"registration_mode": "approval"}, now=alpha.services.clock()
        )
        await session.commit()
    now[0] += 1.0
    assert (await cache.get(alpha.sessionmaker)).registration_mode == "invite-only"
    now[0] += 1.5
    assert (await cache.get(alpha.sessionmaker)).registration_mode == "approval"
    async with alpha.sessionmaker() as session:  # the default again: the override goes
        await save_settings(
            session, alpha.config, {"registration_mode": "invite-only"}, now=alpha.services.clock()
        )
        await session.commit()
    assert await count(alpha, InstanceSetting) == 0


async def test_a_domain_blocked_on_the_page_gets_403_for_its_inbox_posts(
    start_instance: StartInstance, resolver: LoopbackResolver
) -> None:
    alpha = await start_instance("alpha")
    beta = await start_instance("beta", domain="beta.test:8443")
    await alpha.add_actor("news", display_name="Alpha News")
    await beta.add_actor("erika", ActorType.PERSON)
    await actions.follow(beta.services, "erika", "news@alpha.test")
    await settle(alpha, beta)
    erika, news = beta.actor_uri("erika"), alpha.actor_uri("news")

    async def follow_state() -> str | None:
        async with alpha.sessionmaker() as session:
            return await session.scalar(
                select(Follow.state).where(
                    Follow.follower_uri == erika, Follow.followed_uri == news
                )
            )

    assert await follow_state() == FollowState.ACCEPTED
    browser, csrf = await signed_in_admin(alpha, resolver)
    async with browser:
        bad = {"csrf_token": csrf, "domain": "not a domain!", "reason": ""}
        async with browser.post(f"{alpha.base_url}/admin/domains/block", data=bad) as resp:
            assert resp.status == 422
            assert "That is not a domain name" in await resp.text()
        own = {"csrf_token": csrf, "domain": "alpha.test"}
        async with browser.post(f"{alpha.base_url}/admin/domains/block", data=own) as resp:
            assert resp.status == 422
            assert "cannot block its own domain" in await resp.text()
        form = {"csrf_token": csrf, "domain": "Beta.Test:8443", "reason": "Werbung & Spam"}
        async with browser.post(f"{alpha.base_url}/admin/domains/block", data=form) as resp:
            assert resp.status == 200
            page = await resp.text()
            assert "beta.test is blocked." in page
            assert "<td>beta.test</td><td>Werbung &amp; Spam</td>" in page
        inbox_before = await count(alpha, InboxActivity)
        # erika leaves: beta delivers the Undo to alpha's inbox, which refuses it.
        await actions.unfollow(beta.services, "erika", "news@alpha.test")
        await worker_for(beta).run_once()
        async with beta.sessionmaker() as session:
            delivery = await session.scalar(
                select(Delivery).where(Delivery.host == "alpha.test").order_by(Delivery.id.desc())
            )
        assert delivery is not None
        assert delivery.last_status == 403
        assert "blocked" in delivery.last_error
        assert await count(alpha, InboxActivity) == inbox_before
        assert await follow_state() == FollowState.ACCEPTED  # the Undo never arrived
        # Unblocked on the page, the same delivery goes through when sent again.
        form = {"csrf_token": csrf, "domain": "beta.test"}
        async with browser.post(f"{alpha.base_url}/admin/domains/unblock", data=form) as resp:
            assert resp.status == 200
            assert "beta.test is no longer blocked." in await resp.text()
        async with browser.post(f"{alpha.base_url}/admin/domains/unblock", data=form) as resp:
            assert resp.status == 404
    async with beta.sessionmaker() as session:  # as beta's operator would send it again
        retried = await queue.retry_deliveries(
            session, now=beta.services.clock(), ids=[delivery.id]
        )
        assert retried.count == 1
        await session.commit()
    await settle(alpha, beta)
    assert await follow_state() is None
    assert await count(alpha, DomainRule) == 0


async def test_allow_list_mode_limits_federation_to_listed_domains(
    start_instance: StartInstance, resolver: LoopbackResolver
) -> None:
    alpha = await start_instance("alpha")
    policy = alpha.app[keys.POLICY]
    browser, csrf = await signed_in_admin(alpha, resolver)
    async with browser:
        form = {"csrf_token": csrf, "domain": "friends.example", "reason": "Partner"}
        async with browser.post(f"{alpha.base_url}/admin/domains/allow", data=form) as resp:
            assert "friends.example is on the allow-list." in await resp.text()
        assert policy.allows_host("stranger.example")  # the list is not used yet
        mode = {"csrf_token": csrf, "mode": "allowlist"}
        async with browser.post(f"{alpha.base_url}/admin/domains/mode", data=mode) as resp:
            page = await resp.text()
            assert "Federation is limited to the domains on the allow-list" in page
        assert policy.allows_host("friends.example")
        assert policy.allows_host("social.friends.example:8443")
        assert policy.allows_host("alpha.test")
        assert not policy.allows_host("stranger.example")
        mode = {"csrf_token": csrf, "mode": "everything"}
        async with browser.post(f"{alpha.base_url}/admin/domains/mode", data=mode) as resp:
            assert resp.status == 422
        mode = {"csrf_token": csrf, "mode": "open"}
        async with browser.post(f"{alpha.base_url}/admin/domains/mode", data=mode) as resp:
            assert resp.status == 200
        assert policy.allows_host("stranger.example")


async def test_a_dead_delivery_is_retried_from_the_page(
    start_instance: StartInstance, resolver: LoopbackResolver
) -> None:
    alpha = await start_instance("alpha")
    beta = await start_instance("beta", domain="beta.test:8443")
    await alpha.add_actor("news", display_name="Alpha News")
    await beta.add_actor("erika", ActorType.PERSON)
    await actions.follow(beta.services, "erika", "news@alpha.test")
    await settle(alpha, beta)
    svc = alpha.services
    draft = Draft(text="Sommerfest am Samstag")
    mentions = await content.prepare_mentions(
        svc.directory, draft.text, local_base_url=alpha.base_url, webfinger_scheme="http"
    )
    async with alpha.sessionmaker() as session:
        actor = await get_actor(session, "news")
        assert actor is not None
        await posts.publish(
            session,
            PublishContext(uris=LocalUris(alpha.base_url), clock=svc.clock),
            actor=actor,
            draft=draft,
            mentions=mentions,
        )
        # As if every attempt had failed: given up, with the last error kept.
        await session.execute(
            update(Delivery)
            .where(Delivery.state == DeliveryState.PENDING)
            .values(
                state=DeliveryState.DEAD,
                attempts=9,
                last_status=503,
                last_error="HTTP 503: Service Unavailable <busy>",
            )
        )
        await session.commit()
        dead = await session.scalar(select(Delivery).where(Delivery.state == DeliveryState.DEAD))
    assert dead is not None
    browser, csrf = await signed_in_admin(alpha, resolver)
    async with browser:
        async with browser.get(f"{alpha.base_url}/admin/deliveries") as resp:
            page = await resp.text()
        assert "HTTP 503: Service Unavailable &lt;busy&gt;</td>" in page
        assert dead.inbox_uri in page
        assert re.search(r"<dt>Dead \(given up\)</dt><dd>1</dd>", page)
        async with browser.get(f"{alpha.base_url}/admin") as resp:
            assert "Dead deliveries: 1" in await resp.text()
        form = {"csrf_token": csrf, "id": "999999"}
        async with browser.post(f"{alpha.base_url}/admin/deliveries/retry", data=form) as resp:
            assert resp.status == 404
        form = {"csrf_token": csrf, "id": str(dead.id)}
        async with browser.post(f"{alpha.base_url}/admin/deliveries/retry", data=form) as resp:
            assert resp.status == 200
            page = await resp.text()
            assert "Deliveries queued again: 1." in page
            assert "No dead deliveries." in page
    async with alpha.sessionmaker() as session:
        again = await session.get(Delivery, dead.id)
        assert again is not None
        assert (again.state, again.attempts) == (DeliveryState.PENDING, 0)
    await settle(alpha, beta)
    async with beta.sessionmaker() as session:
        texts = list(await session.scalars(select(Status.content)))
    assert any("Sommerfest am Samstag" in t for t in texts)


async def test_reports_are_listed_and_resolved(
    start_instance: StartInstance, resolver: LoopbackResolver
) -> None:
    alpha = await start_instance("alpha")
    await alpha.add_actor("news")
    async with alpha.sessionmaker() as session:
        report = Report(
            flag_uri="https://beta.example/flags/1",
            reporter_uri="https://beta.example/actor",
            reported_uri=alpha.actor_uri("news"),
            object_uris=[f"{alpha.actor_uri('news')}/statuses/1"],
            comment="Beleidigungen",
            state=ReportState.OPEN,
            created_at=alpha.services.clock(),
        )
        session.add(report)
        await session.commit()
        number = report.id
    browser, csrf = await signed_in_admin(alpha, resolver)
    async with browser:
        async with browser.get(f"{alpha.base_url}/admin/reports") as resp:
            page = await resp.text()
        assert "Beleidigungen" in page
        assert "https://beta.example/actor" in page
        assert f"{alpha.actor_uri('news')}/statuses/1" in page
        url = f"{alpha.base_url}/admin/reports/{number}/resolve"
        async with browser.post(url, data={"csrf_token": "wrong"}) as resp:
            assert resp.status == 403
        async with browser.post(url, data={"csrf_token": csrf}) as resp:
            assert resp.status == 200
            page = await resp.text()
            assert f"Report {number} is resolved." in page
            assert "No open reports." in page
        missing = f"{alpha.base_url}/admin/reports/4242/resolve"
        async with browser.post(missing, data={"csrf_token": csrf}) as resp:
            assert resp.status == 404
    async with alpha.sessionmaker() as session:
        row = await session.get(Report, number)
        assert row is not None and row.state == ReportState.RESOLVED


async def test_directory_peers_and_relays_are_added_and_removed(
    start_instance: StartInstance, resolver: LoopbackResolver
) -> None:
    alpha = await start_instance("alpha", directory={"peers": ("gamma.test",)})
    browser, csrf = await signed_in_admin(alpha, resolver)
    async with browser:
        form = {"csrf_token": csrf, "domain": "https://Beta.Test:8443/"}
        async with browser.post(f"{alpha.base_url}/admin/peers/add", data=form) as resp:
            assert resp.status == 200
            page = await resp.text()
        assert "beta.test:8443 is a directory peer now" in page
        assert "<td>gamma.test</td>" in page and "the configuration file" in page
        assert "<td>beta.test:8443</td>" in page
        form = {"csrf_token": csrf, "domain": "no/such thing"}
        async with browser.post(f"{alpha.base_url}/admin/peers/add", data=form) as resp:
            assert resp.status == 422
        form = {"csrf_token": csrf, "domain": "gamma.test"}  # from the config: stays
        async with browser.post(f"{alpha.base_url}/admin/peers/remove", data=form) as resp:
            assert resp.status == 404
        form = {"csrf_token": csrf, "domain": "beta.test:8443"}
        async with browser.post(f"{alpha.base_url}/admin/peers/remove", data=form) as resp:
            assert resp.status == 200
            assert "beta.test:8443 is no longer a directory peer." in await resp.text()
        async with alpha.sessionmaker() as session:
            domains = list(await session.scalars(select(DirectoryPeer.domain)))
        assert domains == ["gamma.test"]

        form = {"csrf_token": csrf, "url": "ftp://relay.example/inbox"}
        async with browser.post(f"{alpha.base_url}/admin/relays/add", data=form) as resp:
            assert resp.status == 422
            assert "The relay could not be added" in await resp.text()
        form = {"csrf_token": csrf, "url": "http://relay.test/inbox"}
        async with browser.post(f"{alpha.base_url}/admin/relays/add", data=form) as resp:
            assert resp.status == 200
            page = await resp.text()
        assert "Subscribing to http://relay.test/inbox" in page
        assert (
            '<td class="admin-url">http://relay.test/inbox</td><td>waiting for an answer</td>'
            in page
        )
        async with browser.post(f"{alpha.base_url}/admin/relays/remove", data=form) as resp:
            assert resp.status == 200
            assert "Left http://relay.test/inbox." in await resp.text()
