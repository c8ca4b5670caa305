"""Authorized fetch, signed GETs by the instance actor, key rotation and SSRF, over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from sqlalchemy import select

from actors.models import RemoteKey
from federation.keys import generate_rsa_private_key_pem, public_key_pem
from federation.signatures import sign_request
from tests.conftest import LoopbackResolver, StartInstance
from tests.fakes import FakeRemote, shared_key
from tests.inbox.test_receive import follow

AP = "application/activity+json"


@pytest.fixture
async def remote(resolver: LoopbackResolver) -> AsyncIterator[FakeRemote]:
    fake = FakeRemote("social.example", shared_key())
    fake.add_person("bob")
    await fake.start(resolver)
    yield fake
    await fake.stop()


def signed_get_headers(
    url: str, key_id: str, pem: str, now: datetime | None = None
) -> dict[str, str]:
    return sign_request(
        method="GET",
        url=url,
        headers={"Accept": AP},
        body=None,
        key_id=key_id,
        private_key_pem=pem,
        now=now or datetime.now(UTC),
    )


async def test_authorized_fetch_requires_signed_gets(
    start_instance: StartInstance, remote: FakeRemote, client: aiohttp.ClientSession
) -> None:
    alpha = await start_instance("alpha", authorized_fetch=True)
    beta = await start_instance("beta")
    await alpha.add_actor("news", display_name="Alpha News")
    news = alpha.actor_uri("news")
    bob_key = f"{remote.base}/users/bob#main-key"

    for path in ("/outbox", "/followers", "/following"):
        url = news + path
        async with client.get(url, headers={"Accept": AP}) as resp:
            assert resp.status == 401, path
        forged = signed_get_headers(url, bob_key, generate_rsa_private_key_pem())
        async with client.get(url, headers=forged) as resp:
            assert resp.status == 401
        stale = signed_get_headers(
            url, bob_key, remote.private_key_pem, datetime.now(UTC) - timedelta(hours=3)
        )
        async with client.get(url, headers=stale) as resp:
            assert resp.status == 401
        good = signed_get_headers(url, bob_key, remote.private_key_pem)
        async with client.get(url, headers=good) as resp:
            assert resp.status == 200
            assert (await resp.json(content_type=None))["type"] == "OrderedCollection"

    # Unsigned actor fetches get the key (no deadlock), not the profile.
    async with client.get(news, headers={"Accept": AP}) as resp:
        bare = await resp.json(content_type=None)
    assert bare["publicKey"]["id"] == news + "#main-key" and "name" not in bare
    # The instance actor, WebFinger and HTML profiles stay public.
    async with client.get(alpha.base_url + "/actor", headers={"Accept": AP}) as resp:
        assert "name" in await resp.json(content_type=None)
    async with client.get(
        alpha.base_url + "/.well-known/webfinger?resource=acct:news@alpha.test"
    ) as resp:
        assert resp.status == 200
    async with client.get(news, headers={"Accept": "text/html"}) as resp:
        assert resp.status == 200

    # Beta's fetches are signed by beta's instance actor, so beta sees the whole actor.
    actor = await beta.services.directory.fetch_actor(news)
    assert actor.display_name == "Alpha News"
    assert actor.inbox_uri == news + "/inbox"
    assert actor.shared_inbox_uri == alpha.base_url + "/inbox"


async def test_rotated_key_is_picked_up_after_one_failed_verify(
    start_instance: StartInstance, remote: FakeRemote, client: aiohttp.ClientSession
) -> None:
    alpha = await start_instance("alpha")
    await alpha.add_actor("news")
    bob = f"{remote.base}/users/bob"
    url = alpha.base_url + "/inbox"
    assert await remote.post(client, url, follow(bob, alpha.actor_uri("news"), 1)) == 202
    fetches_before = len(remote.received)
    # Bob rotates his key; alpha still has the old one cached.
    new_pem = generate_rsa_private_key_pem()
    doc = remote.docs["/users/bob"]
    assert isinstance(doc, dict)
    doc["publicKey"] = {
        "id": bob + "#main-key",
        "owner": bob,
        "publicKeyPem": public_key_pem(new_pem),
    }
    assert (
        await remote.post(
            client, url, follow(bob, alpha.actor_uri("news"), 2), private_key_pem=new_pem
        )
        == 202
    )
    assert len(remote.received) == fetches_before  # GETs are not recorded; no stray POSTs
    async with alpha.sessionmaker() as session:
        key = await session.scalar(select(RemoteKey).where(RemoteKey.key_uri == bob + "#main-key"))
    assert key is not None and key.public_key_pem == public_key_pem(new_pem)
    # The old key no longer verifies.
    assert await remote.post(client, url, follow(bob, alpha.actor_uri("news"), 3)) == 401


@pytest.mark.parametrize(
    "key_id",
    [
        "http://127.0.0.1:{port}/users/bob#main-key",
        "http://169.254.169.254/latest/meta-data/key#main-key",
        "http://[::1]:{port}/users/bob#main-key",
        "http://social.example/users/bob#main-key",  # resolves to loopback
    ],
)
async def test_key_ids_on_private_addresses_are_refused(
    start_instance: StartInstance,
    remote: FakeRemote,
    client: aiohttp.ClientSession,
    resolver: LoopbackResolver,
    key_id: str,
) -> None:
    alpha = await start_instance("alpha", allow_private_addresses=False)
    await alpha.add_actor("news")
    key_id = key_id.format(port=resolver.hosts["social.example"])
    actor = key_id.split("#")[0]
    act = follow(actor, alpha.actor_uri("news"))
    # The signature is valid for that key id; only the address makes it unfetchable.
    status = await remote.post(client, alpha.base_url + "/inbox", act, key_id=key_id)
    assert status == 401
