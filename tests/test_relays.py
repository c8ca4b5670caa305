"""Relays (FEP-ae0c, issue 15): two instances subscribe to an ActivityRelay-shaped relay on
loopback (one by its inbox, Mastodon-style, one by its actor, LitePub-style), exchange a
public post both ways through it, and one unsubscribes."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from actors import accounts
from actors.local import get_actor
from actors.models import ActorType, Follow, FollowState, RoleName
from actors.relays import AS_PUBLIC, Relay, RelayState, relay_inboxes
from federation.activities import Envelope
from inbox.receive import InboxError, check_origins, read_activity
from outbox.models import Activity as OutboxActivity
from outbox.models import Status, Visibility
from outbox.posts import Draft
from outbox.publish import enqueue
from server import relays
from tests.conftest import Instance, LoopbackResolver, StartInstance
from tests.fakes import FakeRemote, shared_key
from tests.helpers import run_cli, settle
from tests.relay_standin import RelayStandin
from tests.server.test_api import PASSWORD, Api
from tests.test_contact_requests import write_config
from tests.test_news_federation import post


async def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(run_cli, *args)


@pytest.fixture
async def relay(
    resolver: LoopbackResolver, client: aiohttp.ClientSession
) -> AsyncIterator[RelayStandin]:
    standin = RelayStandin("relay.test", client)
    await standin.start(resolver)
    yield standin
    await standin.stop()


@pytest.fixture
async def remote(resolver: LoopbackResolver) -> AsyncIterator[FakeRemote]:
    fake = FakeRemote("remote.example", private_key_pem=shared_key())
    await fake.start(resolver)
    yield fake
    await fake.stop()


async def relay_rows(inst: Instance) -> list[Relay]:
    async with inst.sessionmaker() as session:
        return list(await session.scalars(select(Relay)))


async def public_timeline(client: aiohttp.ClientSession, inst: Instance) -> list[str]:
    async with client.get(f"{inst.base_url}/api/v1/timelines/public") as resp:
        assert resp.status == 200
        return [s["uri"] for s in await resp.json()]


async def test_subscribe_exchange_and_unsubscribe(
    start_instance: StartInstance, relay: RelayStandin, client: aiohttp.ClientSession
) -> None:
    alpha = await start_instance("alpha")
    beta = await start_instance("beta", domain="beta.test:8443")
    await alpha.add_actor("news", ActorType.ORGANIZATION)
    await beta.add_actor("kv", ActorType.ORGANIZATION)

    # Mastodon-style by inbox, LitePub-style by actor.
    first = await relays.add_relay(alpha.services, relay.inbox)
    assert first.state is RelayState.PENDING and first.object_uri == AS_PUBLIC
    second = await relays.add_relay(beta.services, relay.actor)
    assert second.object_uri == relay.actor and second.inbox_uri == relay.inbox
    await settle(alpha, beta)

    assert relay.refused == []
    assert relay.subscribers == {
        "alpha.test": (alpha.services.uris.instance_actor, f"{alpha.base_url}/inbox"),
        "beta.test:8443": (beta.services.uris.instance_actor, f"{beta.base_url}/inbox"),
    }
    for inst in (alpha, beta):
        [row] = await relay_rows(inst)
        assert row.state is RelayState.ACCEPTED and row.actor_uri == relay.actor
        async with inst.sessionmaker() as session:
            back = await session.scalar(select(Follow).where(Follow.follower_uri == relay.actor))
        assert back is not None and back.state is FollowState.ACCEPTED
    # Our Accepts of the relay's follow-backs reached it.
    accepted = [s for _, s, status in relay.sent if s["type"] == "Follow" and status == 202]
    assert len(accepted) == 2

    # A public post of alpha's reaches beta through the relay, though nobody there
    # follows its author; a followers-only one never goes to the relay.
    news = await post(alpha, "news", Draft(text="Relayed news from alpha"))
    hidden = await post(
        alpha, "news", Draft(text="Only for followers", visibility=Visibility.PRIVATE)
    )
    await settle(alpha, beta)
    announces = [s for _, s, _ in relay.sent if s["type"] == "Announce"]
    assert [a["object"] for a in announces] == [news.uri]
    assert news.uri in await public_timeline(client, beta)
    async with beta.sessionmaker() as session:
        kept = await session.scalar(select(Status).where(Status.uri == news.uri))
        assert kept is not None and kept.reblog_of_id is None
        assert await session.scalar(select(Status).where(Status.uri == hidden.uri)) is None
        # The relay is no booster: no wrapper post of its Announce.
        assert await session.scalar(select(Status).where(Status.actor_uri == relay.actor)) is None

    # And the other way.
    answer = await post(beta, "kv", Draft(text="Greetings from beta"))
    await settle(alpha, beta)
    assert answer.uri in await public_timeline(client, alpha)

    # Unsubscribe: Undo goes out, the relay answers with Undo{our Undo}, which we accept.
    await relays.remove_relay(alpha.services, relay.inbox)
    await settle(alpha, beta)
    assert list(relay.subscribers) == ["beta.test:8443"]
    [(_inbox, undo, status)] = [
        (i, s, st)
        for i, s, st in relay.sent
        if s["type"] == "Undo" and i.startswith("http://alpha")
    ]
    assert status == 202, undo
    assert await relay_rows(alpha) == []
    async with alpha.sessionmaker() as session:
        assert (
            await session.scalar(select(Follow).where(Follow.follower_uri == relay.actor)) is None
        )
    later = await post(beta, "kv", Draft(text="After alpha left"))
    await settle(alpha, beta)
    assert later.uri not in await public_timeline(client, alpha)
    [row] = await relay_rows(beta)
    assert row.state is RelayState.ACCEPTED


async def test_cli_adds_lists_and_removes(
    start_instance: StartInstance, relay: RelayStandin, tmp_path: Path
) -> None:
    alpha = await start_instance("alpha")
    config = write_config(tmp_path / "verbund.toml", alpha)
    added = await cli("relay", "add", relay.inbox, "--config", str(config))
    assert added.returncode == 0, added.stderr
    assert "Follow of as:Public" in added.stdout
    listed = await cli("relay", "list", "--config", str(config))
    assert relay.inbox in listed.stdout and "pending" in listed.stdout
    gone = await cli("relay", "remove", "http://relay.test/other/inbox", "--config", str(config))
    assert gone.returncode == 1 and "error: no relay subscription" in gone.stderr
    bad = await cli("relay", "add", "ftp://relay.test/inbox", "--config", str(config))
    assert bad.returncode == 1 and "error: not an http(s) URL" in bad.stderr
    removed = await cli("relay", "remove", relay.inbox, "--config", str(config))
    assert removed.returncode == 0, removed.stderr
    assert "no relays" in (await cli("relay", "list", "--config", str(config))).stdout


def envelope(body: Mapping[str, object]) -> Envelope:
    return read_activity(json.dumps(body).encode())


def test_an_undo_may_name_our_own_activity_but_no_third_party_s() -> None:
    relay_actor = "http://relay.test/actor"
    ours = {
        "id": "http://alpha.test/actor#undo",
        "type": "Undo",
        "actor": "http://alpha.test/actor",
    }
    undo: dict[str, object] = {
        "id": "http://relay.test/a/1",
        "type": "Undo",
        "actor": relay_actor,
        "object": ours,
    }
    check_origins(envelope(undo), local_base="http://alpha.test")
    with pytest.raises(InboxError, match="origin"):
        check_origins(envelope(undo))  # without knowing our origin, as before
    third = dict(ours, id="http://elsewhere.test/undo/1", actor="http://elsewhere.test/u")
    with pytest.raises(InboxError, match="origin"):
        check_origins(envelope(undo | {"object": third}), local_base="http://alpha.test")
    # Other types keep the rule, whoever's origin the object is on.
    create = undo | {"type": "Create", "object": {"id": "http://alpha.test/notes/1"}}
    with pytest.raises(InboxError, match="origin"):
        check_origins(envelope(create), local_base="http://alpha.test")


async def test_the_instance_actor_ignores_follows_from_non_relays(
    start_instance: StartInstance, remote: FakeRemote, client: aiohttp.ClientSession
) -> None:
    alpha = await start_instance("alpha")
    bob = remote.add_person("bob")
    follow: dict[str, object] = {
        "id": f"{bob}/follows/1",
        "type": "Follow",
        "actor": bob,
        "object": alpha.services.uris.instance_actor,
    }
    assert await remote.post(client, f"{alpha.base_url}/inbox", follow) == 202
    await settle(alpha)
    async with alpha.sessionmaker() as session:
        assert await session.scalar(select(Follow).where(Follow.follower_uri == bob)) is None
    assert remote.posts_to("/inbox") == [] and remote.posts_to("/users/bob/inbox") == []
    # An Announce by an actor that is no relay of ours stores nothing.
    announce: dict[str, object] = {
        "id": f"{bob}/announces/1",
        "type": "Announce",
        "actor": bob,
        "to": [AS_PUBLIC],
        "object": f"{remote.base}/notes/1",
    }
    assert await remote.post(client, f"{alpha.base_url}/inbox", announce) == 202
    await settle(alpha)
    async with alpha.sessionmaker() as session:
        assert await session.scalar(select(Status.id)) is None


async def admin_token(inst: Instance, user: str, *, admin: bool, scopes: list[str]) -> str:
    now = inst.services.clock()
    async with inst.sessionmaker() as session:
        actor = await get_actor(session, "news")
        person = await accounts.create_user(
            session, username=user, password=PASSWORD, now=now, is_admin=admin
        )
        await accounts.grant_role(session, user=person, actor=actor, role=RoleName.OWNER, now=now)
        issued = await accounts.create_token(
            session, user=person, actor=actor, scopes=scopes, now=now
        )
        await session.commit()
    return issued.token


async def test_the_api_lets_administrators_only_manage_relays(
    start_instance: StartInstance, relay: RelayStandin, client: aiohttp.ClientSession
) -> None:
    alpha = await start_instance("alpha")
    await alpha.add_actor("news", ActorType.ORGANIZATION)
    api = Api(client, alpha)
    admin = await admin_token(alpha, "ada", admin=True, scopes=["admin:read", "admin:write"])
    owner = await admin_token(alpha, "otto", admin=False, scopes=["admin:read", "admin:write"])
    reader = await admin_token(alpha, "rita", admin=True, scopes=["read", "write"])
    path = "/api/verbund/v1/admin/relays"
    assert (await api.call("GET", path)).status == 401
    assert (await api.call("GET", path, owner)).status == 403  # no administrator
    assert (await api.call("GET", path, reader)).status == 403  # no admin scope
    added = await api.call("POST", path, admin, json={"url": relay.inbox})
    assert added.status == 202, added.body
    assert added.json["inbox"] == relay.inbox and added.json["state"] == "pending"
    refused = await api.call("POST", path, admin, json={"url": "not a url"})
    assert refused.status == 422 and "http(s)" in refused.json["error"]
    assert (await api.call("POST", path, owner, json={"url": relay.inbox})).status == 403
    await settle(alpha)
    [shown] = (await api.call("GET", path, admin)).items
    assert shown["state"] == "accepted" and shown["actor"] == relay.actor
    assert shown["follows"] == AS_PUBLIC
    missing = await api.call("DELETE", path, admin, json={"url": "http://relay.test/x/inbox"})
    assert missing.status == 404
    removed = await api.call("DELETE", path, admin, json={"url": relay.actor})
    assert removed.status == 200 and removed.json["inbox"] == relay.inbox
    assert (await api.call("GET", path, admin)).items == []


async def test_an_instance_serves_as_relay_for_its_subscribers(
    start_instance: StartInstance, client: aiohttp.ClientSession
) -> None:
    """alpha relays for beta and gamma (Mastodon-style subscriptions to its inbox, our own
    `relay add`); delta is not on the list and is refused."""
    alpha = await start_instance(
        "alpha", relay={"serve": True, "subscribers": ("beta.test:8443", "gamma.test")}
    )
    beta = await start_instance("beta", domain="beta.test:8443")
    gamma = await start_instance("gamma")
    delta = await start_instance("delta")
    for inst, name in ((beta, "kv"), (gamma, "ov"), (delta, "dv")):
        await inst.add_actor(name, ActorType.ORGANIZATION)
    for inst in (beta, gamma, delta):
        await relays.add_relay(inst.services, f"{alpha.base_url}/inbox")
    await settle(alpha, beta, gamma, delta)
    instance = alpha.services.uris.instance_actor
    for inst in (beta, gamma):
        [row] = await relay_rows(inst)
        assert row.state is RelayState.ACCEPTED and row.actor_uri == instance
    [refused] = await relay_rows(delta)
    assert refused.state is RelayState.REJECTED

    news = await post(beta, "kv", Draft(text="Über alpha weitergereicht"))
    await settle(alpha, beta, gamma, delta)
    assert news.uri in await public_timeline(client, gamma)
    assert news.uri not in await public_timeline(client, delta)
    async with alpha.sessionmaker() as session:
        relayed = list(
            await session.scalars(select(OutboxActivity).where(OutboxActivity.type == "Announce"))
        )
    assert [a.object_uri for a in relayed] == [news.uri]
    # A redelivery of the same Create is not relayed twice.
    await post_again(beta, news)
    await settle(alpha, beta, gamma, delta)
    async with alpha.sessionmaker() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(OutboxActivity)
            .where(OutboxActivity.type == "Announce")
        )
    assert count == 1
    # gamma leaves; beta's next post reaches nobody else.
    await relays.remove_relay(gamma.services, f"{alpha.base_url}/inbox")
    await settle(alpha, beta, gamma, delta)
    later = await post(beta, "kv", Draft(text="Nach gammas Abschied"))
    await settle(alpha, beta, gamma, delta)
    assert later.uri not in await public_timeline(client, gamma)


async def post_again(inst: Instance, status: Status) -> None:
    """Queue the post's Create once more to the relay inboxes (a peer's redelivery)."""
    async with inst.sessionmaker() as session:
        actor = await get_actor(session, "kv")
        [create] = await session.scalars(
            select(OutboxActivity).where(OutboxActivity.object_uri == status.uri)
        )
        await enqueue(
            session,
            actor=actor,
            activity={**json.loads(create.body), "id": create.uri + "#again"},
            inboxes=await relay_inboxes(session),
            now=inst.services.clock(),
            policy=inst.services.policy,
        )
        await session.commit()
