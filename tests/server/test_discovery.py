"""Discovery over real HTTP: WebFinger, host-meta, NodeInfo, actor documents, profiles."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from actors.local import create_actor
from actors.models import ActorType
from outbox.models import Visibility
from outbox.posts import Draft
from tests.conftest import Instance, StartInstance
from tests.test_news_federation import post

AP = "application/activity+json"
LD = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
MASTODON_ACCEPT = "application/activity+json, application/ld+json"
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


async def add_actor(
    inst: Instance, name: str, type_: ActorType = ActorType.ORGANIZATION, **kw: object
) -> None:
    async with inst.sessionmaker() as session:
        await create_actor(session, username=name, type_=type_, **kw)  # type: ignore[arg-type]  # kw are the optional fields
        await session.commit()


@pytest.fixture
async def alpha(start_instance: StartInstance) -> Instance:
    inst = await start_instance("alpha")
    await add_actor(
        inst,
        "News",
        display_name="Alpha News",
        summary="Branch news.\n\nSecond <b>para</b>",
        manually_approves=True,
    )
    await add_actor(inst, "wg_climate", ActorType.GROUP, display_name="Climate WG")
    await add_actor(inst, "erika", ActorType.PERSON)
    return inst


Get = Callable[..., Awaitable[aiohttp.ClientResponse]]


async def test_webfinger_acct_returns_jrd_with_self_link(
    alpha: Instance, client: aiohttp.ClientSession
) -> None:
    async with client.get(
        "http://alpha.test/.well-known/webfinger",
        params={"resource": "acct:news@alpha.test"},
        headers={"Accept": "application/jrd+json, application/json"},
    ) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/jrd+json"
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
        jrd = await resp.json(content_type=None)
    assert jrd["subject"] == "acct:news@alpha.test"
    self_links = [link for link in jrd["links"] if link["rel"] == "self"]
    assert self_links == [{"rel": "self", "type": AP, "href": "http://alpha.test/users/News"}]
    assert "http://alpha.test/users/News" in jrd["aliases"]
    profile = [link for link in jrd["links"] if link["rel"].endswith("profile-page")]
    assert profile[0]["href"] == "http://alpha.test/@News"


@pytest.mark.parametrize(
    "resource",
    [
        "acct:NEWS@alpha.test",
        "acct:news@ALPHA.TEST",
        "news@alpha.test",
        "acct%3Anews%40alpha.test",
        "http://alpha.test/users/News",
        "http://alpha.test/users/news",
        "http://alpha.test/@News",
    ],
)
async def test_webfinger_accepts_case_insensitive_and_url_resources(
    alpha: Instance, client: aiohttp.ClientSession, resource: str
) -> None:
    url = "http://alpha.test/.well-known/webfinger?resource=" + resource
    async with client.get(url) as resp:
        assert resp.status == 200, await resp.text()
        jrd = await resp.json(content_type=None)
    assert jrd["links"][0]["href"] == "http://alpha.test/users/News"


@pytest.mark.parametrize(
    ("resource", "status"),
    [
        ("acct:nobody@alpha.test", 404),
        ("acct:news@beta.test", 404),
        ("http://alpha.test/users/nobody", 404),
        ("http://alpha.test/elsewhere", 404),
        ("acct:", 400),
        ("not a handle", 400),
        ("", 400),
    ],
)
async def test_webfinger_refuses_unknown_and_malformed(
    alpha: Instance, client: aiohttp.ClientSession, resource: str, status: int
) -> None:
    async with client.get(
        "http://alpha.test/.well-known/webfinger", params={"resource": resource}
    ) as resp:
        assert resp.status == status
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
        assert "error" in await resp.json(content_type=None)


async def test_webfinger_finds_instance_actor_by_domain(
    alpha: Instance, client: aiohttp.ClientSession
) -> None:
    async with client.get(
        "http://alpha.test/.well-known/webfinger", params={"resource": "acct:alpha.test@alpha.test"}
    ) as resp:
        jrd = await resp.json(content_type=None)
    assert jrd["links"][0]["href"] == "http://alpha.test/actor"
    async with client.get("http://alpha.test/actor", headers={"Accept": AP}) as resp:
        doc = await resp.json(content_type=None)
    assert doc["type"] == "Application"
    assert doc["preferredUsername"] == "alpha.test"
    assert doc["publicKey"]["id"] == "http://alpha.test/actor#main-key"


async def test_host_meta_xrd_and_json(alpha: Instance, client: aiohttp.ClientSession) -> None:
    async with client.get("http://alpha.test/.well-known/host-meta") as resp:
        assert resp.status == 200
        assert resp.content_type == "application/xrd+xml"
        body = await resp.text()
    assert (
        'template="http://alpha.test/.well-known/webfinger?resource={uri}"' in body
        and 'rel="lrdd"' in body
    )
    for url, headers in (
        ("http://alpha.test/.well-known/host-meta.json", {}),
        ("http://alpha.test/.well-known/host-meta", {"Accept": "application/json"}),
    ):
        async with client.get(url, headers=headers) as resp:
            doc = await resp.json()
        assert doc["links"][0]["rel"] == "lrdd"


async def test_nodeinfo_discovery_and_documents(
    alpha: Instance, client: aiohttp.ClientSession
) -> None:
    async with client.get("http://alpha.test/.well-known/nodeinfo") as resp:
        links = (await resp.json())["links"]
    rels = {link["rel"]: link["href"] for link in links}
    assert (
        rels["http://nodeinfo.diaspora.software/ns/schema/2.0"] == "http://alpha.test/nodeinfo/2.0"
    )
    assert (
        rels["http://nodeinfo.diaspora.software/ns/schema/2.1"] == "http://alpha.test/nodeinfo/2.1"
    )
    for version, href in (
        ("2.0", rels[next(iter(rels))]),
        ("2.1", "http://alpha.test/nodeinfo/2.1"),
    ):
        async with client.get(href) as resp:
            assert resp.status == 200
            doc = await resp.json(content_type=None)
        assert doc["version"] == version
        assert re.fullmatch(r"[a-z0-9-]+", doc["software"]["name"])
        assert doc["protocols"] == ["activitypub"]
        assert set(doc["services"]) == {"inbound", "outbound"}
        assert doc["openRegistrations"] is False
        assert doc["usage"]["users"] == {"total": 3, "activeMonth": 3, "activeHalfyear": 3}
        assert doc["usage"]["localPosts"] == 0
        assert isinstance(doc["metadata"], dict)
    async with client.get("http://alpha.test/nodeinfo/9.9") as resp:
        assert resp.status == 404


@pytest.mark.parametrize("accept", [AP, LD, MASTODON_ACCEPT])
async def test_actor_document_for_activitypub_clients(
    alpha: Instance, client: aiohttp.ClientSession, accept: str
) -> None:
    async with client.get("http://alpha.test/users/News", headers={"Accept": accept}) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == AP
        assert resp.headers["Vary"].startswith("Accept")
        raw = await resp.read()
        doc = await resp.json(content_type=None)
    assert b"PRIVATE" not in raw
    base = "http://alpha.test/users/News"
    assert doc["@context"][0] == "https://www.w3.org/ns/activitystreams"
    assert "https://w3id.org/security/v1" in doc["@context"]
    assert doc["id"] == base
    assert doc["type"] == "Organization"
    assert doc["preferredUsername"] == "News"
    assert doc["name"] == "Alpha News"
    assert doc["summary"] == "<p>Branch news.</p><p>Second &lt;b&gt;para&lt;/b&gt;</p>"
    assert doc["url"] == "http://alpha.test/@News"
    assert doc["inbox"] == base + "/inbox"
    assert doc["outbox"] == base + "/outbox"
    assert doc["followers"] == base + "/followers"
    assert doc["following"] == base + "/following"
    assert doc["endpoints"] == {"sharedInbox": "http://alpha.test/inbox"}
    assert doc["manuallyApprovesFollowers"] is True
    assert doc["discoverable"] is True
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", doc["published"])
    key = doc["publicKey"]
    assert key["id"] == base + "#main-key"
    assert key["owner"] == base
    assert key["publicKeyPem"].startswith("-----BEGIN PUBLIC KEY-----")
    assert "icon" not in doc


async def test_actor_types_and_case_insensitive_path(
    alpha: Instance, client: aiohttp.ClientSession
) -> None:
    for path, kind in (("wg_climate", "Group"), ("ERIKA", "Person"), ("news", "Organization")):
        async with client.get(f"http://alpha.test/users/{path}", headers={"Accept": AP}) as resp:
            doc = await resp.json(content_type=None)
        assert doc["type"] == kind
    async with client.get("http://alpha.test/users/nobody", headers={"Accept": AP}) as resp:
        assert resp.status == 404


async def test_browser_gets_html_profile_with_hcard(
    alpha: Instance, client: aiohttp.ClientSession
) -> None:
    for url in ("http://alpha.test/users/News", "http://alpha.test/@News"):
        async with client.get(url, headers={"Accept": BROWSER_ACCEPT}) as resp:
            assert resp.status == 200
            assert resp.content_type == "text/html"
            assert resp.headers["Vary"].startswith("Accept")
            html = await resp.text()
        assert (
            '<link rel="alternate" type="application/activity+json" href="http://alpha.test/users/News">'
            in html
        )
        assert 'class="h-card"' in html
        assert 'class="p-name u-url u-uid"' in html
        assert "Alpha News" in html
        assert "@News@alpha.test" in html
        assert "&lt;b&gt;para" in html and "<b>para" not in html


async def test_front_page_lists_organisations_and_groups_but_not_people_who_did_not_opt_in(
    alpha: Instance, client: aiohttp.ClientSession
) -> None:
    async with client.get("http://alpha.test/") as resp:
        html = await resp.text()
    assert "Alpha News" in html and "Climate WG" in html
    assert "erika" not in html  # a person is discoverable only once they opt in


async def test_front_page_shows_the_latest_public_news_of_our_actors(
    alpha: Instance, client: aiohttp.ClientSession
) -> None:
    public = await post(alpha, "News", Draft(text="Sommerfest am Samstag"))
    await post(alpha, "News", Draft(text="Nur für Mitglieder", visibility=Visibility.PRIVATE))
    await post(alpha, "News", Draft(text="Nicht gelistet", visibility=Visibility.UNLISTED))
    async with client.get("http://alpha.test/") as resp:
        html = await resp.text()
    assert "Latest news" in html and "Sommerfest am Samstag" in html
    assert public.url is not None and public.url in html
    assert "Nur für Mitglieder" not in html and "Nicht gelistet" not in html
    assert 'rel="stylesheet" href="/static/verbund.css?v=' in html
    href = re.search(r'href="(/static/verbund\.css\?v=[0-9a-f]+)"', html)
    assert href is not None
    async with client.get(f"http://alpha.test{href.group(1)}") as resp:
        assert resp.status == 200 and resp.content_type == "text/css"
        assert "immutable" in resp.headers["Cache-Control"]
        assert "prefers-color-scheme: dark" in await resp.text()
