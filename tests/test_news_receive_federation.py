"""News published on one instance, received on others, over real HTTP.

alpha's `news` publishes with `outbox.posts` (the real publisher); beta's erika
follows it, beta's otto does not; gamma's max follows nobody there but gets
mentioned. What each home timeline shows is read with `outbox.timelines`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pytest
from sqlalchemy import select

from actors.models import Actor, ActorType, FollowState
from actors.uris import LocalUris
from outbox import content, posts
from outbox.context import PublishContext
from outbox.models import Status, Visibility
from outbox.timelines import Page, home_timeline, public_timeline
from server import actions, keys
from tests.conftest import Instance, StartInstance
from tests.helpers import settle
from tests.test_follows import follow_state


@dataclass
class Net:
    alpha: Instance
    beta: Instance
    gamma: Instance

    async def settle(self) -> None:
        await settle(self.alpha, self.beta, self.gamma)


@pytest.fixture
async def net(start_instance: StartInstance) -> Net:
    alpha = await start_instance("alpha")
    beta = await start_instance("beta")
    gamma = await start_instance("gamma")
    await alpha.add_actor("news", display_name="Alpha News")
    await beta.add_actor("erika", ActorType.PERSON)
    await beta.add_actor("otto", ActorType.PERSON)
    await gamma.add_actor("max", ActorType.PERSON)
    world = Net(alpha, beta, gamma)
    await actions.follow(beta.services, "erika", "news@alpha.test")
    await world.settle()
    assert (
        await follow_state(beta, beta.actor_uri("erika"), alpha.actor_uri("news"))
        == FollowState.ACCEPTED
    )
    return world


def now(inst: Instance) -> datetime:
    return inst.app[keys.CLOCK]()


async def publish(inst: Instance, name: str, draft: posts.Draft) -> Status:
    """Publish as the CLI does: resolve mentions first, then write in one transaction."""
    mentions = await content.prepare_mentions(
        inst.services.directory,
        draft.text,
        local_base_url=inst.base_url,
        webfinger_scheme=inst.services.webfinger_scheme,
    )
    async with inst.sessionmaker() as session:
        actor = await session.scalar(select(Actor).where(Actor.username_key == name))
        assert actor is not None
        status = await posts.publish(
            session,
            PublishContext(uris=LocalUris(inst.base_url), clock=lambda: now(inst)),
            actor=actor,
            draft=draft,
            mentions=mentions,
        )
        await session.commit()
    return status


async def edit(inst: Instance, name: str, uri: str, draft: posts.Draft) -> None:
    async with inst.sessionmaker() as session:
        actor = await session.scalar(select(Actor).where(Actor.username_key == name))
        status = await session.scalar(select(Status).where(Status.uri == uri))
        assert actor is not None and status is not None
        await posts.edit(
            session,
            PublishContext(uris=LocalUris(inst.base_url), clock=lambda: now(inst)),
            status=status,
            actor=actor,
            draft=draft,
            mentions={},
        )
        await session.commit()


async def remove(inst: Instance, name: str, uri: str) -> None:
    async with inst.sessionmaker() as session:
        actor = await session.scalar(select(Actor).where(Actor.username_key == name))
        status = await session.scalar(select(Status).where(Status.uri == uri))
        assert actor is not None and status is not None
        await posts.delete(
            session,
            PublishContext(uris=LocalUris(inst.base_url), clock=lambda: now(inst)),
            status=status,
            actor=actor,
        )
        await session.commit()


async def boost(inst: Instance, name: str, uri: str) -> Status:
    async with inst.sessionmaker() as session:
        actor = await session.scalar(select(Actor).where(Actor.username_key == name))
        target = await session.scalar(select(Status).where(Status.uri == uri))
        assert actor is not None and target is not None
        wrapper = await posts.boost(
            session,
            PublishContext(uris=LocalUris(inst.base_url), clock=lambda: now(inst)),
            actor=actor,
            target=target,
        )
        await session.commit()
    return wrapper


async def home(inst: Instance, name: str) -> list[Status]:
    async with inst.sessionmaker() as session:
        actor_id = await session.scalar(select(Actor.id).where(Actor.username_key == name))
        assert actor_id is not None
        return await home_timeline(session, actor_id, Page(limit=40))


async def find(inst: Instance, uri: str) -> Status | None:
    async with inst.sessionmaker() as session:
        return await session.scalar(select(Status).where(Status.uri == uri))


async def test_published_post_reaches_followers_home_timeline_and_edits_and_deletes_follow(
    net: Net,
) -> None:
    post = await publish(
        net.alpha, "news", posts.Draft(text="Neue Satzung beschlossen #verein", language="de")
    )
    await net.settle()
    [received] = await home(net.beta, "erika")
    assert received.uri == post.uri  # the ActivityPub id, as /api/v1/timelines/public shows
    assert received.local_actor_id is None and received.actor_uri == net.alpha.actor_uri("news")
    assert "Neue Satzung beschlossen" in received.content and received.language == "de"
    assert received.visibility == Visibility.PUBLIC and received.url == post.url
    assert received.published_at == post.published_at.replace(microsecond=0)
    async with net.beta.sessionmaker() as session:
        assert [s.uri for s in await public_timeline(session, Page(), remote=True)] == [post.uri]
    assert await home(net.beta, "otto") == []
    assert await find(net.gamma, post.uri) is None  # nobody there follows news

    await edit(net.alpha, "news", post.uri, posts.Draft(text="Korrigiert: neue Satzung"))
    await net.settle()
    edited = await find(net.beta, post.uri)
    assert edited is not None and "Korrigiert" in edited.content
    assert edited.edited_at is not None and edited.edited_at > edited.published_at
    assert edited.id == received.id

    await remove(net.alpha, "news", post.uri)
    await net.settle()
    gone = await find(net.beta, post.uri)
    assert gone is not None and gone.deleted_at is not None
    assert await home(net.beta, "erika") == []


async def test_article_arrives_with_title_and_summary(net: Net) -> None:
    post = await publish(
        net.alpha,
        "news",
        posts.Draft(
            text="## Rückblick\n\nEin langes Jahr.", title="Jahresbericht", summary="Kurz gesagt"
        ),
    )
    await net.settle()
    received = await find(net.beta, post.uri)
    assert received is not None and received.type == "Article"
    assert received.name == "Jahresbericht" and received.summary == "Kurz gesagt"
    assert received.url == post.url


async def test_followers_only_and_direct_posts_reach_only_their_audience(net: Net) -> None:
    private = await publish(
        net.alpha, "news", posts.Draft(text="Nur für Mitglieder", visibility=Visibility.PRIVATE)
    )
    direct = await publish(
        net.alpha,
        "news",
        posts.Draft(text="@max@gamma.test Einladung", visibility=Visibility.DIRECT),
    )
    await net.settle()

    received = await find(net.beta, private.uri)
    assert received is not None and received.visibility == Visibility.PRIVATE
    assert [s.uri for s in await home(net.beta, "erika")] == [private.uri]
    assert await home(net.beta, "otto") == []
    assert await find(net.gamma, private.uri) is None
    async with net.beta.sessionmaker() as session:
        assert await public_timeline(session, Page()) == []

    assert await find(net.beta, direct.uri) is None  # erika follows news, but is not addressed
    dm = await find(net.gamma, direct.uri)
    assert dm is not None and dm.visibility == Visibility.DIRECT
    assert [s.uri for s in await home(net.gamma, "max")] == [direct.uri]


async def test_boost_of_a_post_from_a_third_instance_is_fetched_and_shown(net: Net) -> None:
    """news follows max; max posts; news boosts it; erika (following news) sees the boost,
    beta fetching max's post from gamma; gamma counts the boost of its post."""
    await actions.follow(net.alpha.services, "news", "max@gamma.test")
    await net.settle()
    original = await publish(net.gamma, "max", posts.Draft(text="Hallo aus Gamma"))
    await net.settle()
    assert [s.uri for s in await home(net.alpha, "news")] == [original.uri]

    wrapper = await boost(net.alpha, "news", original.uri)
    await net.settle()
    [shown] = await home(net.beta, "erika")
    assert shown.uri == f"{wrapper.uri}/activity" and shown.reblog_of_id is not None
    fetched = await find(net.beta, original.uri)
    assert fetched is not None and fetched.id == shown.reblog_of_id
    assert "Hallo aus Gamma" in fetched.content and fetched.reblogs_count == 1
    at_home = await find(net.gamma, original.uri)
    assert at_home is not None and at_home.reblogs_count == 1
