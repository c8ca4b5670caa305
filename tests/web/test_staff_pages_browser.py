"""The staff pages in a real browser (issue 16), alpha and beta.test:8443 over real HTTP:
confirm an organisation link offered from beta, grant a role with the keyboard alone,
decline a remote follow request; axe-core checks every kind of staff page for WCAG 2.2
A/AA; screenshots for the README."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from actors import accounts
from actors.local import get_actor
from actors.models import ActorType, FollowState, LinkState, OrgLink, RoleName
from server import actions, links
from tests.browser import OpenBrowser, check_a11y, screenshot, sign_in_with_form
from tests.conftest import Instance, StartInstance
from tests.helpers import settle
from tests.test_follows import follow_state
from tests.web.test_staff_pages import PASSWORD, grant


async def two(start_instance: StartInstance) -> tuple[Instance, Instance]:
    alpha = await start_instance("alpha")
    beta = await start_instance(
        "beta", domain="beta.test:8443", contacts={"alias_delay_seconds": 0}
    )
    await alpha.add_actor("kv", display_name="Kreisverband Fürth", manually_approves=True)
    await alpha.add_actor("klima", ActorType.GROUP, display_name="AG Klima")
    await beta.add_actor("erika", ActorType.PERSON, display_name="Erika Mustermann")
    await beta.add_actor("bv", display_name="Bundesverband")
    await grant(alpha, "olga", "kv", RoleName.OWNER)
    await grant(alpha, "mona", "kv", RoleName.MODERATOR)
    await grant(alpha, "paul", "kv", None)
    async with alpha.sessionmaker() as session:
        olga = await accounts.get_user(session, "olga")
        klima = await get_actor(session, "klima")
        await accounts.grant_role(
            session, user=olga, actor=klima, role=RoleName.OWNER, now=alpha.services.clock()
        )
        await session.commit()
    return alpha, beta


async def test_confirm_an_organisation_link_and_every_staff_page_is_accessible(
    start_instance: StartInstance, open_browser: OpenBrowser, tmp_path: Path
) -> None:
    alpha, beta = await two(start_instance)
    await links.offer(beta.services, "bv", "branch", "kv@alpha.test")
    await actions.send_contact(
        beta.services, "erika", "kv@alpha.test", "Wir möchten mitmachen.", anonymous=True
    )
    await actions.follow(beta.services, "erika", "klima@alpha.test")
    await settle(alpha, beta)

    page = await (await open_browser(alpha, beta)).new_page()
    await sign_in_with_form(page, alpha, "olga", PASSWORD, "/manage")
    assert "Link offers waiting: 1" in await page.locator("main").inner_text()
    await check_a11y(page)
    await screenshot(page, "manage", tmp_path)
    await page.get_by_role("link", name="Kreisverband Fürth").click()
    await page.wait_for_url(f"{alpha.base_url}/manage/kv")
    await check_a11y(page)

    await page.get_by_role("link", name="Links", exact=True).click()
    await page.wait_for_url(f"{alpha.base_url}/manage/kv/links")
    await check_a11y(page)
    await page.get_by_role("button", name="Confirm the link with bv@beta.test:8443").click()
    await page.wait_for_url(f"{alpha.base_url}/manage/kv/links?done=accepted")
    assert "The link is confirmed." in await page.get_by_role("status").inner_text()
    await check_a11y(page)
    await screenshot(page, "manage-links", tmp_path)
    await settle(alpha, beta)
    async with beta.sessionmaker() as session:
        [row] = await session.scalars(select(OrgLink))
    assert row.state == LinkState.CONFIRMED

    # The other kinds of staff page: contact requests, one request, e-mail, roles, group.
    await page.get_by_role("link", name="Contact requests").click()
    await check_a11y(page)
    await page.get_by_role("link", name="Anonymous request").click()
    assert "Wir möchten mitmachen." in await page.locator("main").inner_text()
    await check_a11y(page)
    await page.get_by_role("link", name="Messages by e-mail").click()
    await check_a11y(page)
    await page.get_by_role("link", name="Roles").click()
    await check_a11y(page)
    await page.goto(f"{alpha.base_url}/manage/klima/group")
    assert "erika@beta.test:8443" in await page.locator("main").inner_text()
    await check_a11y(page)
    # A person without the role gets the error page, which passes too.
    other = await (await open_browser(alpha)).new_page()
    await sign_in_with_form(other, alpha, "paul", PASSWORD, "/manage")
    response = await other.goto(f"{alpha.base_url}/manage/kv/roles")
    assert response is not None and response.status == 403
    await check_a11y(other)


async def test_grant_a_role_with_the_keyboard_alone(
    start_instance: StartInstance, open_browser: OpenBrowser, tmp_path: Path
) -> None:
    alpha, _ = await two(start_instance)
    page = await (await open_browser(alpha)).new_page()
    await sign_in_with_form(page, alpha, "olga", PASSWORD, "/manage/kv/roles")
    await page.locator("body").focus()
    for _ in range(80):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement && document.activeElement.id") == (
            "grant-username"
        ):
            break
    else:
        raise AssertionError("the user name field is not reachable with Tab")
    await page.keyboard.type("paul")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.id") == "grant-role"
    await page.keyboard.press("ArrowDown")  # editor → moderator
    assert await page.evaluate("document.activeElement.value") == "moderator"
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == "Grant role"
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{alpha.base_url}/manage/kv/roles?done=granted")
    assert "The role was granted." in await page.get_by_role("status").inner_text()
    await check_a11y(page)
    await screenshot(page, "manage-roles", tmp_path)
    async with alpha.sessionmaker() as session:
        paul = await accounts.get_user(session, "paul")
        kv = await get_actor(session, "kv")
        assert await accounts.role_of(session, paul.id, kv.id) == RoleName.MODERATOR

    # The last owner cannot step down: the page says why, with the keyboard too.
    await page.get_by_label("New role of olga").focus()
    await page.keyboard.press("ArrowDown")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    await page.wait_for_load_state()
    assert "olga is the last owner of kv" in await page.get_by_role("alert").inner_text()
    await check_a11y(page)


async def test_decline_a_follow_request(
    start_instance: StartInstance, open_browser: OpenBrowser, tmp_path: Path
) -> None:
    alpha, beta = await two(start_instance)
    await actions.follow(beta.services, "erika", "kv@alpha.test")
    await settle(alpha, beta)
    erika, kv = beta.actor_uri("erika"), alpha.actor_uri("kv")
    assert await follow_state(beta, erika, kv) == FollowState.PENDING

    page = await (await open_browser(alpha, beta)).new_page()
    await sign_in_with_form(page, alpha, "mona", PASSWORD, "/manage")
    await page.get_by_role("link", name="Follow requests waiting: 1").click()
    await page.wait_for_url(f"{alpha.base_url}/manage/kv/follow_requests")
    await check_a11y(page)
    await screenshot(page, "manage-follow-requests", tmp_path)
    await page.get_by_role("button", name="Decline erika@beta.test:8443").click()
    await page.wait_for_url(f"{alpha.base_url}/manage/kv/follow_requests?done=declined")
    assert "The follow request was declined." in await page.get_by_role("status").inner_text()
    assert "No follow request waits." in await page.locator("main").inner_text()
    await check_a11y(page)
    await settle(alpha, beta)
    assert await follow_state(beta, erika, kv) is None
