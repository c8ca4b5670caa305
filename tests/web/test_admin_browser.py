"""The operator's pages in a real browser (issue 16): every admin page kind checked by
axe-core for WCAG 2.2 A/AA, a domain blocked with the keyboard alone (and beta's inbox
POSTs refused from then on), a setting changed; screenshots for the README."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import select, update

from actors.models import ActorType, Report, ReportState
from inbox.models import InboxActivity
from outbox.models import Delivery, DeliveryHost, DeliveryState
from server import actions, keys
from tests.browser import OpenBrowser, check_a11y, screenshot
from tests.conftest import StartInstance
from tests.helpers import settle, worker_for
from tests.webpages import create_person

PASSWORD = "the operator's long passphrase"


async def test_operator_blocks_a_domain_with_the_keyboard(
    start_instance: StartInstance, open_browser: OpenBrowser, tmp_path: Path
) -> None:
    alpha = await start_instance("alpha", directory={"peers": ("gamma.test",)})
    beta = await start_instance("beta", domain="beta.test:8443")
    await alpha.add_actor("news", display_name="Alpha News")
    await beta.add_actor("erika", ActorType.PERSON)
    await actions.follow(beta.services, "erika", "news@alpha.test")
    await settle(alpha, beta)
    async with alpha.sessionmaker() as session:  # something for each list to show
        session.add(
            Report(
                flag_uri="http://gamma.test/flags/1",
                reporter_uri="http://gamma.test/actor",
                reported_uri=alpha.actor_uri("news"),
                object_uris=[],
                comment="Spam",
                state=ReportState.OPEN,
                created_at=alpha.services.clock(),
            )
        )
        now = alpha.services.clock()
        session.add(DeliveryHost(host="gone.test", consecutive_failures=5, last_failure_at=now))
        session.add(
            InboxActivity(
                uri="http://gamma.test/activities/1",
                actor_uri="http://gamma.test/users/max",
                type="Create",
                recipient_uri=None,
                body="{}",
                received_at=now,
                processed_at=now,
                error="handler: ValueError: no object",
                attempts=5,
            )
        )
        await session.commit()
    await create_person(alpha, "root", PASSWORD, is_admin=True)

    context = await open_browser(alpha, beta)
    page = await context.new_page()
    await page.goto(f"{alpha.base_url}/auth/sign_in?next=/admin")
    await page.get_by_label("User name").fill("root")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{alpha.base_url}/admin")
    assert await page.get_by_role("heading", level=1).inner_text() == "Administration"
    await check_a11y(page)
    await screenshot(page, "admin-overview", tmp_path)

    for path in ("/admin/settings", "/admin/peers", "/admin/reports"):
        await page.goto(f"{alpha.base_url}{path}")
        await check_a11y(page)
    await screenshot(page, "admin-reports", tmp_path)
    await page.goto(f"{alpha.base_url}/admin/relays")
    await page.get_by_label("The relay's inbox or actor URL").fill("http://relay.test/inbox")
    await page.get_by_role("button", name="Subscribe").click()
    await page.wait_for_url(re.compile(r".*/admin/relays\?done=added&what=.*"))
    assert await page.get_by_role("cell", name="waiting for an answer").count() == 1
    await check_a11y(page)

    # Block beta with the keyboard alone: Tab to the field, type, Tab, type, Enter.
    await page.goto(f"{alpha.base_url}/admin/domains")
    await check_a11y(page)
    await page.locator("body").focus()
    for _ in range(60):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement && document.activeElement.id") == (
            "block-domain"
        ):
            break
    else:
        raise AssertionError("the domain field is not reachable with Tab")
    await page.keyboard.type("beta.test")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.id") == "block-reason"
    await page.keyboard.type("Werbung")
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{alpha.base_url}/admin/domains?done=block-add&what=beta.test")
    assert await page.get_by_role("status").inner_text() == "beta.test is blocked."
    assert await page.get_by_role("cell", name="Werbung").count() == 1
    await check_a11y(page)
    await screenshot(page, "admin-domains", tmp_path)
    assert not alpha.app[keys.POLICY].allows_host("beta.test:8443")

    # beta's inbox POSTs are refused from now on: erika's Undo gets 403.
    await actions.unfollow(beta.services, "erika", "news@alpha.test")
    await worker_for(beta).run_once()
    async with beta.sessionmaker() as session:
        statuses = list(
            await session.scalars(select(Delivery.last_status).where(Delivery.host == "alpha.test"))
        )
    assert 403 in statuses

    # The delivery-health page with a dead delivery, retried from the page.
    async with beta.sessionmaker() as session:
        await session.execute(
            update(Delivery)
            .where(Delivery.host == "alpha.test", Delivery.last_status == 403)
            .values(state=DeliveryState.DEAD)
        )
        await session.commit()
    async with alpha.sessionmaker() as session:
        await session.execute(
            update(Delivery).values(
                state=DeliveryState.DEAD, last_status=410, last_error="HTTP 410: Gone"
            )
        )
        await session.commit()
    await page.goto(f"{alpha.base_url}/admin/deliveries")
    assert await page.get_by_role("cell", name="gone.test", exact=True).count() == 1
    assert await page.get_by_role("cell", name="handler: ValueError: no object").count() == 1
    await check_a11y(page)
    await screenshot(page, "admin-deliveries", tmp_path)

    # A setting changed in the browser shows in the title at once.
    await page.goto(f"{alpha.base_url}/admin/settings")
    await page.get_by_label("Instance name").fill("Netzwerk Nord")
    await page.get_by_role("button", name="Save settings").click()
    await page.wait_for_url(f"{alpha.base_url}/admin/settings?done=saved")
    assert await page.title() == "Instance settings – Netzwerk Nord"  # noqa: RUF001
    await check_a11y(page)
    await page.goto(f"{alpha.base_url}/")
    assert await page.title() == "Netzwerk Nord"
