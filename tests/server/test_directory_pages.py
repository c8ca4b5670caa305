"""`GET /directory` over real HTTP: the page, the ActivityStreams collection (paging,
since and Tombstones, ETags) and sharing with peers only (signed GETs between instances)."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from actors.models import ActorType
from federation.fetch import FetchStatusError, fetch_json
from server import keys
from tests.actors.test_directory_search import T0, add_entry, set_profile
from tests.conftest import Instance, StartInstance

AS = "application/activity+json"
HTML = "text/html,application/xhtml+xml,*/*;q=0.8"


async def populate(inst: Instance) -> None:
    """Three listed local actors, two hidden ones, two entries cached from a peer."""
    await inst.add_actor("klima", display_name="Klimabündnis <Pankow>")
    await inst.add_actor("rad", ActorType.GROUP, display_name="Radentscheid")
    await inst.add_actor("bayern", display_name="Bund Naturschutz")
    await inst.add_actor("hidden", display_name="Verstecktes Bündnis")
    await inst.add_actor("anna", ActorType.PERSON, display_name="Anna")
    async with inst.sessionmaker() as s:
        await set_profile(
            s,
            "klima",
            region="DE-BE",
            locality="Pankow",
            postal_prefix="10",
            interests=["Klima", "Verkehrswende"],
            changed_at=T0 + timedelta(hours=3),
        )
        await set_profile(
            s,
            "rad",
            region="DE-BE",
            postal_prefix="10115",
            interests=["Fahrrad", "Verkehrswende"],
            changed_at=T0 + timedelta(hours=2),
        )
        await set_profile(
            s, "bayern", region="DE-BY", interests=["Klima"], changed_at=T0 + timedelta(hours=1)
        )
        await set_profile(s, "hidden", region="DE-BE", interests=["Klima"], discoverable=False)
        await set_profile(s, "anna", region="DE-BE", interests=["Klima"], discoverable=False)
        await add_entry(
            s,
            "peer.test:8443",
            "stadtwerk",
            name="Stadtwerk Hamburg",
            region="DE-HH",
            interests=["Klima", "Energie"],
            updated_at=T0 + timedelta(hours=4),
        )
        await add_entry(
            s,
            "peer.test:8443",
            "kiez",
            type_="Group",
            name="Kiezgruppe",
            region="DE-BE",
            postal_prefix="10437",
            interests=["Verkehrswende"],
            updated_at=T0,
        )
        await s.commit()


async def get_html(
    client: aiohttp.ClientSession, url: str, *, language: str = "en"
) -> tuple[int, str]:
    async with client.get(url, headers={"Accept": HTML, "Accept-Language": language}) as resp:
        assert resp.headers["Vary"].startswith("Accept")
        assert resp.content_type == "text/html"
        return resp.status, await resp.text()


def names(page: str) -> list[str]:
    return [
        html.unescape(n) for n in re.findall(r'class="p-name u-url" href="[^"]*">([^<]*)<', page)
    ]


@pytest.fixture
async def alpha(start_instance: StartInstance) -> Instance:
    inst = await start_instance("alpha")
    await populate(inst)
    return inst


async def test_page_lists_local_actors_and_peer_entries(
    alpha: Instance, client: aiohttp.ClientSession
) -> None:
    status, page = await get_html(client, f"{alpha.base_url}/directory")
    assert status == 200
    assert names(page) == [
        "Stadtwerk Hamburg",
        "Klimabündnis <Pankow>",
        "Radentscheid",
        "Bund Naturschutz",
        "Kiezgruppe",
    ]
    assert "Klimabündnis &lt;Pankow&gt;" in page  # escaped
    assert 'href="http://alpha.test/@klima"' in page
    assert 'href="https://peer.test:8443/@stadtwerk"' in page
    assert "on this instance" in page and "on peer.test:8443" in page
    assert "Pankow, Berlin (DE-BE)" in page and "Bavaria (DE-BY)" in page
    assert "#Klima #Verkehrswende" in page
    for label in ("region", "interest", "type", "q"):
        assert f'<label for="{label}">' in page and f'id="{label}"' in page
    assert "Verstecktes" not in page and "Anna" not in page


async def test_page_region_names_follow_accept_language(
    alpha: Instance, client: aiohttp.ClientSession
) -> None:
    async with alpha.sessionmaker() as s:
        await add_entry(s, "wien.test", "wien", region="AT")
        await s.commit()
    url = f"{alpha.base_url}/directory?region=AT"
    _, page = await get_html(client, url, language="de-AT,de;q=0.9,en;q=0.5")
    assert "Österreich (AT)" in page
    for language in ("fr", "en-GB", "en;q=0.9,de;q=0.8", ""):
        _, page = await get_html(client, url, language=language)
        assert "Austria (AT)" in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("region=DE-BE", ["Klimabündnis <Pankow>", "Radentscheid", "Kiezgruppe"]),
        (
            "region=de",
            [
                "Stadtwerk Hamburg",
                "Klimabündnis <Pankow>",
                "Radentscheid",
                "Bund Naturschutz",
                "Kiezgruppe",
            ],
        ),
        ("region=101", ["Klimabündnis <Pankow>", "Radentscheid"]),  # 101 lies in its 10
        ("interest=fahrrad", ["Radentscheid"]),
        ("interest=energie&interest=FAHRRAD", ["Stadtwerk Hamburg", "Radentscheid"]),
        ("interest=klima,verkehrswende&match=all", ["Klimabündnis <Pankow>"]),
        ("type=group", ["Radentscheid", "Kiezgruppe"]),
        ("q=hamburg", ["Stadtwerk Hamburg"]),
        ("region=DE-BE&interest=Verkehrswende&local=1", ["Klimabündnis <Pankow>", "Radentscheid"]),
    ],
)
async def test_page_filters(
    alpha: Instance, client: aiohttp.ClientSession, query: str, expected: list[str]
) -> None:
    status, page = await get_html(client, f"{alpha.base_url}/directory?{query}")
    assert status == 200
    assert names(page) == expected


async def test_page_says_nothing_found_and_pages(
    alpha: Instance, client: aiohttp.ClientSession
) -> None:
    _, page = await get_html(client, f"{alpha.base_url}/directory?q=nirgendwo")
    assert "Nothing found for this search." in page
    async with alpha.sessionmaker() as s:
        for i in range(25):
            await add_entry(
                s, "many.test", f"e{i:02}", name=f"Entry {i:02}", region="AT-9", updated_at=T0
            )
        await s.commit()
    _, first = await get_html(client, f"{alpha.base_url}/directory?region=AT")
    assert len(names(first)) == 20 and 'rel="prev"' not in first
    nxt = html.unescape(re.findall(r'rel="next" href="([^"]*)"', first)[0])
    assert nxt == "/directory?region=AT&offset=20"
    _, second = await get_html(client, alpha.base_url + nxt)
    assert len(names(second)) == 5 and 'rel="next"' not in second and 'rel="prev"' in second
    assert not set(names(first)) & set(names(second))


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("region=ZZ", "not an ISO"),
        ("region=DE-XX", "not an ISO"),
        ("interest=" + ",".join(f"t{i}" for i in range(1000)), "at most 20 interests"),
        ("type=robot", "type must be"),
        ("offset=-1", "offset must be"),
        ("offset=99999999999999999999999", "offset must be"),
        ("match=some", "match must be"),
        ("since=yesterday", "RFC 3339"),
    ],
)
async def test_page_hostile_parameters_get_400_with_reason(
    alpha: Instance, client: aiohttp.ClientSession, query: str, reason: str
) -> None:
    status, page = await get_html(client, f"{alpha.base_url}/directory?{query}")
    assert status == 400
    assert reason in html.unescape(page)


# --- the collection -------------------------------------------------------------------------


async def get_as(
    client: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, object], aiohttp.ClientResponse]:
    async with client.get(url, headers={"Accept": AS, **(headers or {})}) as resp:
        body = await resp.read()
        assert resp.headers["Vary"].startswith("Accept")
        doc = await resp.json(content_type=None) if body else {}
        return resp.status, doc, resp


async def walk(client: aiohttp.ClientSession, url: str) -> list[dict[str, object]]:
    """Every item of the collection at `url`, following `first` and `next`."""
    status, head, _ = await get_as(client, url)
    assert status == 200 and head["type"] == "OrderedCollection"
    items: list[dict[str, object]] = []
    page_url = head["first"]
    pages = 0
    while isinstance(page_url, str):
        status, page, _ = await get_as(client, page_url)
        assert status == 200 and page["type"] == "OrderedCollectionPage"
        assert page["partOf"] == head["id"]
        ordered = page["orderedItems"]
        assert isinstance(ordered, list)
        items += ordered
        page_url = page.get("next")
        pages += 1
        assert pages < 20
    return items


async def test_collection_pages_newest_change_first(
    start_instance: StartInstance, client: aiohttp.ClientSession
) -> None:
    alpha = await start_instance("alpha", directory={"page_size": 2})
    await populate(alpha)
    status, head, resp = await get_as(client, f"{alpha.base_url}/directory")
    assert resp.content_type == AS and status == 200
    assert head["id"] == "http://alpha.test/directory"
    assert head["totalItems"] == 3
    assert head["first"] == "http://alpha.test/directory?page=true"
    items = await walk(client, f"{alpha.base_url}/directory")
    assert [i["id"] for i in items] == [alpha.actor_uri(n) for n in ("klima", "rad", "bayern")]
    klima = items[0]
    assert klima == {
        "id": "http://alpha.test/users/klima",
        "type": "Organization",
        "preferredUsername": "klima",
        "name": "Klimabündnis <Pankow>",
        "summary": "",
        "url": "http://alpha.test/@klima",
        "inbox": "http://alpha.test/users/klima/inbox",
        "updated": "2026-05-01T15:00:00Z",
        "region": "DE-BE",
        "locality": "Pankow",
        "postalCodePrefix": "10",
        "interests": ["Klima", "Verkehrswende"],
        "tag": [
            {"type": "Hashtag", "name": "#Klima", "href": "http://alpha.test/tags/klima"},
            {
                "type": "Hashtag",
                "name": "#Verkehrswende",
                "href": "http://alpha.test/tags/verkehrswende",
            },
        ],
        "discoverable": True,
        "indexable": True,
    }
    # Peer entries are not passed on; filters work on the collection too.
    assert not any("peer.test" in str(i["id"]) for i in items)
    filtered = await walk(client, f"{alpha.base_url}/directory?region=DE-BE&interest=fahrrad")
    assert [i["id"] for i in filtered] == [alpha.actor_uri("rad")]


async def test_since_lists_changes_and_tombstones(
    alpha: Instance, client: aiohttp.ClientSession
) -> None:
    url = f"{alpha.base_url}/directory?since=2026-05-01T13:30:00Z"
    _, head, _ = await get_as(client, url)
    assert head["id"] == url and head["first"] == url + "&page=true"
    assert head["totalItems"] == 4
    # Changed after 13:30: klima (15:00), rad (14:00); hidden and anna, not listed, changed
    # later (now) and are Tombstones carrying nothing else.
    items = await walk(client, url)
    assert [(i["id"], i["type"]) for i in items] == [
        (alpha.actor_uri("anna"), "Tombstone"),
        (alpha.actor_uri("hidden"), "Tombstone"),
        (alpha.actor_uri("klima"), "Organization"),
        (alpha.actor_uri("rad"), "Group"),
    ]
    assert set(items[0]) == {"id", "type", "formerType", "updated"}
    assert items[0]["formerType"] == "Person"

    later = datetime.now(UTC) + timedelta(seconds=5)
    async with alpha.sessionmaker() as s:
        await set_profile(s, "rad", region="DE-BE", discoverable=False, changed_at=later)
        await s.commit()
    stamp = (later - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    items = await walk(client, f"{alpha.base_url}/directory?since={stamp.replace('+', '%2B')}")
    assert items == [
        {
            "id": alpha.actor_uri("rad"),
            "type": "Tombstone",
            "formerType": "Group",
            "updated": later.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    ]
    # Without since there are no Tombstones, and rad is gone.
    assert [i["id"] for i in await walk(client, f"{alpha.base_url}/directory")] == [
        alpha.actor_uri("klima"),
        alpha.actor_uri("bayern"),
    ]


async def test_etag_and_304(alpha: Instance, client: aiohttp.ClientSession) -> None:
    for url in (f"{alpha.base_url}/directory", f"{alpha.base_url}/directory?page=true"):
        status, _, resp = await get_as(client, url)
        etag = resp.headers["ETag"]
        status, doc, resp = await get_as(client, url, {"If-None-Match": etag})
        assert status == 304 and doc == {} and resp.headers["ETag"] == etag
        status, _, _ = await get_as(client, url, {"If-None-Match": '"other"'})
        assert status == 200
    _, _, resp = await get_as(client, f"{alpha.base_url}/directory")
    etag = resp.headers["ETag"]
    _, _, filtered = await get_as(client, f"{alpha.base_url}/directory?region=DE-BY")
    assert filtered.headers["ETag"] != etag
    async with alpha.sessionmaker() as s:
        await set_profile(s, "bayern", region="DE-BY", interests=["Wald"])
        await s.commit()
    status, _, resp = await get_as(client, f"{alpha.base_url}/directory", {"If-None-Match": etag})
    assert status == 200 and resp.headers["ETag"] != etag


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("since=yesterday", "RFC 3339"),
        ("since=2026-05-01T12:00:00", "RFC 3339"),
        ("page=true&before=bm9wZQ", "cursor"),
        ("region=QQ", "not an ISO"),
        ("interest=" + ",".join(f"t{i}" for i in range(1000)), "at most 20"),
    ],
)
async def test_collection_hostile_parameters_get_400(
    alpha: Instance, client: aiohttp.ClientSession, query: str, reason: str
) -> None:
    async with client.get(f"{alpha.base_url}/directory?{query}", headers={"Accept": AS}) as resp:
        assert resp.status == 400
        assert reason in (await resp.json())["error"]


# --- shared with peers only ---------------------------------------------------------------


async def signed_get(inst: Instance, url: str) -> object:
    """GET `url` signed by `inst`'s instance actor, as a peer's directory sync does."""
    return await fetch_json(
        inst.app[keys.HTTP_CLIENT],
        url,
        signer=await inst.services.instance_signer(),
        allow_private=True,
    )


async def test_peers_only_needs_a_peer_signature(
    start_instance: StartInstance, client: aiohttp.ClientSession
) -> None:
    alpha = await start_instance(
        "alpha", directory={"share_with": "peers", "peers": ("beta.test:8443",)}
    )
    beta = await start_instance("beta", domain="beta.test:8443")
    gamma = await start_instance("gamma")
    await populate(alpha)
    url = f"{alpha.base_url}/directory"
    async with client.get(url, headers={"Accept": AS}) as resp:
        assert resp.status == 401
        assert "peer instances only" in (await resp.json())["error"]
        assert resp.headers["WWW-Authenticate"].startswith('Signature realm="alpha.test"')
    forged = {"Accept": AS, "Signature": 'keyId="http://beta.test:8443/actor#main-key",x="y"'}
    async with client.get(url, headers=forged) as resp:
        assert resp.status == 401
    with pytest.raises(FetchStatusError) as refused:
        await signed_get(gamma, url)
    assert refused.value.status == 403
    doc = await signed_get(beta, url)
    assert isinstance(doc, dict) and doc["totalItems"] == 3
    page = await signed_get(beta, f"{url}?page=true")
    assert isinstance(page, dict) and len(page["orderedItems"]) == 3
    # The page for people stays public.
    status, text = await get_html(client, url)
    assert status == 200 and "Radentscheid" in text
