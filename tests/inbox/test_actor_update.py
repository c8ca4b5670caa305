"""Update of a remote actor's own document: stored as sent when the actor signed it.

Mastodon sends `Update{Person}` when a profile changes, the actor embedded without an
`@context` of its own and signed by that actor's key. The receiver stores only records
whose signing key belongs to the activity's actor, so the embedded copy comes from the
actor itself: it is stored without fetching the actor again. A copy that is no usable
actor is fetched from its origin instead; an Update of someone else's document changes
nothing.
"""

from __future__ import annotations

import copy

import aiohttp
import pytest
from sqlalchemy import select

from actors.models import RemoteActor
from tests.conftest import Instance, StartInstance
from tests.fakes import FakeRemote
from tests.helpers import settle

AS = "https://www.w3.org/ns/activitystreams"


@pytest.fixture
async def alpha(start_instance: StartInstance) -> Instance:
    return await start_instance("alpha")


async def remote(inst: Instance, uri: str) -> RemoteActor | None:
    async with inst.sessionmaker() as session:
        return await session.scalar(select(RemoteActor).where(RemoteActor.uri == uri))


def actor_doc(fake: FakeRemote, who: str) -> dict[str, object]:
    doc = fake.docs[f"/users/{who}"]
    assert isinstance(doc, dict)
    return doc


def update_of(fake: FakeRemote, who: str, n: int, **changes: object) -> dict[str, object]:
    """Mastodon's Update of a profile: the actor embedded without its own `@context`."""
    actor = copy.deepcopy(actor_doc(fake, who))
    del actor["@context"]
    actor.update(changes)
    uri = f"{fake.base}/users/{who}"
    return {
        "@context": [AS, "https://w3id.org/security/v1"],
        "id": f"{uri}#updates/{n}",
        "type": "Update",
        "actor": uri,
        "to": [f"{AS}#Public"],
        "object": actor,
    }


def actor_gets(fake: FakeRemote, name: str) -> int:
    return sum(1 for path in fake.paths() if path == f"/users/{name}")


async def send(
    fake: FakeRemote, client: aiohttp.ClientSession, alpha: Instance, activity: dict[str, object]
) -> None:
    assert await fake.post(client, alpha.base_url + "/inbox", activity) == 202
    await settle(alpha)


async def test_signed_update_of_the_own_actor_is_stored_without_a_fetch(
    alpha: Instance, mastodon: FakeRemote, client: aiohttp.ClientSession
) -> None:
    bob = f"{mastodon.base}/users/bob"
    await send(mastodon, client, alpha, update_of(mastodon, "bob", 1))  # bob's key: fetched
    known = await remote(alpha, bob)
    assert known is not None and known.display_name == "Bob"
    gets = actor_gets(mastodon, "bob")

    await send(mastodon, client, alpha, update_of(mastodon, "bob", 2, name="Bob B.", summary="Hi"))
    changed = await remote(alpha, bob)
    assert changed is not None
    assert (changed.display_name, changed.summary) == ("Bob B.", "Hi")
    assert changed.fetched_at >= known.fetched_at
    assert actor_gets(mastodon, "bob") == gets  # taken as sent: not fetched again


async def test_update_embedding_no_usable_actor_is_fetched_from_its_origin(
    alpha: Instance, mastodon: FakeRemote, client: aiohttp.ClientSession
) -> None:
    bob = f"{mastodon.base}/users/bob"
    await send(mastodon, client, alpha, update_of(mastodon, "bob", 1))
    gets = actor_gets(mastodon, "bob")
    actor_doc(mastodon, "bob")["name"] = "Bob from the origin"
    broken = update_of(mastodon, "bob", 2, name="Forged", inbox="not a url")
    await send(mastodon, client, alpha, broken)
    assert actor_gets(mastodon, "bob") == gets + 1
    row = await remote(alpha, bob)
    assert row is not None and row.display_name == "Bob from the origin"


async def test_update_of_another_actors_document_changes_nothing(
    alpha: Instance, mastodon: FakeRemote, client: aiohttp.ClientSession
) -> None:
    carol = f"{mastodon.base}/users/carol"
    await send(mastodon, client, alpha, update_of(mastodon, "carol", 1))
    before = await remote(alpha, carol)
    assert before is not None and before.display_name == "Carol"
    gets = actor_gets(mastodon, "carol")
    forged = update_of(mastodon, "carol", 2, name="Not Carol")
    forged["actor"] = f"{mastodon.base}/users/bob"  # bob signs carol's document
    forged["id"] = f"{mastodon.base}/users/bob#updates/2"
    await send(mastodon, client, alpha, forged)
    after = await remote(alpha, carol)
    assert after is not None and after.display_name == "Carol"
    assert actor_gets(mastodon, "carol") == gets
