"""Follows between three complete instances over real HTTP."""

from __future__ import annotations

import aiohttp
import pytest
from sqlalchemy import select

from actors.models import ActorType, Follow, FollowState
from server import actions
from tests.conftest import Instance, StartInstance
from tests.helpers import settle

AP = "application/activity+json"


@pytest.fixture
async def net(start_instance: StartInstance) -> tuple[Instance, Instance, Instance]:
    alpha = await start_instance("alpha")
    # A domain with a port, as every development instance has: handles carry it.
    beta = await start_instance("beta", domain="beta.test:8443")
    gamma = await start_instance("gamma")
    await alpha.add_actor("news", display_name="Alpha News")
    await alpha.add_actor("kv", display_name="Kreisverband", manually_approves=True)
    await beta.add_actor("erika", ActorType.PERSON)
    await gamma.add_actor("max", ActorType.PERSON)
    return alpha, beta, gamma


async def follow_state(inst: Instance, follower: str, followed: str) -> str | None:
    async with inst.sessionmaker() as session:
        row = await session.scalar(
            select(Follow).where(Follow.follower_uri == follower, Follow.followed_uri == followed)
        )
    return row.state if row else None


async def collection_items(client: aiohttp.ClientSession, url: str) -> tuple[int, list[str]]:
    async with client.get(url, headers={"Accept": AP}) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith(AP)
        head = await resp.json(content_type=None)
    assert head["type"] == "OrderedCollection"
    if "first" not in head:
        return head["totalItems"], []
    async with client.get(head["first"], headers={"Accept": AP}) as resp:
        page = await resp.json(content_type=None)
    assert page["type"] == "OrderedCollectionPage" and page["partOf"] == url
    return head["totalItems"], page["orderedItems"]


async def test_follow_accept_undo_between_instances(
    net: tuple[Instance, Instance, Instance], client: aiohttp.ClientSession
) -> None:
    alpha, beta, _ = net
    news, erika = alpha.actor_uri("news"), beta.actor_uri("erika")
    await actions.follow(beta.services, "erika", "news@alpha.test")
    assert await follow_state(beta, erika, news) == FollowState.PENDING
    await settle(alpha, beta)
    assert await follow_state(alpha, erika, news) == FollowState.ACCEPTED
    assert await follow_state(beta, erika, news) == FollowState.ACCEPTED
    assert await collection_items(client, news + "/followers") == (1, [erika])
    assert await collection_items(client, erika + "/following") == (1, [news])
    assert await actions.relations(beta.services, "erika", followers=False) == ["news@alpha.test"]

    await actions.unfollow(beta.services, "erika", "news@alpha.test")
    await settle(alpha, beta)
    assert await follow_state(alpha, erika, news) is None
    assert await collection_items(client, news + "/followers") == (0, [])
    # Following again works (a new Follow id each time).
    await actions.follow(beta.services, "erika", "news@alpha.test")
    await settle(alpha, beta)
    assert await follow_state(alpha, erika, news) == FollowState.ACCEPTED


async def test_locked_actor_keeps_requests_until_staff_decide(
    net: tuple[Instance, Instance, Instance], client: aiohttp.ClientSession
) -> None:
    alpha, beta, gamma = net
    kv, erika, max_ = alpha.actor_uri("kv"), beta.actor_uri("erika"), gamma.actor_uri("max")
    await actions.follow(
        beta.services, "erika", "kv@alpha.test", message="Hallo, ich möchte mitmachen"
    )
    await actions.follow(gamma.services, "max", "kv@alpha.test")
    await settle(alpha, beta, gamma)
    requests = await actions.list_requests(alpha.services, "kv")
    assert [(r.handle, r.message) for r in requests] == [
        ("erika@beta.test:8443", "Hallo, ich möchte mitmachen"),
        ("max@gamma.test", ""),
    ]
    assert await follow_state(beta, erika, kv) == FollowState.PENDING
    assert await collection_items(client, kv + "/followers") == (0, [])

    # Much later (nothing expires), staff approve one by handle and decline the other by number.
    assert (
        await actions.decide_request(alpha.services, "kv", "erika@beta.test:8443", approve=True)
        == "erika@beta.test:8443"
    )
    await actions.decide_request(alpha.services, "kv", str(requests[1].id), approve=False)
    await settle(alpha, beta, gamma)
    assert await follow_state(beta, erika, kv) == FollowState.ACCEPTED
    assert await follow_state(gamma, max_, kv) is None
    assert await follow_state(alpha, max_, kv) is None
    assert await collection_items(client, kv + "/followers") == (1, [erika])
    assert await actions.list_requests(alpha.services, "kv") == []
    with pytest.raises(actions.ActionError, match="already approved"):
        await actions.decide_request(alpha.services, "kv", "erika@beta.test:8443", approve=True)


async def test_reject_after_acceptance_removes_the_follower(
    net: tuple[Instance, Instance, Instance],
) -> None:
    alpha, beta, _ = net
    news, erika = alpha.actor_uri("news"), beta.actor_uri("erika")
    await actions.follow(beta.services, "erika", "news@alpha.test")
    await settle(alpha, beta)
    assert await follow_state(beta, erika, news) == FollowState.ACCEPTED
    await actions.remove_follower(alpha.services, "news", "erika@beta.test:8443")
    await settle(alpha, beta)
    assert await follow_state(alpha, erika, news) is None
    assert await follow_state(beta, erika, news) is None


async def test_hidden_collections_show_counts_only(
    net: tuple[Instance, Instance, Instance], client: aiohttp.ClientSession
) -> None:
    alpha, beta, _ = net
    await actions.follow(beta.services, "erika", "news@alpha.test")
    await settle(alpha, beta)
    await actions.set_hide_collections(alpha.services, "news", hidden=True)
    total, items = await collection_items(client, alpha.actor_uri("news") + "/followers")
    assert (total, items) == (1, [])
    async with client.get(
        alpha.actor_uri("news") + "/followers?page=1", headers={"Accept": AP}
    ) as resp:
        doc = await resp.json(content_type=None)
    assert "orderedItems" not in doc and doc["totalItems"] == 1


async def test_blocked_domain_gets_403_and_nothing_stored(
    start_instance: StartInstance, client: aiohttp.ClientSession
) -> None:
    alpha = await start_instance("alpha", blocked_domains=("gamma.test",))
    gamma = await start_instance("gamma")
    await alpha.add_actor("news")
    await gamma.add_actor("max", ActorType.PERSON)
    await actions.follow(gamma.services, "max", "news@alpha.test")
    await settle(alpha, gamma)
    assert await follow_state(alpha, gamma.actor_uri("max"), alpha.actor_uri("news")) is None
    assert (
        await follow_state(gamma, gamma.actor_uri("max"), alpha.actor_uri("news"))
        == FollowState.PENDING
    )
    from outbox.models import Delivery

    async with gamma.sessionmaker() as session:
        delivery = await session.scalar(select(Delivery))
    assert delivery is not None and delivery.last_status == 403 and delivery.state == "dead"
