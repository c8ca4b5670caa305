"""`GET /api/v1/directory` (Mastodon's, Account entities) and `GET /api/verbund/v1/directory`
(structured regions and interests) over real HTTP, without a token."""

from __future__ import annotations

from datetime import UTC, datetime

import aiohttp
import pytest

from actors.models import RemoteActor
from outbox.posts import Draft
from server.api.directory import DIRECTORY_ID_OFFSET
from server.api.entities import REMOTE_ID_OFFSET
from tests.conftest import Instance, StartInstance
from tests.server.test_directory_pages import populate
from tests.server.test_served_documents import publish


@pytest.fixture
async def alpha(start_instance: StartInstance) -> Instance:
    inst = await start_instance("alpha")
    await populate(inst)
    return inst


async def get(
    client: aiohttp.ClientSession, url: str
) -> tuple[int, object, aiohttp.ClientResponse]:
    async with client.get(url) as resp:
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
        return resp.status, await resp.json(), resp


async def accounts(client: aiohttp.ClientSession, url: str) -> list[dict[str, object]]:
    status, doc, _ = await get(client, url)
    assert status == 200, doc
    assert isinstance(doc, list)
    return doc


async def test_mastodon_directory_lists_accounts(
    alpha: Instance, client: aiohttp.ClientSession
) -> None:
    docs = await accounts(client, f"{alpha.base_url}/api/v1/directory?order=new")
    assert [d["acct"] for d in docs] == [
        "stadtwerk@peer.test:8443",
        "klima",
        "rad",
        "bayern",
        "kiez@peer.test:8443",
    ]
    klima = docs[1]
    assert klima["url"] == "http://alpha.test/@klima"
    assert klima["uri"] == alpha.actor_uri("klima")
    assert klima["display_name"] == "Klimabündnis <Pankow>"
    assert isinstance(klima["id"], str) and int(klima["id"]) < REMOTE_ID_OFFSET
    for key in ("avatar", "header", "followers_count", "statuses_count", "fields", "emojis"):
        assert key in klima
    peer = docs[0]
    assert peer["url"] == "https://peer.test:8443/@stadtwerk"
    assert peer["uri"] == "https://peer.test:8443/users/stadtwerk"
    assert peer["username"] == "stadtwerk"
    assert isinstance(peer["id"], str) and int(peer["id"]) > DIRECTORY_ID_OFFSET
    again = await accounts(client, f"{alpha.base_url}/api/v1/directory?order=new")
    assert again[0]["id"] == peer["id"]  # stable
    # The id is an account id like any other: an app can open the account.
    status, account, _ = await get(client, f"{alpha.base_url}/api/v1/accounts/{peer['id']}")
    assert status == 200, account
    assert isinstance(account, dict)
    assert (account["id"], account["acct"], account["uri"]) == (
        peer["id"],
        "stadtwerk@peer.test:8443",
        "https://peer.test:8443/users/stadtwerk",
    )
    status, _, _ = await get(
        client, f"{alpha.base_url}/api/v1/accounts/{DIRECTORY_ID_OFFSET + 9999}"
    )
    assert status == 404

    local = await accounts(client, f"{alpha.base_url}/api/v1/directory?local=true&order=new")
    assert [d["acct"] for d in local] == ["klima", "rad", "bayern"]
    paged = await accounts(client, f"{alpha.base_url}/api/v1/directory?order=new&offset=1&limit=2")
    assert [d["acct"] for d in paged] == ["klima", "rad"]


async def test_known_remote_actor_gets_its_account_id(
    alpha: Instance, client: aiohttp.ClientSession
) -> None:
    async with alpha.sessionmaker() as s:
        remote = RemoteActor(
            uri="https://peer.test:8443/users/kiez",
            type="Group",
            username="kiez",
            domain="peer.test:8443",
            inbox_uri="https://peer.test:8443/users/kiez/inbox",
            shared_inbox_uri=None,
            outbox_uri=None,
            followers_uri=None,
            following_uri=None,
            url="https://peer.test:8443/@kiez",
            icon_url=None,
            fetched_at=datetime.now(UTC),
        )
        s.add(remote)
        await s.commit()
    docs = await accounts(client, f"{alpha.base_url}/api/v1/directory?type=group&order=new")
    kiez = next(d for d in docs if d["acct"] == "kiez@peer.test:8443")
    assert kiez["id"] == str(remote.id + REMOTE_ID_OFFSET)
    status, account, _ = await get(client, f"{alpha.base_url}/api/v1/accounts/{kiez['id']}")
    assert status == 200 and isinstance(account, dict) and account["acct"] == kiez["acct"]


async def test_active_order_puts_the_newest_post_first(
    alpha: Instance, client: aiohttp.ClientSession
) -> None:
    await publish(alpha, Draft(text="Waldspaziergang am Sonntag"), actor="bayern")
    docs = await accounts(client, f"{alpha.base_url}/api/v1/directory?local=1")
    assert [d["acct"] for d in docs] == ["bayern", "klima", "rad"]
    assert docs[0]["last_status_at"] is not None


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("region=DE-BE", ["klima", "rad", "kiez@peer.test:8443"]),
        ("region=10&local=true", ["klima", "rad"]),
        (
            "interest[]=Klima&interest[]=Fahrrad",
            ["stadtwerk@peer.test:8443", "klima", "rad", "bayern"],
        ),
        ("interest=klima,verkehrswende&match=all", ["klima"]),
        ("type=group", ["rad", "kiez@peer.test:8443"]),
        ("q=KIEZ", ["kiez@peer.test:8443"]),
        ("q=Ki%00ez%ED%A0%80", []),
    ],
)
async def test_mastodon_directory_filters(
    alpha: Instance, client: aiohttp.ClientSession, query: str, expected: list[str]
) -> None:
    docs = await accounts(client, f"{alpha.base_url}/api/v1/directory?order=new&{query}")
    assert [d["acct"] for d in docs] == expected


async def test_verbund_directory_structured(alpha: Instance, client: aiohttp.ClientSession) -> None:
    status, doc, _ = await get(
        client, f"{alpha.base_url}/api/verbund/v1/directory?order=new&region=DE-BE&limit=2"
    )
    assert status == 200 and isinstance(doc, dict)
    assert (doc["offset"], doc["limit"], doc["next_offset"]) == (0, 2, 2)
    items = doc["items"]
    assert isinstance(items, list)
    klima, rad = items
    assert klima == {
        "handle": "klima@alpha.test",
        "actor_uri": alpha.actor_uri("klima"),
        "url": "http://alpha.test/@klima",
        "type": "Organization",
        "display_name": "Klimabündnis <Pankow>",
        "note": "",
        "avatar": None,
        "region": {
            "code": "DE-BE",
            "name_en": "Berlin",
            "name_de": "Berlin",
            "locality": "Pankow",
            "postal_prefix": "10",
        },
        "interests": ["Klima", "Verkehrswende"],
        "peer": None,
        "updated_at": "2026-05-01T15:00:00.000Z",
        "links": [],
    }
    assert rad["handle"] == "rad@alpha.test"
    status, doc, _ = await get(
        client, f"{alpha.base_url}/api/verbund/v1/directory?order=new&region=DE-BE&offset=2"
    )
    assert isinstance(doc, dict) and doc["next_offset"] is None
    (kiez,) = doc["items"]
    assert kiez["peer"] == "peer.test:8443" and kiez["handle"] == "kiez@peer.test:8443"
    assert kiez["url"] == "https://peer.test:8443/@kiez"


async def test_non_discoverable_actors_appear_in_neither_api(
    alpha: Instance, client: aiohttp.ClientSession
) -> None:
    for path in ("/api/v1/directory", "/api/verbund/v1/directory"):
        for query in ("?local=true", "?region=DE-BE", "?interest=klima", "?q=anna", "?limit=80"):
            _, doc, _ = await get(client, alpha.base_url + path + query)
            text = str(doc)
            assert "hidden" not in text and "anna" not in text.lower()
            assert "instance.actor" not in text


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("limit=100000000000000000000000000000", "limit must be"),
        ("limit=-5", "limit must be"),
        ("limit=ten", "limit must be"),
        ("offset=-1", "offset must be"),
        ("offset=100000000000", "offset must be"),
        ("order=popular", "order must be"),
        ("region=ZZ", "not an ISO"),
        ("region=1%25", "postal prefix"),
        ("interest=" + ",".join(f"t{i}" for i in range(1000)), "at most 20"),
        ("interest=%23%21", "no letter"),
        ("type=bot", "type must be"),
        ("since=not-a-time", "RFC 3339"),
    ],
)
async def test_hostile_parameters_get_422_with_reason(
    alpha: Instance, client: aiohttp.ClientSession, query: str, reason: str
) -> None:
    for path in ("/api/v1/directory", "/api/verbund/v1/directory"):
        status, doc, _ = await get(client, f"{alpha.base_url}{path}?{query}")
        assert status == 422, (path, query, doc)
        assert isinstance(doc, dict) and reason in str(doc["error"])


async def test_limit_above_80_is_cut_by_mastodon_and_refused_by_verbund(
    alpha: Instance, client: aiohttp.ClientSession
) -> None:
    docs = await accounts(client, f"{alpha.base_url}/api/v1/directory?limit=1000")
    assert len(docs) == 5
    status, doc, _ = await get(client, f"{alpha.base_url}/api/verbund/v1/directory?limit=81")
    assert status == 422 and isinstance(doc, dict) and "at most 80" in str(doc["error"])
