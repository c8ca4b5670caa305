"""The directory profile between complete instances over real HTTP, and from a
Mastodon-shaped peer."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from actors.models import ActorType, RemoteActor
from actors.profile import ProfileChange
from federation.keys import public_key_pem
from server import actions
from tests.conftest import Instance, LoopbackResolver, StartInstance
from tests.fakes import FakeRemote, shared_key
from tests.helpers import settle

AP = "application/activity+json"
FIXTURE = Path(__file__).parent / "fixtures" / "mastodon" / "actor_profile_fields.json"


@pytest.fixture
async def pair(start_instance: StartInstance) -> tuple[Instance, Instance]:
    alpha = await start_instance("alpha")
    beta = await start_instance("beta", domain="beta.test:8443")
    await alpha.add_actor("kv", display_name="Kreisverband")
    await beta.add_actor("erika", ActorType.PERSON)
    return alpha, beta


async def remote_row(inst: Instance, uri: str) -> RemoteActor:
    async with inst.sessionmaker() as session:
        row = await session.scalar(select(RemoteActor).where(RemoteActor.uri == uri))
    assert row is not None
    return row


async def test_follower_instance_stores_the_profile_and_sees_its_update(
    pair: tuple[Instance, Instance], client: aiohttp.ClientSession
) -> None:
    alpha, beta = pair
    kv = alpha.actor_uri("kv")
    change = ProfileChange(
        region="DE-BE", locality="Pankow", postal_prefix="10", interests=["Klima", "Radverkehr"]
    )
    await actions.update_profile(alpha.services, "kv", change)
    await actions.follow(beta.services, "erika", "kv@alpha.test")
    await settle(alpha, beta)
    row = await remote_row(beta, kv)
    assert (row.region_code, row.locality, row.postal_prefix) == ("DE-BE", "Pankow", "10")
    assert row.interests == ["Klima", "Radverkehr"]
    assert (row.discoverable, row.indexable) == (True, True)

    # A change goes to the follower's instance as Update{Organization}.
    await actions.update_profile(
        alpha.services, "kv", ProfileChange(region="DE-HH", interests=["Hafen"], indexable=False)
    )
    await settle(alpha, beta)
    row = await remote_row(beta, kv)
    assert (row.region_code, row.locality, row.postal_prefix) == ("DE-HH", "", "")
    assert (row.interests, row.indexable) == (["Hafen"], False)

    # What beta's client API shows of it: Mastodon fields and the flags.
    async with client.get(f"{beta.base_url}/api/v1/accounts/lookup?acct=kv@alpha.test") as resp:
        account = await resp.json()
    assert account["indexable"] is False and account["discoverable"] is True
    assert [f["name"] for f in account["fields"]] == ["Region", "Interessen / Interests"]
    assert account["fields"][0]["value"] == "Hamburg (DE-HH)"
    assert 'href="http://beta.test:8443/tags/hafen"' in account["fields"][1]["value"]


async def test_no_update_is_sent_when_nothing_changed(pair: tuple[Instance, Instance]) -> None:
    alpha, beta = pair
    await actions.follow(beta.services, "erika", "kv@alpha.test")
    await settle(alpha, beta)
    from outbox.models import Activity

    await actions.update_profile(alpha.services, "kv", ProfileChange(discoverable=True))
    async with alpha.sessionmaker() as session:
        types = list(await session.scalars(select(Activity.type)))
    assert "Update" not in types


@pytest.fixture
async def mastodon(resolver: LoopbackResolver) -> AsyncIterator[FakeRemote]:
    fake = FakeRemote("social.example", shared_key())
    await fake.start(resolver)
    pem = public_key_pem(fake.private_key_pem)
    text = FIXTURE.read_text().replace("{base}", fake.base)
    doc = json.loads(text.replace("{pem}", pem.replace("\n", "\\n")))
    fake.docs["/users/radwege"] = doc
    yield fake
    await fake.stop()


async def test_mastodon_actor_with_region_field_and_hashtags_is_read_back(
    pair: tuple[Instance, Instance], mastodon: FakeRemote
) -> None:
    _, beta = pair
    stored = await beta.services.directory.get_actor(f"{mastodon.base}/users/radwege")
    # The bare `region: "FR"` is not ours (no verbund context): the Region field counts.
    assert (stored.region_code, stored.locality) == ("DE-BE", "")
    assert stored.interests == ["Verkehrswende", "Radverkehr"]
    assert (stored.discoverable, stored.indexable) == (True, True)


async def test_context_document_and_profile_page(
    pair: tuple[Instance, Instance], client: aiohttp.ClientSession
) -> None:
    alpha, _ = pair
    async with client.get(f"{alpha.base_url}/ns/verbund.jsonld") as resp:
        assert resp.status == 200
        assert resp.content_type == "application/ld+json"
        assert "max-age" in resp.headers["Cache-Control"]
        context = (await resp.json(content_type=None))["@context"]
    assert context["region"] == "verbund:region"

    change = ProfileChange(region="DE-BY", locality="Fürth", interests=["Bürgerrat"])
    await actions.update_profile(alpha.services, "kv", change)
    async with client.get(f"{alpha.base_url}/@kv", headers={"Accept": "text/html"}) as resp:
        page = await resp.text()
    assert "Fürth, Bavaria (DE-BY)" in page
    assert f'href="{alpha.base_url}/tags/burgerrat" rel="tag">#Bürgerrat</a>' in page

    async with client.get(alpha.actor_uri("kv"), headers={"Accept": AP}) as resp:
        doc = await resp.json(content_type=None)
    assert (doc["region"], doc["locality"], doc["interests"]) == ("DE-BY", "Fürth", ["Bürgerrat"])
    assert doc["attachment"][0]["value"] == "Fürth, Bavaria (DE-BY)"
