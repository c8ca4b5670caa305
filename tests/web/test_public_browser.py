"""The public pages in a real browser (issue 16): front page, profile, directory and the
sign-in form, each checked by axe-core for WCAG 2.2 A/AA, signing in with the keyboard
alone, in English and German; screenshots for the README."""

from __future__ import annotations

from pathlib import Path

from actors.local import get_actor
from actors.models import ActorType
from outbox import posts
from outbox.posts import Draft
from tests.browser import OpenBrowser, check_a11y, screenshot
from tests.conftest import StartInstance
from tests.webpages import create_person

PASSWORD = "a long passphrase of hers"


async def test_public_pages_are_accessible_and_sign_in_works_by_keyboard(
    start_instance: StartInstance, open_browser: OpenBrowser, tmp_path: Path
) -> None:
    alpha = await start_instance("alpha", domain="alpha.test:8443")
    await create_person(alpha, "anna", PASSWORD)
    await alpha.add_actor("ortsverein", ActorType.ORGANIZATION, display_name="Ortsverein Pankow")
    await alpha.add_actor("ag-klima", ActorType.GROUP, display_name="AG Klima")
    async with alpha.sessionmaker() as session:
        actor = await get_actor(session, "ortsverein")
        for text in (
            "Sommerfest am **12. Juli** im Bürgerpark: alle sind eingeladen! #Nachbarschaft",
            "Die AG Klima trifft sich jeden Donnerstag um 19 Uhr. Neue Gesichter willkommen.",
        ):
            await posts.publish(
                session,
                alpha.services.publish_context(),
                actor=actor,
                draft=Draft(text=text, language="de"),
                mentions={},
            )
        await session.commit()
    context = await open_browser(alpha)
    page = await context.new_page()
    await page.goto(f"{alpha.base_url}/")
    assert await page.title() == "Alpha"
    await page.get_by_text("Sommerfest am").wait_for()
    await check_a11y(page)
    await screenshot(page, "front-page", tmp_path)
    await page.goto(f"{alpha.base_url}/directory")
    await check_a11y(page)

    # Sign in with the keyboard alone: tab to the fields, type, Enter submits.
    await page.goto(f"{alpha.base_url}/auth/sign_in")
    await check_a11y(page)
    await page.locator("body").focus()
    for _ in range(40):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement && document.activeElement.name") == (
            "username"
        ):
            break
    else:
        raise AssertionError("the user name field is not reachable with Tab")
    await page.keyboard.type("anna")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.name") == "password"
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{alpha.base_url}/")
    assert "anna" in await page.locator("header .viewer").inner_text()
    await check_a11y(page)


async def test_pages_in_german(
    start_instance: StartInstance, open_browser: OpenBrowser, tmp_path: Path
) -> None:
    alpha = await start_instance("alpha")
    context = await open_browser(alpha, locale="de-DE")
    page = await context.new_page()
    await page.goto(f"{alpha.base_url}/")
    assert await page.get_attribute("html", "lang") == "de"
    assert await page.get_by_role("link", name="Verzeichnis").count() == 1
    await check_a11y(page)
    # The footer switch changes to English for this browser.
    await page.get_by_role("link", name="English").click()
    assert await page.get_attribute("html", "lang") == "en"
    assert await page.get_by_role("link", name="Directory").count() == 1


async def test_the_accessibility_check_finds_violations(
    start_instance: StartInstance, open_browser: OpenBrowser
) -> None:
    """check_a11y itself: an unlabelled field and an image without alt text fail it."""
    alpha = await start_instance("alpha")
    page = await (await open_browser(alpha)).new_page()
    await page.goto(f"{alpha.base_url}/")
    await page.set_content(
        '<html lang="en"><head><title>t</title></head><body><main><h1>x</h1>'
        '<input type="text"><img src="/static/verbund.css"></main></body></html>'
    )
    try:
        await check_a11y(page)
    except AssertionError as exc:
        assert '"id": "label"' in str(exc) and '"id": "image-alt"' in str(exc)
    else:
        raise AssertionError("axe-core reported nothing")
