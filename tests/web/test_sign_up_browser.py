"""Signing up and visiting in a real browser (issue 16): an owner creates an invitation,
the invited person signs up with the keyboard alone and lands signed in on their own
profile; the open sign-up, the operator's approval page, the remote-follow form and the
OAuth consent page. Every page kind is checked by axe-core for WCAG 2.2 A/AA."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import aiohttp

from actors import accounts
from actors.local import find_actor
from actors.models import RoleName
from tests.browser import OpenBrowser, check_a11y, screenshot, sign_in_with_form
from tests.conftest import StartInstance
from tests.web.test_sign_up import owner_of
from tests.webpages import create_person

if TYPE_CHECKING:
    pass

PASSWORD = "a long passphrase of hers"
NEW_PASSWORD = "correct horse battery staple"


async def test_sign_up_by_invitation_with_the_keyboard(
    start_instance: StartInstance, open_browser: OpenBrowser, tmp_path: Path
) -> None:
    alpha = await start_instance("alpha")
    await owner_of(alpha, "anna", "kv")
    staff = await (await open_browser(alpha)).new_page()
    await sign_in_with_form(staff, alpha, "anna", PASSWORD)
    await staff.goto(f"{alpha.base_url}/manage/kv/invitations")
    await check_a11y(staff)
    await staff.get_by_label("Role on signing up").select_option("editor")
    await staff.get_by_role("button", name="Create invitation").click()
    link = await staff.get_by_label("Invitation link").input_value()
    assert "/invite/" in link
    await check_a11y(staff)
    await screenshot(staff, "invitations", tmp_path)

    page = await (await open_browser(alpha)).new_page()
    await page.goto(link)
    await check_a11y(page)
    await screenshot(page, "sign-up", tmp_path)
    # The keyboard alone: Tab to the first field, type, Tab on, Enter submits.
    await page.locator("body").focus()
    for _ in range(40):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement && document.activeElement.name") == (
            "username"
        ):
            break
    else:
        raise AssertionError("the user name field is not reachable with Tab")
    for name, value in (
        ("username", "bert"),
        ("email", "bert@mail.example"),
        ("password", NEW_PASSWORD),
        ("password_again", NEW_PASSWORD),
    ):
        assert await page.evaluate("document.activeElement.name") == name
        await page.keyboard.type(value)
        await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.name") == "locale"
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.type") == "submit"
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{alpha.base_url}/@bert")
    assert "bert" in await page.locator("header .viewer").inner_text()
    await check_a11y(page)
    async with alpha.sessionmaker() as session:
        user = await accounts.get_user(session, "bert")
        held = {a.username: r for a, r in await accounts.actors_of(session, user.id)}
    assert held == {"bert": RoleName.OWNER, "kv": RoleName.EDITOR}

    # The new person signs out and in again.
    await page.get_by_role("button", name="Sign out").click()
    await page.goto(f"{alpha.base_url}/auth/sign_in")
    await page.get_by_label("User name").fill("bert")
    await page.get_by_label("Password").fill(NEW_PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{alpha.base_url}/")
    assert "bert" in await page.locator("header .viewer").inner_text()


async def test_approval_remote_follow_and_consent_pages_are_accessible(
    start_instance: StartInstance,
    open_browser: OpenBrowser,
    client: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    alpha = await start_instance("alpha", registrations="approval")
    await owner_of(alpha, "anna", "kv")
    await create_person(alpha, "olga", PASSWORD, is_admin=True)
    visitor = await (await open_browser(alpha, locale="de-DE")).new_page()
    await visitor.goto(f"{alpha.base_url}/auth/sign_up")
    assert await visitor.get_attribute("html", "lang") == "de"
    await check_a11y(visitor)
    await visitor.get_by_label("Benutzername").fill("carl")
    await visitor.get_by_label("E-Mail-Adresse").fill("carl@mail.example")
    await visitor.get_by_label("Passwort", exact=True).fill(NEW_PASSWORD)
    await visitor.get_by_label("Passwort wiederholen").fill(NEW_PASSWORD)
    await visitor.get_by_role("button", name="Registrieren").click()
    await visitor.get_by_text("wartet auf die Freigabe").wait_for()
    await check_a11y(visitor)
    await visitor.goto(f"{alpha.base_url}/@kv/remote_follow")
    await check_a11y(visitor)
    await visitor.get_by_label("Ihre Adresse").fill("nobody@nowhere.invalid")
    await visitor.get_by_role("button", name="Zu meinem Server").click()
    await visitor.get_by_role("alert").wait_for()
    await check_a11y(visitor)

    admin = await (await open_browser(alpha)).new_page()
    await sign_in_with_form(admin, alpha, "olga", PASSWORD)
    await admin.goto(f"{alpha.base_url}/admin/sign_ups")
    await check_a11y(admin)
    await screenshot(admin, "sign-ups", tmp_path)
    await admin.get_by_role("button", name="Approve carl").click()
    await admin.get_by_text("No sign-up waits for approval.").wait_for()
    async with alpha.sessionmaker() as session:
        assert await find_actor(session, "carl") is not None

    # The OAuth consent page of a signed-in person.
    staff = await (await open_browser(alpha)).new_page()
    form = {"client_name": "Pocket", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob"}
    async with client.post(f"{alpha.base_url}/api/v1/apps", data=form) as resp:
        app = await resp.json()
    await sign_in_with_form(staff, alpha, "anna", PASSWORD)
    query = {
        "response_type": "code",
        "client_id": app["client_id"],
        "redirect_uri": "urn:ietf:wg:oauth:2.0:oob",
        "scope": "read",
    }
    await staff.goto(f"{alpha.base_url}/oauth/authorize?{urlencode(query)}")
    await check_a11y(staff)
    await staff.get_by_role("button", name="Authorize").click()
    assert await staff.locator("#code").inner_text()
    await check_a11y(staff)  # the code, shown in the site's layout
