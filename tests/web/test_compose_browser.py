"""Area A in a real browser (issue 16): post with an image (preview first), see news of a
followed organisation arrive live on the home timeline of another instance, write a post
with the keyboard alone; axe-core checks each page kind (compose, preview, post, home,
notifications, profile images) for WCAG 2.2 A/AA."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Page, expect

from actors.models import RoleName
from tests.browser import OpenBrowser, check_a11y, screenshot, sign_in_with_form
from tests.conftest import StartInstance
from tests.helpers import settle
from tests.web.test_compose import PASSWORD, jpeg_with_exif, member


async def tab_to(page: Page, script: str, what: str) -> None:
    """Press Tab until `script` (about document.activeElement) is true."""
    check = f"(() => {{ const e = document.activeElement; return {script}; }})()"
    for _ in range(60):
        await page.keyboard.press("Tab")
        if await page.evaluate(check):
            return
    raise AssertionError(f"{what} is not reachable with Tab")


async def test_post_with_an_image_and_see_it_arrive_live(
    start_instance: StartInstance, open_browser: OpenBrowser, tmp_path: Path
) -> None:
    alpha = await start_instance("alpha")
    beta = await start_instance("beta", domain="beta.test:8443")
    await alpha.add_actor("news", display_name="Alpha News")
    await member(alpha, "anna", {"news": RoleName.EDITOR})
    await member(beta, "erika")
    # Erika, on beta, follows the organisation on alpha in her browser and then watches
    # her home timeline.
    reader = await (await open_browser(alpha, beta)).new_page()
    await sign_in_with_form(reader, beta, "erika", PASSWORD)
    await reader.goto(f"{beta.base_url}/follows")
    await reader.get_by_label("Their handle or profile address").fill("news@alpha.test")
    await reader.get_by_role("button", name="Follow", exact=True).click()
    await reader.get_by_text("You now follow news@alpha.test.").wait_for()
    await settle(alpha, beta)
    await reader.goto(f"{beta.base_url}/home")
    await check_a11y(reader)

    # Anna writes for the organisation on alpha: an image with its description, a preview.
    writer = await (await open_browser(alpha, beta)).new_page()
    await sign_in_with_form(writer, alpha, "anna", PASSWORD)
    await writer.goto(f"{alpha.base_url}/compose?actor=news")
    await check_a11y(writer)
    picture = tmp_path / "garden.jpg"
    picture.write_bytes(jpeg_with_exif((640, 480)))
    await writer.get_by_label("Post as").select_option("news")
    await writer.get_by_label("Text", exact=True).fill("Our **garden** is open today #garden")
    await writer.get_by_label("Image 1", exact=True).set_input_files(str(picture))
    await writer.get_by_label("Description of image 1 (required with an image)").fill(
        "Tomatoes in the sun"
    )
    await writer.get_by_role("button", name="Preview").click()
    await expect(writer.locator(".compose-preview strong")).to_have_text("garden")
    await expect(writer.locator(".compose-image img")).to_have_count(1)
    await check_a11y(writer)
    await screenshot(writer, "compose-preview", tmp_path)
    await writer.get_by_role("button", name="Publish").click()
    await writer.wait_for_url(f"{alpha.base_url}/@news/*")
    await expect(writer.get_by_role("img", name="Tomatoes in the sun")).to_have_count(1)
    await expect(writer.locator(".written-by")).to_contain_text("anna")
    await check_a11y(writer)

    # It federates; Erika's open page shows it without reloading, and says so.
    await settle(alpha, beta)
    await expect(reader.locator("#live-status")).to_have_text("1 new post", timeout=20_000)
    await expect(reader.get_by_role("img", name="Tomatoes in the sun")).to_have_count(1)
    await expect(reader.locator("#timeline > li")).to_have_count(1)
    await expect(reader.locator("#timeline-empty")).to_have_count(0)  # "nothing here" is gone
    await check_a11y(reader)
    await screenshot(reader, "home-timeline", tmp_path)

    await writer.goto(f"{alpha.base_url}/notifications?actor=news")
    await expect(writer.get_by_text("followed you.")).to_have_count(1)
    await check_a11y(writer)
    await writer.goto(f"{alpha.base_url}/settings/images?actor=news")
    await check_a11y(writer)


async def test_write_a_post_with_the_keyboard_alone(
    start_instance: StartInstance, open_browser: OpenBrowser
) -> None:
    alpha = await start_instance("alpha")
    await member(alpha, "anna")
    page = await (await open_browser(alpha)).new_page()
    await sign_in_with_form(page, alpha, "anna", PASSWORD)
    await page.goto(f"{alpha.base_url}/compose")
    await page.locator("body").focus()
    await tab_to(page, "e && e.name === 'text'", "the text field")
    await page.keyboard.type("Typed without a mouse")
    await tab_to(page, "e && e.name === 'spoiler'", "the content warning")
    await page.keyboard.type("Keyboards")
    await tab_to(page, "e && e.tagName === 'BUTTON' && e.value === 'publish'", "Publish")
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{alpha.base_url}/@anna/*")
    await expect(page.locator("summary")).to_have_text("Keyboards")
    # The content warning opens with the keyboard too.
    await page.locator("summary").focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_text("Typed without a mouse")).to_be_visible()
    await page.goto(f"{alpha.base_url}/home")
    await expect(page.locator("#timeline > li")).to_have_count(1)
    await check_a11y(page)
