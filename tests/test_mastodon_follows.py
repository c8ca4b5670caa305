"""Follow, Accept, Reject, Undo and Block exactly as Mastodon sends and expects them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.contacts import add_block
from actors.models import (
    Block,
    ContactBox,
    ContactRequest,
    ContactState,
    Follow,
    FollowState,
)
from inbox.context import HandlerContext, Incoming
from inbox.handlers import HANDLERS
from inbox.models import InboxActivity
from outbox.publish import follower_inboxes
from server import actions
from tests.conftest import Instance, LoopbackResolver, StartInstance
from tests.fakes import FakeRemote, shared_key
from tests.helpers import settle
from tests.test_follows import follow_state

FIXTURES = json.loads((Path(__file__).parent / "fixtures/mastodon/activities.json").read_text())


def shape(name: str, **values: str) -> dict[str, object]:
    text = json.dumps(FIXTURES[name])
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    doc: dict[str, object] = json.loads(text)
    return doc


@pytest.fixture
async def mastodon(resolver: LoopbackResolver) -> AsyncIterator[FakeRemote]:
    fake = FakeRemote("mastodon.example", shared_key())
    fake.add_person("bob")
    fake.add_person("carol", locked=True)
    await fake.start(resolver)
    yield fake
    await fake.stop()


@pytest.fixture
async def alpha(start_instance: StartInstance) -> Instance:
    inst = await start_instance("alpha")
    await inst.add_actor("news")
    await inst.add_actor("kv", manually_approves=True)
    return inst


async def test_mastodon_follow_gets_accept_shaped_as_mastodon_expects(
    alpha: Instance, mastodon: FakeRemote, client: aiohttp.ClientSession
) -> None:
    bob, news = f"{mastodon.base}/users/bob", alpha.actor_uri("news")
    values = {"remote": bob, "remote_base": mastodon.base, "local": news}
    follow = shape("follow", **values)
    assert await mastodon.post(client, alpha.base_url + "/inbox", follow) == 202
    await settle(alpha)
    assert await follow_state(alpha, bob, news) == FollowState.ACCEPTED
    # The Accept went to bob's personal inbox (never the shared one), signed by news.
    accepts = mastodon.posts_to("/users/bob/inbox")
    assert mastodon.posts_to("/inbox") == []
    assert len(accepts) == 1
    accept = accepts[0]
    assert accept["type"] == "Accept" and accept["actor"] == news
    assert isinstance(accept["object"], dict)
    assert {k: v for k, v in follow.items() if k != "@context"} == accept["object"]
    assert isinstance(accept["id"], str) and accept["id"].startswith(news)
    headers = next(h for p, h, _ in mastodon.received if p == "/users/bob/inbox")
    assert f'keyId="{news}#main-key"' in headers["Signature"]
    assert headers["Digest"].startswith("SHA-256=")
    assert "digest" in headers["Signature"]

    # A repeated Follow with a new id while accepted: re-Accept, naming the new id.
    again = shape("follow_again", **values)
    assert await mastodon.post(client, alpha.base_url + "/users/news/inbox", again) == 202
    await settle(alpha)
    accepts = mastodon.posts_to("/users/bob/inbox")
    assert len(accepts) == 2
    second = accepts[1]["object"]
    assert isinstance(second, dict) and second["id"] == again["id"]

    # Undo with a bare object id (the newest Follow id) removes the follower.
    assert (
        await mastodon.post(client, alpha.base_url + "/inbox", shape("undo_follow_bare", **values))
        == 202
    )
    await settle(alpha)
    assert await follow_state(alpha, bob, news) is None


async def test_mastodon_undo_with_embedded_follow(
    alpha: Instance, mastodon: FakeRemote, client: aiohttp.ClientSession
) -> None:
    bob, news = f"{mastodon.base}/users/bob", alpha.actor_uri("news")
    values = {"remote": bob, "remote_base": mastodon.base, "local": news}
    assert await mastodon.post(client, alpha.base_url + "/inbox", shape("follow", **values)) == 202
    await settle(alpha)
    assert await follow_state(alpha, bob, news) == FollowState.ACCEPTED
    # An Undo by someone else is ignored: only the Follow's actor may undo it.
    carol = f"{mastodon.base}/users/carol"
    forged = shape("undo_follow_embedded", **values)
    forged["actor"], forged["id"] = carol, carol + "#follows/1/undo"
    assert await mastodon.post(client, alpha.base_url + "/inbox", forged) in (202, 400)
    await settle(alpha)
    assert await follow_state(alpha, bob, news) == FollowState.ACCEPTED
    assert (
        await mastodon.post(
            client, alpha.base_url + "/inbox", shape("undo_follow_embedded", **values)
        )
        == 202
    )
    await settle(alpha)
    assert await follow_state(alpha, bob, news) is None


async def test_mastodon_block_stops_delivery(
    alpha: Instance, mastodon: FakeRemote, client: aiohttp.ClientSession
) -> None:
    bob, news = f"{mastodon.base}/users/bob", alpha.actor_uri("news")
    values = {"remote": bob, "remote_base": mastodon.base, "local": news}
    assert await mastodon.post(client, alpha.base_url + "/inbox", shape("follow", **values)) == 202
    await settle(alpha)
    async with alpha.sessionmaker() as session:
        assert await follower_inboxes(session, news) == {f"{mastodon.base}/inbox"}
    assert await mastodon.post(client, alpha.base_url + "/inbox", shape("block", **values)) == 202
    await settle(alpha)
    async with alpha.sessionmaker() as session:
        assert await follower_inboxes(session, news) == set()
        block = await session.scalar(select(Block))
    assert block is not None and block.blocker_uri == bob and block.blocked_uri == news
    assert await follow_state(alpha, bob, news) is None


async def test_locked_actor_queues_mastodon_follow_and_accepts_late(
    alpha: Instance, mastodon: FakeRemote, client: aiohttp.ClientSession
) -> None:
    bob, kv = f"{mastodon.base}/users/bob", alpha.actor_uri("kv")
    values = {"remote": bob, "remote_base": mastodon.base, "local": kv}
    follow = shape("follow", **values)
    assert await mastodon.post(client, alpha.base_url + "/inbox", follow) == 202
    await settle(alpha)
    assert await follow_state(alpha, bob, kv) == FollowState.PENDING
    assert mastodon.posts_to("/users/bob/inbox") == []
    await actions.decide_request(alpha.services, "kv", "bob@mastodon.example", approve=True)
    await settle(alpha)
    [accept] = mastodon.posts_to("/users/bob/inbox")
    assert accept["type"] == "Accept" and accept["actor"] == kv
    assert accept["object"] == {k: v for k, v in follow.items() if k != "@context"}


async def test_our_follow_accepted_then_rejected_by_mastodon(
    alpha: Instance, mastodon: FakeRemote, client: aiohttp.ClientSession
) -> None:
    carol, news = f"{mastodon.base}/users/carol", alpha.actor_uri("news")
    await actions.follow(alpha.services, "news", carol)
    await settle(alpha)
    [sent] = mastodon.posts_to(
        "/users/carol/inbox"
    )  # carol has a shared inbox, but Follow is personal
    assert sent["type"] == "Follow" and sent["actor"] == news and sent["object"] == carol
    assert isinstance(sent["id"], str)
    values = {"remote": carol, "remote_base": mastodon.base, "local": news, "follow_id": sent["id"]}
    assert await follow_state(alpha, news, carol) == FollowState.PENDING
    assert (
        await mastodon.post(
            client, alpha.base_url + "/users/news/inbox", shape("accept_embedded", **values)
        )
        == 202
    )
    await settle(alpha)
    assert await follow_state(alpha, news, carol) == FollowState.ACCEPTED
    assert (
        await mastodon.post(
            client, alpha.base_url + "/users/news/inbox", shape("reject_embedded", **values)
        )
        == 202
    )
    await settle(alpha)
    assert await follow_state(alpha, news, carol) is None


async def test_a_run_of_follows_decides_each_as_on_its_own(
    alpha: Instance,
    mastodon: FakeRemote,
    client: aiohttp.ClientSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Follows that arrive together are handled as one run (`inbox.relations.on_follows`):
    each is decided as `on_follow` decides it alone, in arrival order, and each accepted
    one gets its own Accept at its sender's personal inbox."""
    runs: list[int] = []
    spec = HANDLERS["Follow"]
    assert spec.batch is not None
    batch = spec.batch

    async def counted(ctx: HandlerContext, session: AsyncSession, acts: Sequence[Incoming]) -> None:
        runs.append(len(acts))
        await batch(ctx, session, acts)

    monkeypatch.setitem(HANDLERS, "Follow", replace(spec, batch=counted))
    for name in ("dave", "eve", "frank"):
        mastodon.add_person(name)
    bob, carol, dave, eve, frank = (
        f"{mastodon.base}/users/{n}" for n in ("bob", "carol", "dave", "eve", "frank")
    )
    news, kv = alpha.actor_uri("news"), alpha.actor_uri("kv")
    now = datetime.now(UTC)
    async with alpha.sessionmaker() as session:
        await add_block(session, blocker_uri=news, blocked_uri=carol, now=now)
        session.add(  # dave had blocked news: following again lifts it
            Block(blocker_uri=dave, blocked_uri=news, activity_uri=f"{dave}#b", created_at=now)
        )
        session.add(  # eve follows kv already (accepted): a new Follow is accepted again
            Follow(
                follower_uri=eve,
                followed_uri=kv,
                activity_uri=f"{eve}#old",
                state=FollowState.ACCEPTED,
                message="",
                created_at=now,
                updated_at=now,
            )
        )
        session.add(  # eve's pending request to news is settled by her accepted Follow
            ContactRequest(
                box=ContactBox.RECEIVED,
                sender_uri=eve,
                recipient_uri=news,
                follow_uri=f"{eve}#request",
                message="Hallo",
                state=ContactState.PENDING,
                created_at=now,
                updated_at=now,
            )
        )
        await session.commit()

    def follow(sender: str, target: str, n: int, **extra: object) -> dict[str, object]:
        return {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{sender}#follows/{n}",
            "type": "Follow",
            "actor": sender,
            "object": target,
            **extra,
        }

    run = [
        follow(bob, news, 1),
        follow(bob, alpha.actor_uri("NEWS"), 2),  # the same pair again: the newest id counts
        follow(carol, kv, 3),  # locked: pending
        follow(carol, news, 4),  # news blocked carol: dropped
        follow(dave, news, 5),
        follow(bob, kv, 6, content="Hallo, ich möchte mitmachen"),  # a contact request
        follow(eve, kv, 7),
        follow(eve, news, 8),
        follow(frank, alpha.actor_uri("nobody"), 9),  # no such actor
        follow(frank, alpha.base_url + "/actor", 10),  # the instance actor
    ]
    for activity in run:
        assert await mastodon.post(client, alpha.base_url + "/inbox", activity) == 202
    await settle(alpha)
    assert runs == [len(run)]
    async with alpha.sessionmaker() as session:  # handled as a run, not one by one after
        assert await session.scalar(select(func.count()).where(InboxActivity.attempts > 0)) == 0
        relations = {
            (row.follower_uri, row.followed_uri): (row.state, row.activity_uri, row.message)
            for row in await session.scalars(select(Follow).where(Follow.follower_uri != news))
        }
        blocks = list(await session.scalars(select(Block.blocker_uri)))
        requests = {
            (r.sender_uri, r.recipient_uri): r.state
            for r in await session.scalars(select(ContactRequest))
        }
    ours = {k: v for k, v in relations.items() if k[0].startswith(mastodon.base)}
    assert ours == {
        (bob, news): (FollowState.ACCEPTED, f"{bob}#follows/2", ""),
        (carol, kv): (FollowState.PENDING, f"{carol}#follows/3", ""),
        (dave, news): (FollowState.ACCEPTED, f"{dave}#follows/5", ""),
        (bob, kv): (FollowState.PENDING, f"{bob}#follows/6", "Hallo, ich möchte mitmachen"),
        (eve, kv): (FollowState.ACCEPTED, f"{eve}#follows/7", ""),
        (eve, news): (FollowState.ACCEPTED, f"{eve}#follows/8", ""),
    }
    assert blocks == []
    assert requests == {(eve, news): ContactState.ACCEPTED, (bob, kv): ContactState.PENDING}
    accepted = {
        name: [(a["actor"], a["object"]["id"]) for a in mastodon.posts_to(f"/users/{name}/inbox")]  # type: ignore[index]
        for name in ("bob", "carol", "dave", "eve", "frank")
    }
    assert mastodon.posts_to("/inbox") == []
    assert {name: sorted(a) for name, a in accepted.items()} == {
        "bob": [(news, f"{bob}#follows/1"), (news, f"{bob}#follows/2")],
        "carol": [],
        "dave": [(news, f"{dave}#follows/5")],
        "eve": sorted([(kv, f"{eve}#follows/7"), (news, f"{eve}#follows/8")]),
        "frank": [],
    }
    accept = mastodon.posts_to("/users/dave/inbox")[0]
    assert accept["type"] == "Accept" and accept["to"] == [dave]
    assert accept["object"] == {k: v for k, v in run[4].items() if k != "@context"}
