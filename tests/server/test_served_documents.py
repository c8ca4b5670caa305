"""Every ActivityStreams document we serve, over real HTTP: never a `null` anywhere, and
the JSON for every client that does not ask for HTML (key fetchers that do not negotiate
included), with HTML for browsers and `Vary: Accept` on both."""

from __future__ import annotations

import json
from dataclasses import dataclass

import aiohttp
import pytest
from sqlalchemy import select

from actors.local import get_actor
from actors.uris import LocalUris
from outbox import posts
from outbox.context import PublishContext
from outbox.models import Activity, Status
from outbox.posts import Draft
from server import actions
from tests.conftest import Instance, StartInstance
from tests.helpers import settle
from tests.nulls import null_paths

AP = "application/activity+json"
LD = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
MASTODON = "application/activity+json, application/ld+json"
FIREFOX = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
CHROME = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)
# None: no Accept header at all (aiohttp would send `*/*` by itself).
NOT_HTML: list[str | None] = [None, "*/*", "application/json", AP, LD, MASTODON]
HTML = [FIREFOX, CHROME, "text/html"]

# Pages read the language from Accept-Language and the session/language cookies.
HTML_VARY = "Accept, Accept-Language, Cookie"


@dataclass
class Site:
    alpha: Instance
    beta: Instance
    note: Status  # no summary, no language, not a reply
    article: Status
    reply: Status
    boost: Status
    deleted: Status


async def publish(inst: Instance, draft: Draft, *, actor: str = "news") -> Status:
    async with inst.sessionmaker() as session:
        status = await posts.publish(
            session,
            PublishContext(uris=LocalUris(inst.base_url), clock=inst.services.clock),
            actor=await get_actor(session, actor),
            draft=draft,
            mentions={},
        )
        await session.commit()
    return status


@pytest.fixture
async def site(start_instance: StartInstance) -> Site:
    alpha, beta = await start_instance("alpha"), await start_instance("beta")
    await alpha.add_actor("news")
    await beta.add_actor("reader")
    await actions.follow(beta.services, "reader", "news@alpha.test")
    await actions.follow(alpha.services, "news", "reader@beta.test")
    await settle(alpha, beta)
    note = await publish(alpha, Draft(text="Plain news"))
    article = await publish(alpha, Draft(text="Long text", title="Title"))
    reply = await publish(alpha, Draft(text="A reply", summary="cw", in_reply_to=note.uri))
    gone = await publish(alpha, Draft(text="Soon gone"))
    async with alpha.sessionmaker() as session:
        actor = await get_actor(session, "news")
        boost = await posts.boost(
            session,
            PublishContext(uris=LocalUris(alpha.base_url), clock=alpha.services.clock),
            actor=actor,
            target=article,
        )
        row = await session.get(Status, gone.id)
        assert row is not None
        await posts.edit(
            session,
            PublishContext(uris=LocalUris(alpha.base_url), clock=alpha.services.clock),
            status=row,
            actor=actor,
            draft=Draft(text="Edited, then gone"),
            mentions={},
        )
        await posts.delete(
            session,
            PublishContext(uris=LocalUris(alpha.base_url), clock=alpha.services.clock),
            status=row,
            actor=actor,
        )
        await session.commit()
    await settle(alpha, beta)
    return Site(alpha, beta, note, article, reply, boost, gone)


async def get(
    client: aiohttp.ClientSession, url: str, accept: str | None
) -> tuple[int, str, str, bytes]:
    """Status, Content-Type (without parameters), Vary and body of a GET."""
    if accept is None:
        request = client.get(url, skip_auto_headers=["Accept"])
    else:
        request = client.get(url, headers={"Accept": accept})
    async with request as resp:
        return resp.status, resp.content_type, resp.headers.get("Vary", ""), await resp.read()


async def test_no_served_document_contains_null(site: Site, client: aiohttp.ClientSession) -> None:
    """Actors, collections and their pages, posts, activities, the Tombstone and
    NodeInfo; then what we sent (Follow, Accept, Create, Update, Delete, Announce)."""
    base, news_uri = site.alpha.base_url, site.alpha.actor_uri("news")
    urls = {
        news_uri: 200,
        f"{base}/actor": 200,
        f"{news_uri}/followers": 200,
        f"{news_uri}/followers?page=1": 200,
        f"{news_uri}/following": 200,
        f"{news_uri}/following?page=1": 200,
        f"{news_uri}/outbox": 200,
        f"{news_uri}/outbox?page=true": 200,
        site.deleted.uri: 410,
        f"{site.deleted.uri}/activity": 410,
        f"{base}/.well-known/nodeinfo": 200,
        f"{base}/nodeinfo/2.0": 200,
        f"{base}/nodeinfo/2.1": 200,
        f"{base}/.well-known/webfinger?resource=acct:news@alpha.test": 200,
        f"{base}/.well-known/host-meta.json": 200,
    }
    for status in (site.note, site.article, site.reply, site.boost):
        urls[status.uri] = urls[f"{status.uri}/activity"] = 200
    served: dict[str, object] = {}
    for url, expected in urls.items():
        code, _, _, body = await get(client, url, AP)
        assert code == expected, url
        served[url] = json.loads(body)
    page = served[f"{news_uri}/outbox?page=true"]
    assert isinstance(page, dict) and len(page["orderedItems"]) == 4
    async with site.alpha.sessionmaker() as session:
        sent = {
            row.uri: (row.type, json.loads(row.body))
            for row in await session.scalars(select(Activity))
        }
    kinds = {kind for kind, _ in sent.values()}
    assert kinds == {"Follow", "Accept", "Create", "Update", "Delete", "Announce"}
    found = {url: null_paths(doc) for url, doc in served.items()}
    found |= {uri: null_paths(doc) for uri, (_, doc) in sent.items()}
    assert {where: paths for where, paths in found.items() if paths} == {}


@pytest.mark.parametrize("accept", NOT_HTML)
async def test_everyone_who_does_not_ask_for_html_gets_activitypub_json(
    site: Site, client: aiohttp.ClientSession, accept: str | None
) -> None:
    """Actor (and so its key: `#main-key` is not sent), instance actor, post, boost, the
    post's /activity, collections: the AS document whose id is the URL."""
    base, news_uri = site.alpha.base_url, site.alpha.actor_uri("news")
    urls = [
        news_uri,
        f"{base}/actor",
        site.note.uri,
        site.boost.uri,
        f"{site.note.uri}/activity",
        f"{news_uri}/followers",
        f"{news_uri}/following",
        f"{news_uri}/outbox",
    ]
    for url in urls:
        code, content_type, vary, body = await get(client, url, accept)
        assert (code, content_type, vary) == (200, AP, "Accept"), url
        # A boost's URL serves its Announce, whose id is Mastodon's `…/activity`.
        expected_id = f"{url}/activity" if url == site.boost.uri else url
        assert json.loads(body)["id"] == expected_id
    _, _, _, body = await get(client, news_uri, accept)
    key = json.loads(body)["publicKey"]
    assert key["id"] == f"{news_uri}#main-key"
    assert key["publicKeyPem"].startswith("-----BEGIN PUBLIC KEY-----")
    code, content_type, vary, body = await get(client, site.deleted.uri, accept)
    assert (code, content_type, vary) == (410, AP, "Accept")
    assert json.loads(body)["type"] == "Tombstone"


@pytest.mark.parametrize("accept", HTML)
async def test_browsers_get_html(site: Site, client: aiohttp.ClientSession, accept: str) -> None:
    news_uri = site.alpha.actor_uri("news")
    note_url = f"{site.alpha.base_url}/@news/{site.note.id}"
    for url in (news_uri, f"{site.alpha.base_url}/actor", site.note.uri, note_url):
        code, content_type, vary, body = await get(client, url, accept)
        assert (code, content_type, vary) == (200, "text/html", HTML_VARY), url
        assert body.startswith(b"<!DOCTYPE html>")
    code, content_type, vary, body = await get(client, site.deleted.uri, accept)
    assert (code, content_type, vary) == (410, "text/html", HTML_VARY)
    assert b"This post was deleted" in body and b'href="http://alpha.test/"' in body


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        ("application/activity+json, text/html;q=0.5", False),
        ("text/html, application/activity+json", False),
        ("text/html, application/json;q=0.5", True),
        ("text/html;q=0, */*", False),
        ("text/*", True),
    ],
)
async def test_the_higher_q_wins_when_both_are_named(
    site: Site, client: aiohttp.ClientSession, accept: str, html: bool
) -> None:
    _, content_type, _, _ = await get(client, site.alpha.actor_uri("news"), accept)
    assert content_type == ("text/html" if html else AP)
