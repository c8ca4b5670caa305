"""The member pages in a real browser (issue 16), across two instances: a member of beta
searches the directory (which holds alpha's entries through beta's sync), sends an
anonymous contact request to an organisation of alpha with the keyboard alone, and the
organisation's owner accepts it on alpha; follows, profile and account settings pages.
axe-core checks every page kind for WCAG 2.2 A/AA."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from playwright.async_api import Page

from actors.models import ContactBox, RoleName
from server import keys
from server.worker import make_directory_sync
from tests.browser import OpenBrowser, check_a11y, screenshot, sign_in_with_form
from tests.conftest import StartInstance
from tests.helpers import settle
from tests.web.member import PASSWORD, member
from tests.web.test_member_contacts import states


async def tab_to(page: Page, script: str, limit: int = 60) -> None:
    """Press Tab until `script` (a JS expression on `el`, the focused element) holds."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await page.evaluate(
            f"(() => {{ const el = document.activeElement; return {script}; }})()"
        ):
            return
    raise AssertionError(f"nothing reachable with Tab for {script}")


async def test_directory_search_and_anonymous_contact_request_accepted_on_the_other_instance(
    start_instance: StartInstance, open_browser: OpenBrowser, tmp_path: Path
) -> None:
    alpha = await start_instance("alpha")
    beta = await start_instance(
        "beta",
        domain="beta.test:8443",
        directory={"peers": ("alpha.test",)},
        contacts={"alias_delay_seconds": 0},
    )
    await alpha.add_actor("kv", display_name="Kreisverband Pankow")
    await member(alpha, "anna", display_name="Anna", roles={"kv": RoleName.OWNER})
    await member(beta, "erika", display_name="Erika Mustermann")
    sync = make_directory_sync(
        beta.config, beta.sessionmaker, beta.app[keys.HTTP_CLIENT], clock=lambda: datetime.now(UTC)
    )
    assert [r.error for r in await sync.sync_due()] == [""]

    erika = await (await open_browser(beta, alpha)).new_page()
    await sign_in_with_form(erika, beta, "erika", PASSWORD)
    await erika.goto(f"{beta.base_url}/directory")
    await erika.get_by_label("Name or description contains").fill("Kreisverband")
    await erika.get_by_role("button", name="Search").click()
    await erika.get_by_text("@kv@alpha.test").wait_for()
    await check_a11y(erika)
    await screenshot(erika, "directory-member", tmp_path)
    await erika.get_by_role("link", name="Send contact request to Kreisverband Pankow").click()
    assert (
        await erika.get_by_label(
            "To (handle such as name@example.org, or profile address)"
        ).input_value()
        == "kv@alpha.test"
    )
    await check_a11y(erika)

    # The form with the keyboard alone: message, the anonymous box, send.
    await erika.locator("body").focus()
    await tab_to(erika, "el && el.name === 'message'")
    await erika.keyboard.type("Ich möchte mitmachen, erst einmal anonym.")
    await tab_to(erika, "el && el.name === 'anonymous'")
    await erika.keyboard.press("Space")
    assert await erika.get_by_label("Send anonymously").is_checked()
    await screenshot(erika, "contact-request-new", tmp_path)
    await tab_to(
        erika, "el && el.type === 'submit' && el.textContent.includes('Send contact request')"
    )
    await erika.keyboard.press("Enter")
    await erika.get_by_text("Your contact request was sent.").wait_for()
    assert await erika.get_by_text("sent anonymously through an alias").count() == 1
    await check_a11y(erika)
    await settle(alpha, beta)

    anna = await (await open_browser(alpha)).new_page()
    await sign_in_with_form(anna, alpha, "anna", PASSWORD)
    await anna.goto(f"{alpha.base_url}/contacts?actor=kv")
    await check_a11y(anna)
    assert "Erika" not in await anna.locator("main").inner_text()
    await anna.locator("main ul.member-list a").first.click()
    await anna.get_by_text("erst einmal anonym").wait_for()
    await check_a11y(anna)
    await screenshot(anna, "contact-request-received", tmp_path)
    await anna.get_by_role("button", name="Accept").click()
    await anna.get_by_text("You accepted the request.").wait_for()
    await settle(alpha, beta)
    assert await states(alpha, ContactBox.RECEIVED) == ["accepted"]
    assert await states(beta, ContactBox.SENT) == ["accepted"]
    await erika.goto(f"{beta.base_url}/contacts")
    await check_a11y(erika)
    assert "accepted" in await erika.locator("main").inner_text()


async def test_follows_and_settings_pages(
    start_instance: StartInstance, open_browser: OpenBrowser, tmp_path: Path
) -> None:
    alpha = await start_instance("alpha")
    beta = await start_instance("beta", domain="beta.test:8443")
    await beta.add_actor("news", display_name="Beta News")
    await member(alpha, "anna", display_name="Anna")
    page = await (await open_browser(alpha, beta)).new_page()
    await sign_in_with_form(page, alpha, "anna", PASSWORD)

    await page.goto(f"{alpha.base_url}/follows")
    await check_a11y(page)
    await page.get_by_label("Their handle or profile address").fill("news@beta.test:8443")
    await page.get_by_role("button", name="Follow", exact=True).click()
    await page.get_by_text("You now follow news@beta.test:8443.").wait_for()
    await settle(alpha, beta)
    await page.reload()
    assert await page.get_by_role("button", name="Unfollow news@beta.test:8443").count() == 1
    await check_a11y(page)
    await screenshot(page, "follows", tmp_path)

    await page.goto(f"{alpha.base_url}/settings/profile")
    await check_a11y(page)
    await page.get_by_label("Display name").fill("Anna aus Pankow")
    await page.get_by_label("Country").select_option("DE")
    await page.get_by_label("Interests (hashtags without #, separated by commas)").fill("Klima")
    await page.get_by_role("button", name="Save profile").click()
    await page.get_by_text("Your changes were saved").wait_for()
    await page.get_by_label("State or region").select_option("DE-BE")
    await page.get_by_role("button", name="Save profile").click()
    await page.get_by_text("Your changes were saved").wait_for()
    assert await page.get_by_label("State or region").input_value() == "DE-BE"
    await check_a11y(page)
    await screenshot(page, "profile-settings", tmp_path)

    await page.goto(f"{alpha.base_url}/settings/account")
    await check_a11y(page)
    await page.get_by_label("Language of the pages").select_option("de")
    await page.get_by_role("button", name="Save language").click()
    await page.get_by_text("Die Sprache wurde gespeichert.").wait_for()
    assert await page.get_attribute("html", "lang") == "de"
    await check_a11y(page)
    await screenshot(page, "account-settings", tmp_path)
