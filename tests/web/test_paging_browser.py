"""Infinite scroll in a real browser (issue 16, /static/pages.js): a profile with three
pages of news grows as the reader scrolls down, without leaving the page, announces each
addition in its live region, has no "older" link after the last page, and passes axe."""

from __future__ import annotations

from actors.local import get_actor
from actors.models import ActorType
from outbox import posts
from outbox.posts import Draft
from server.web.paging import PAGE_SIZE
from tests.browser import OpenBrowser, check_a11y
from tests.conftest import StartInstance

POSTS = 2 * PAGE_SIZE + 10


async def test_scrolling_down_a_profile_loads_the_older_pages_in_place(
    start_instance: StartInstance, open_browser: OpenBrowser
) -> None:
    alpha = await start_instance("alpha")
    await alpha.add_actor("ortsverein", ActorType.ORGANIZATION, display_name="Ortsverein")
    async with alpha.sessionmaker() as session:
        actor = await get_actor(session, "ortsverein")
        for n in range(POSTS):
            await posts.publish(
                session,
                alpha.services.publish_context(),
                actor=actor,
                draft=Draft(text=f"Neuigkeit Nummer {n}"),
                mentions={},
            )
        await session.commit()
    page = await (await open_browser(alpha)).new_page()
    url = f"{alpha.base_url}/@ortsverein"
    await page.goto(url)
    entries = page.locator("#news article.h-entry")
    assert await entries.count() == PAGE_SIZE
    assert await page.get_by_role("link", name="Older posts").count() == 1
    await page.evaluate("window.notReloaded = true")

    status = page.locator("#news + [role=status]")
    for shown, added in ((2 * PAGE_SIZE, PAGE_SIZE), (POSTS, POSTS - 2 * PAGE_SIZE)):
        await page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        await entries.nth(shown - 1).wait_for()
        await page.get_by_text(f"{added} more posts loaded").wait_for(state="attached")
        assert await status.inner_text() == f"{added} more posts loaded"
    await page.locator("nav.pages").wait_for(state="detached")
    assert await entries.count() == POSTS
    texts = await page.locator("#news .e-content").all_inner_texts()
    assert texts == [f"Neuigkeit Nummer {n}" for n in reversed(range(POSTS))]
    assert page.url == url and await page.evaluate("window.notReloaded") is True
    await check_a11y(page)
