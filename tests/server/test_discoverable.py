"""Actors that are not discoverable are left out of the listings of actors (the front
page) but stay reachable by URL, and their public posts stay in post streams, as on
Mastodon (`server.web.pages.index` says why)."""

from __future__ import annotations

import json

import aiohttp
import pytest

from outbox.models import Status
from outbox.posts import Draft
from server import actions
from tests.conftest import Instance, StartInstance
from tests.server.test_served_documents import AP, FIREFOX, get, publish


@pytest.fixture
async def alpha(start_instance: StartInstance) -> Instance:
    inst = await start_instance("alpha")
    await inst.add_actor("news", display_name="Alpha News")
    await inst.add_actor("hidden", display_name="Quiet Branch", discoverable=False)
    return inst


async def front_page(client: aiohttp.ClientSession, inst: Instance) -> str:
    code, _, _, body = await get(client, inst.base_url + "/", FIREFOX)
    assert code == 200
    return body.decode()


async def test_front_page_lists_only_discoverable_actors(
    alpha: Instance, client: aiohttp.ClientSession
) -> None:
    page = await front_page(client, alpha)
    assert "Alpha News" in page and "@news@alpha.test" in page
    assert "Quiet Branch" not in page and "hidden" not in page
    await actions.update_actor(alpha.services, "news", discoverable=False)
    page = await front_page(client, alpha)
    assert "Alpha News" not in page and "No actors yet" in page
    await actions.update_actor(alpha.services, "hidden", discoverable=True)
    assert "Quiet Branch" in await front_page(client, alpha)


async def test_a_hidden_actor_stays_reachable_by_url(
    alpha: Instance, client: aiohttp.ClientSession
) -> None:
    await publish_as(alpha, "hidden", "Quiet news #Sommerfest")
    base = alpha.base_url
    for path in ("/@hidden", "/users/hidden", "/users/hidden/feed.rss", "/@hidden.atom"):
        code, _, _, body = await get(client, base + path, FIREFOX)
        assert code == 200, path
        assert b"Quiet" in body, path
    code, _, _, body = await get(client, base + "/users/hidden", AP)
    doc = json.loads(body)
    assert (code, doc["discoverable"], doc["indexable"]) == (200, False, False)
    url = f"{base}/.well-known/webfinger?resource=acct:hidden@alpha.test"
    code, _, _, body = await get(client, url, "application/jrd+json")
    assert code == 200 and json.loads(body)["subject"] == "acct:hidden@alpha.test"


async def test_posts_of_a_hidden_actor_stay_in_post_streams(
    alpha: Instance, client: aiohttp.ClientSession
) -> None:
    """Mastodon shows them in its public and hashtag timelines too; `unlisted` is how an
    author keeps a post out of streams."""
    status = await publish_as(alpha, "hidden", "Quiet news #Sommerfest")
    code, _, _, body = await get(client, alpha.base_url + "/api/v1/timelines/public", None)
    assert code == 200
    assert [s["uri"] for s in json.loads(body)] == [status.uri]
    code, _, _, body = await get(client, alpha.base_url + "/tags/sommerfest", FIREFOX)
    assert code == 200 and b"Quiet news" in body


async def publish_as(inst: Instance, name: str, text: str) -> Status:
    return await publish(inst, Draft(text=text), actor=name)
