"""Nothing is fetched from or sent to a blocked domain, by any path (issue 11, point 2).

alpha blocks `blocked.example`, a fake remote that records every request it gets;
`good.example` is an ordinary peer. Each path that could reach the blocked domain is
driven over real loopback HTTP: following by handle and by URL (the CLI's actions and
the client API), mentioning, resolving a key, fetching a boosted post, delivering to a
follower whose domain was blocked after it followed, and an activity POSTed by the
blocked domain's actor. The blocked fake must see no request at all, and nothing
towards it may be stored or queued.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from sqlalchemy import func, select

from actors.local import get_actor
from actors.models import Follow, FollowState, RemoteActor, RemoteKey
from federation.signatures import SignatureError, SignatureReason
from inbox.models import InboxActivity
from outbox.follows import FollowError, send_follow
from outbox.models import Delivery, Status
from server import actions
from tests.conftest import Instance, LoopbackResolver, StartInstance
from tests.fakes import FakeRemote, shared_key
from tests.helpers import settle
from tests.server.test_api import Api, make_people

BLOCKED = "blocked.example"


class RecordingDocs(dict[str, object]):
    """FakeRemote's documents, noting every path looked up (one per GET it serves)."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str] = []

    def get(self, key: str, default: object = None) -> object:
        self.asked.append(key)
        return super().get(key, default)


@dataclass
class World:
    alpha: Instance
    blocked: FakeRemote
    good: FakeRemote
    docs: RecordingDocs
    api: Api
    token: str  # anna, owner of kv

    @property
    def spam(self) -> str:
        return f"{self.blocked.base}/users/spam"

    def blocked_saw_nothing(self) -> None:
        assert self.docs.asked == [], "a GET reached the blocked domain"
        assert self.blocked.received == [], "a POST reached the blocked domain"


@pytest.fixture
async def world(
    start_instance: StartInstance, resolver: LoopbackResolver, client: aiohttp.ClientSession
) -> AsyncIterator[World]:
    docs = RecordingDocs()
    blocked = FakeRemote(BLOCKED, shared_key(), docs=docs)
    blocked.add_person("spam")
    docs["/notes/1"] = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{blocked.base}/notes/1",
        "type": "Note",
        "attributedTo": f"{blocked.base}/users/spam",
        "content": "<p>spam</p>",
        "to": ["https://www.w3.org/ns/activitystreams#Public"],
    }
    good = FakeRemote("good.example", shared_key())
    good.add_person("bob")
    await blocked.start(resolver)
    await good.start(resolver)
    alpha = await start_instance("alpha", blocked_domains=(BLOCKED,))
    await alpha.add_actor("kv", display_name="Kreisverband")
    await alpha.add_actor("ov")
    tokens = await make_people(alpha)
    yield World(alpha, blocked, good, docs, Api(client, alpha), tokens["anna"])
    await good.stop()
    await blocked.stop()


async def count(inst: Instance, model: type[object]) -> int:
    async with inst.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def store_spam(world: World, *, follows_kv: bool = False) -> None:
    """spam as alpha knew it before its domain was blocked (and, maybe, following kv)."""
    async with world.alpha.sessionmaker() as session:
        now = world.alpha.services.clock()
        session.add(
            RemoteActor(
                uri=world.spam,
                type="Person",
                username="spam",
                domain=BLOCKED,
                inbox_uri=f"{world.spam}/inbox",
                shared_inbox_uri=f"{world.blocked.base}/inbox",
                outbox_uri=None,
                followers_uri=None,
                following_uri=None,
                display_name="Spam",
                summary="",
                url=None,
                icon_url=None,
                manually_approves=False,
                discoverable=True,
                fetched_at=now,
            )
        )
        if follows_kv:
            session.add(
                Follow(
                    follower_uri=world.spam,
                    followed_uri=world.alpha.actor_uri("kv"),
                    activity_uri=f"{world.spam}/follows/1",
                    state=FollowState.ACCEPTED.value,
                    message="",
                    created_at=now,
                    updated_at=now,
                )
            )
        await session.commit()


async def test_following_on_a_blocked_domain_fails_early_and_sends_nothing(world: World) -> None:
    svc = world.alpha.services
    for handle in (f"spam@{BLOCKED}", f"spam@sub.{BLOCKED}", world.spam):
        with pytest.raises(actions.ActionError, match="blocked"):
            await actions.follow(svc, "kv", handle)
    # An actor stored before the block is not followed either.
    await store_spam(world)
    with pytest.raises(actions.ActionError, match="blocked"):
        await actions.follow(svc, "kv", world.spam)
    # Nor through the client API (a known account, looked up and followed).
    found = await world.api.call("GET", f"/api/v1/accounts/lookup?acct=spam@{BLOCKED}")
    assert found.status == 200, found.body
    reply = await world.api.call("POST", f"/api/v1/accounts/{found.json['id']}/follow", world.token)
    assert reply.status != 200
    await settle(world.alpha)
    assert await count(world.alpha, Follow) == 0
    assert await count(world.alpha, Delivery) == 0
    world.blocked_saw_nothing()


async def test_mentioning_a_blocked_handle_asks_nothing(world: World) -> None:
    reply = await world.api.call(
        "POST", "/api/v1/statuses", world.token, data={"status": f"Hallo @spam@{BLOCKED}"}
    )
    assert reply.status == 200, reply.body
    await settle(world.alpha)
    assert await count(world.alpha, Delivery) == 0
    world.blocked_saw_nothing()


async def test_a_key_on_a_blocked_domain_is_not_resolved(world: World) -> None:
    directory = world.alpha.services.directory
    key_id = f"{world.spam}#main-key"
    for refresh in (False, True):
        with pytest.raises(SignatureError) as caught:
            await directory.resolve_key(key_id, refresh=refresh)
        assert caught.value.reason is SignatureReason.KEY_UNAVAILABLE
    # Not from the database either, where it may sit from before the block.
    await store_spam(world)
    async with world.alpha.sessionmaker() as session:
        session.add(
            RemoteKey(
                key_uri=key_id,
                owner_uri=world.spam,
                public_key_pem="unused",
                fetched_at=world.alpha.services.clock(),
            )
        )
        await session.commit()
    with pytest.raises(SignatureError):
        await directory.resolve_key(key_id, refresh=False)
    world.blocked_saw_nothing()


async def test_activity_from_a_blocked_domain_is_refused_unread(
    world: World, client: aiohttp.ClientSession
) -> None:
    follow: dict[str, object] = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{world.spam}/follows/2",
        "type": "Follow",
        "actor": world.spam,
        "object": world.alpha.actor_uri("ov"),
    }
    for inbox in ("/inbox", "/users/ov/inbox"):
        assert await world.blocked.post(client, world.alpha.base_url + inbox, follow) == 403
    await settle(world.alpha)
    assert await count(world.alpha, InboxActivity) == 0
    assert await count(world.alpha, Follow) == 0
    assert await count(world.alpha, RemoteActor) == 0
    world.blocked_saw_nothing()


async def test_boost_of_a_post_on_a_blocked_domain_is_not_fetched(
    world: World, client: aiohttp.ClientSession
) -> None:
    bob = f"{world.good.base}/users/bob"
    await actions.follow(world.alpha.services, "ov", bob)
    async with world.alpha.sessionmaker() as session:
        row = await session.scalar(select(Follow).where(Follow.followed_uri == bob))
        assert row is not None
        row.state = FollowState.ACCEPTED
        await session.commit()
    announce: dict[str, object] = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{bob}/statuses/9/activity",
        "type": "Announce",
        "actor": bob,
        "object": f"{world.blocked.base}/notes/1",
        "to": ["https://www.w3.org/ns/activitystreams#Public"],
        "cc": [f"{bob}/followers"],
    }
    assert await world.good.post(client, world.alpha.base_url + "/inbox", announce) == 202
    await settle(world.alpha)
    async with world.alpha.sessionmaker() as session:
        statuses = list(await session.scalars(select(Status.uri)))
    assert f"{world.blocked.base}/notes/1" not in statuses
    world.blocked_saw_nothing()


async def test_follower_on_a_domain_blocked_later_gets_no_delivery(world: World) -> None:
    await store_spam(world, follows_kv=True)
    reply = await world.api.call(
        "POST", "/api/v1/statuses", world.token, data={"status": "Sitzung am Donnerstag"}
    )
    assert reply.status == 200, reply.body
    await settle(world.alpha)
    async with world.alpha.sessionmaker() as session:
        inboxes = list(await session.scalars(select(Delivery.inbox_uri)))
    assert not [i for i in inboxes if BLOCKED in i]
    world.blocked_saw_nothing()


async def test_send_follow_refuses_a_target_on_a_blocked_domain(world: World) -> None:
    """The outbox refuses too, whoever hands it a stored actor of a blocked domain."""
    await store_spam(world)
    policy = world.alpha.services.directory.policy
    async with world.alpha.sessionmaker() as session:
        target = await session.scalar(select(RemoteActor).where(RemoteActor.uri == world.spam))
        assert target is not None
        actor = await get_actor(session, "kv")
        with pytest.raises(FollowError, match="blocked"):
            await send_follow(
                session,
                actor=actor,
                actor_uri=world.alpha.actor_uri("kv"),
                target=target,
                now=world.alpha.services.clock(),
                policy=policy,
            )
        await session.commit()
    assert await count(world.alpha, Follow) == 0
    assert await count(world.alpha, Delivery) == 0
    world.blocked_saw_nothing()
