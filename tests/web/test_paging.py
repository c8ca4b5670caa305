"""Keyset paging of the long listings over real HTTP (issue 16): a profile's news, a tag,
the home timeline, notifications, and the following and followers lists. Each is walked
by its `rel="next"` links from the newest page to the last, which has none; every item
shows up once, newest first; cursors that are no id give the first page, never a 500."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
import pytest

from actors.local import get_actor
from actors.models import Follow, FollowState
from actors.uris import LocalUris
from outbox import posts
from outbox.context import PublishContext
from outbox.models import Favourite, Status
from outbox.posts import Draft
from server.web.paging import PAGE_SIZE
from tests.conftest import Instance, LoopbackResolver, StartInstance
from tests.web.member import PASSWORD, member, page
from tests.webpages import browser_client, sign_in

POSTS = 45  # three pages of a profile or a tag, two of the home timeline (40 a page)
HOME_PAGE = 40
FOLLOWERS = 25
REQUESTS = 3
FAVOURITES = 5
FOLLOWING = 22
# Everything that notifies anna happened at one instant: the order must still be total.
AT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

NEXT = re.compile(r'<nav class="pages" aria-label="[^"]*"><a href="([^"]+)" rel="next">')
POST_LINK = re.compile(r'<a class="u-url u-uid" href="[^"]*/(\d+)">')
HOME_ENTRY = re.compile(r'<li class="timeline-entry" data-id="(\d+)">')
NOTIFICATION = re.compile(r'<li class="notification notification-(\w+)">\n<p><a href="([^"]+)"')
RELATION = re.compile(r'<li><a href="([^"]+)">')
JUNK = [
    "abc",
    "-5",
    "1e5",
    "",
    "%00",
    "%D9%A1%D9%A2",
    "99999999999999999999",
    "9223372036854775808",
]
NOT_CURSORS = ["1-2", "1-99-1", "99999999999999999999-0-0", "1--1-0", "a-b-c"]


@dataclass
class Listings:
    alpha: Instance
    browser: aiohttp.ClientSession
    post_ids: list[str]  # newest first


@pytest.fixture
async def listings(
    start_instance: StartInstance, resolver: LoopbackResolver
) -> AsyncIterator[Listings]:
    """anna, signed in, with POSTS public posts tagged #Radwege, FOLLOWERS followers and
    REQUESTS follow requests from elsewhere, FAVOURITES likes, and FOLLOWING follows."""
    alpha = await start_instance("alpha")
    await member(alpha, "anna")
    anna = alpha.actor_uri("anna")
    async with alpha.sessionmaker() as session:
        actor = await get_actor(session, "anna")
        ctx = PublishContext(uris=LocalUris(alpha.base_url), clock=alpha.services.clock)
        published: list[Status] = [
            await posts.publish(
                session, ctx, actor=actor, draft=Draft(text=f"Post {n} #Radwege"), mentions={}
            )
            for n in range(POSTS)
        ]
        remote = "https://remote.example/users/"

        def follow(follower: str, followed: str, state: FollowState) -> Follow:
            return Follow(
                follower_uri=follower,
                followed_uri=followed,
                activity_uri=f"{follower}#follows/{followed}",
                state=state,
                created_at=AT,
                updated_at=AT,
            )

        session.add_all(
            [follow(f"{remote}f{n}", anna, FollowState.ACCEPTED) for n in range(FOLLOWERS)]
            + [follow(f"{remote}r{n}", anna, FollowState.PENDING) for n in range(REQUESTS)]
            + [follow(anna, f"{remote}g{n}", FollowState.ACCEPTED) for n in range(FOLLOWING)]
            + [
                Favourite(
                    status_id=published[0].id,
                    actor_uri=f"{remote}l{n}",
                    activity_uri=f"{remote}l{n}#likes/1",
                    created_at=AT,
                )
                for n in range(FAVOURITES)
            ]
        )
        await session.commit()
    browser = browser_client(resolver)
    await sign_in(browser, alpha, "anna", PASSWORD)
    yield Listings(alpha, browser, [str(p.id) for p in reversed(published)])
    await browser.close()


async def walk(
    listings: Listings, path: str, items: Callable[[str], list[str]]
) -> tuple[list[list[str]], list[str]]:
    """Follow the `rel="next"` links from `path`: (the items of each page, the links)."""
    pages: list[list[str]] = []
    links: list[str] = []
    url = listings.alpha.base_url + path
    while True:
        text = await page(listings.browser, url)
        pages.append(items(text))
        found = NEXT.search(text)
        if found is None:
            return pages, links
        links.append(html.unescape(found.group(1)))
        url = listings.alpha.base_url + links[-1]
        assert len(pages) < 10, "the pages never end"


def flat(pages: list[list[str]]) -> list[str]:
    return [item for items in pages for item in items]


def post_ids(text: str) -> list[str]:
    return POST_LINK.findall(text)


def notifications(text: str) -> list[str]:
    """ "KIND WHO" of each notification on the page."""
    return [f"{kind} {who}" for kind, who in NOTIFICATION.findall(text)]


async def test_profile_and_tag_pages_page_by_max_id(listings: Listings) -> None:
    for path in ("/@anna", "/tags/radwege"):
        pages, links = await walk(listings, path, post_ids)
        assert [len(p) for p in pages] == [PAGE_SIZE, PAGE_SIZE, POSTS - 2 * PAGE_SIZE]
        assert flat(pages) == listings.post_ids  # each once, newest first
        assert links == [
            f"{path}?max_id={listings.post_ids[PAGE_SIZE - 1]}",
            f"{path}?max_id={listings.post_ids[2 * PAGE_SIZE - 1]}",
        ]


async def test_the_list_announces_its_entries_in_the_page_language(listings: Listings) -> None:
    """What /static/pages.js says when it appends a page: that page's own sentence."""
    url = f"{listings.alpha.base_url}/@anna?max_id={listings.post_ids[2 * PAGE_SIZE - 1]}"
    async with listings.browser.get(url, headers={"Accept-Language": "de"}) as resp:
        text = await resp.text()
    count = POSTS - 2 * PAGE_SIZE
    assert f'data-announce="{count} weitere Beiträge geladen"' in text
    text = await page(listings.browser, listings.alpha.base_url + "/notifications")
    assert f'data-announce="{PAGE_SIZE} more notifications loaded"' in text


async def test_every_page_loads_the_scroll_script_deferred(listings: Listings) -> None:
    text = await page(listings.browser, listings.alpha.base_url + "/@anna")
    found = re.search(r'<script src="(/static/pages\.js\?v=\w+)" defer></script>', text)
    assert found, text
    async with listings.browser.get(listings.alpha.base_url + found.group(1)) as resp:
        assert resp.status == 200 and resp.content_type == "text/javascript"
        assert "immutable" in resp.headers["Cache-Control"]
        assert "IntersectionObserver" in await resp.text()


async def test_home_timeline_links_older_posts_only_when_there_are_some(
    listings: Listings,
) -> None:
    pages, _ = await walk(listings, "/home", HOME_ENTRY.findall)
    assert [len(p) for p in pages] == [HOME_PAGE, POSTS - HOME_PAGE]
    assert flat(pages) == listings.post_ids
    # A full page that is the last one: no link to an empty page.
    last_full = f"/home?max_id={listings.post_ids[POSTS - HOME_PAGE - 1]}"
    pages, links = await walk(listings, last_full, HOME_ENTRY.findall)
    assert [len(p) for p in pages] == [HOME_PAGE] and links == []


async def test_notifications_page_through_many_at_one_instant(listings: Listings) -> None:
    pages, links = await walk(listings, "/notifications", notifications)
    total = FAVOURITES + REQUESTS + FOLLOWERS
    assert [len(p) for p in pages] == [PAGE_SIZE, total - PAGE_SIZE]
    assert all(link.startswith("/notifications?before=") for link in links)
    seen = flat(pages)
    assert len(set(seen)) == total
    # One instant: the later kinds first (favourite, follow request, follow).
    kinds = [entry.split()[0] for entry in seen]
    expected = ["favourite"] * FAVOURITES + ["follow_request"] * REQUESTS
    assert kinds == expected + ["follow"] * FOLLOWERS


async def test_follow_lists_page_by_max_id_and_the_follows_page_links_them(
    listings: Listings,
) -> None:
    overview = await page(listings.browser, listings.alpha.base_url + "/follows")
    assert f"Followers ({FOLLOWERS})" in overview and f"Following ({FOLLOWING})" in overview
    assert f'<a href="/follows/followers">All {FOLLOWERS} followers</a>' in overview
    assert f'<a href="/follows/following">All {FOLLOWING} followed accounts</a>' in overview
    for path, count, prefix in (
        ("/follows/followers", FOLLOWERS, "f"),
        ("/follows/following", FOLLOWING, "g"),
    ):
        pages, links = await walk(listings, path, RELATION.findall)
        assert [len(p) for p in pages] == [PAGE_SIZE, count - PAGE_SIZE]
        assert links[0].startswith(f"{path}?max_id=")
        # Newest first: the rows were added in order, so the last one comes first.
        expected = [f"https://remote.example/users/{prefix}{n}" for n in range(count)][::-1]
        assert flat(pages) == expected


async def test_cursors_that_are_no_id_give_the_first_page(listings: Listings) -> None:
    for path, items, name in (
        ("/@anna", post_ids, "max_id"),
        ("/tags/radwege", post_ids, "max_id"),
        ("/home", HOME_ENTRY.findall, "max_id"),
        ("/follows/followers", RELATION.findall, "max_id"),
        ("/notifications", notifications, "before"),
    ):
        first = items(await page(listings.browser, listings.alpha.base_url + path))
        for value in JUNK + (NOT_CURSORS if name == "before" else []):
            url = f"{listings.alpha.base_url}{path}?{name}={value}"
            assert items(await page(listings.browser, url)) == first, url
    # An id older than everything: an empty last page.
    text = await page(listings.browser, listings.alpha.base_url + "/@anna?max_id=0")
    assert post_ids(text) == [] and NEXT.search(text) is None
