"""Working groups as FEP-1b12 groups (issue 15), three instances over real HTTP: members
join by following, a member's post addressed to the group is announced to the other
members (remote and local), a non-member's is not, a moderator removes a post and a
member, and a members-only group's announces are for members alone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from sqlalchemy import select

from actors.local import get_actor
from actors.models import ActorType, Follow, FollowState, RoleName
from inbox.models import InboxActivity
from outbox import posts
from outbox.models import Status, Visibility
from outbox.posts import Draft
from outbox.timelines import Page, home_timeline
from server import actions, groups
from server.actions import ActionError
from tests.conftest import Instance, LoopbackResolver, StartInstance
from tests.fakes import FakeRemote, Reply, shared_key
from tests.helpers import settle
from tests.server.test_api import Api
from tests.test_contact_requests import staff_token
from tests.test_news_federation import post

AP = "application/activity+json"
AS = "https://www.w3.org/ns/activitystreams"


@dataclass
class Net:
    alpha: Instance  # the group klima and its local member lena
    beta: Instance  # erika, a member
    gamma: Instance  # max, a member, and otto, who is not

    @property
    def all(self) -> tuple[Instance, ...]:
        return (self.alpha, self.beta, self.gamma)


@pytest.fixture
async def net(start_instance: StartInstance) -> Net:
    n = Net(
        await start_instance("alpha"),
        await start_instance("beta", domain="beta.test:8443"),
        await start_instance("gamma"),
    )
    await n.alpha.add_actor("klima", ActorType.GROUP, display_name="AG Klima")
    await n.alpha.add_actor("lena", ActorType.PERSON)
    await n.beta.add_actor("erika", ActorType.PERSON)
    await n.gamma.add_actor("max", ActorType.PERSON)
    await n.gamma.add_actor("otto", ActorType.PERSON)
    await actions.follow(n.beta.services, "erika", "klima@alpha.test")
    await actions.follow(n.gamma.services, "max", "klima@alpha.test")
    await actions.follow(n.alpha.services, "lena", "klima@alpha.test")
    await settle(*n.all)
    return n


async def home(inst: Instance, name: str) -> list[str]:
    """The posts in `name`'s home timeline, boosts as the post they boost."""
    async with inst.sessionmaker() as session:
        actor = await get_actor(session, name)
        rows = await home_timeline(session, actor.id, Page(limit=40))
        shown = []
        for row in rows:
            original = await session.get(Status, row.reblog_of_id) if row.reblog_of_id else row
            assert original is not None
            shown.append(original.uri)
        return shown


async def announces(inst: Instance) -> list[dict[str, object]]:
    import json

    async with inst.sessionmaker() as session:
        rows = await session.scalars(
            select(InboxActivity.body).where(InboxActivity.type == "Announce")
        )
        return [json.loads(body) for body in rows]


async def test_members_posts_reach_the_other_members_and_moderators_remove_them(
    net: Net, client: aiohttp.ClientSession
) -> None:
    members = await groups.list_members(net.alpha.services, "klima")
    assert set(members.members) == {
        net.beta.actor_uri("erika"),
        net.gamma.actor_uri("max"),
        net.alpha.actor_uri("lena"),
    }

    news = await post(net.beta, "erika", Draft(text="@klima@alpha.test Treffen am Dienstag"))
    stranger = await post(net.gamma, "otto", Draft(text="@klima@alpha.test Werbung!"))
    await settle(*net.all)

    # gamma got the group's Announce, wrapping erika's Create exactly as she sent it.
    [announce] = await announces(net.gamma)
    assert announce["actor"] == net.alpha.actor_uri("klima")
    inner = announce["object"]
    assert isinstance(inner, dict) and inner["type"] == "Create"
    assert inner["actor"] == net.beta.actor_uri("erika")
    assert isinstance(inner["object"], dict) and inner["object"]["id"] == news.uri
    assert announce["audience"] == net.alpha.actor_uri("klima")
    # max sees it at home as boosted by the group; lena, the local member, too.
    assert news.uri in await home(net.gamma, "max")
    assert news.uri in await home(net.alpha, "lena")
    async with net.alpha.sessionmaker() as session:
        wrapper = await session.scalar(
            select(Status).where(
                Status.actor_uri == net.alpha.actor_uri("klima"), Status.reblog_of_id.is_not(None)
            )
        )
        assert wrapper is not None
        original = await session.get(Status, wrapper.reblog_of_id)
        assert original is not None and original.uri == news.uri
        # The non-member's post is kept (it names a local actor) but not distributed.
        kept = await session.scalar(select(Status).where(Status.uri == stranger.uri))
        assert kept is not None
        assert await session.scalar(select(Status.id).where(Status.reblog_of_id == kept.id)) is None

    # A local member's post goes the same way, to the remote members.
    own = await post(net.alpha, "lena", Draft(text="@klima Ich bringe Kuchen mit"))
    await settle(*net.all)
    assert own.uri in await home(net.gamma, "max")
    assert own.uri in await home(net.beta, "erika")

    # A moderator removes erika's post from the group: an Undo of the Announce.
    async with net.alpha.sessionmaker() as session:
        klima = await get_actor(session, "klima")
        target = await session.scalar(select(Status).where(Status.uri == news.uri))
        assert target is not None
        await posts.unboost(
            session, net.alpha.services.publish_context(), actor=klima, target=target
        )
        await session.commit()
    await settle(*net.all)
    assert news.uri not in await home(net.gamma, "max")
    assert own.uri in await home(net.gamma, "max")

    # And removes max: a Reject reaches gamma, max cannot join again.
    removed = await groups.remove_member(net.alpha.services, "klima", "max@gamma.test")
    assert removed == net.gamma.actor_uri("max")
    await settle(*net.all)
    async with net.gamma.sessionmaker() as session:
        left = await session.scalar(
            select(Follow).where(Follow.follower_uri == net.gamma.actor_uri("max"))
        )
        assert left is None
    await actions.follow(net.gamma.services, "max", "klima@alpha.test")
    await settle(*net.all)
    assert (
        net.gamma.actor_uri("max")
        not in (await groups.list_members(net.alpha.services, "klima")).members
    )
    with pytest.raises(ActionError, match="no member"):
        await groups.remove_member(net.alpha.services, "klima", "otto@gamma.test")
    with pytest.raises(ActionError, match="not a group"):
        await groups.list_members(net.alpha.services, "lena")


async def test_a_members_only_group_announces_to_members_alone(
    net: Net, client: aiohttp.ClientSession
) -> None:
    await groups.set_members_only(net.alpha.services, "klima", members_only=True)
    async with net.alpha.sessionmaker() as session:
        klima = await get_actor(session, "klima")
        assert klima.members_only and klima.manually_approves
    # A newcomer now waits for approval and is no member yet.
    await actions.follow(net.gamma.services, "otto", "klima@alpha.test")
    await settle(*net.all)
    waiting = await groups.list_members(net.alpha.services, "klima")
    assert net.gamma.actor_uri("otto") in waiting.pending

    news = await post(
        net.beta,
        "erika",
        Draft(text="@klima@alpha.test Nur für uns", visibility=Visibility.PRIVATE),
    )
    await settle(*net.all)
    assert news.uri in await home(net.gamma, "max")
    assert news.uri not in await home(net.gamma, "otto")
    [announce] = await announces(net.gamma)
    assert announce["to"] == [net.alpha.actor_uri("klima") + "/followers"]
    assert announce["cc"] == []
    # Nobody fetches the group's announce: not anonymously, not from its outbox.
    async with net.alpha.sessionmaker() as session:
        wrapper = await session.scalar(
            select(Status).where(Status.actor_uri == net.alpha.actor_uri("klima"))
        )
        assert wrapper is not None and wrapper.visibility == Visibility.PRIVATE
    for url in (wrapper.uri, wrapper.uri + "/activity"):
        async with client.get(url, headers={"Accept": AP}) as resp:
            assert resp.status == 404
    async with client.get(
        net.alpha.actor_uri("klima") + "/outbox?page=true", headers={"Accept": AP}
    ) as resp:
        assert news.uri not in await resp.text()
    async with net.alpha.sessionmaker() as session:
        row = await session.scalar(
            select(Follow).where(Follow.follower_uri == net.gamma.actor_uri("otto"))
        )
        assert row is not None and row.state is FollowState.PENDING


@pytest.fixture
async def guppe(resolver: LoopbackResolver) -> AsyncIterator[FakeRemote]:
    fake = FakeRemote("guppe.example:8443", private_key_pem=shared_key())
    await fake.start(resolver)
    yield fake
    await fake.stop()


async def test_our_people_join_a_remote_group_and_post_to_it(
    net: Net, guppe: FakeRemote, client: aiohttp.ClientSession
) -> None:
    """A Guppe-shaped remote group: joining is a Follow it Accepts; a post mentioning it
    reaches its inbox; its Announce of another member's post (Lemmy's
    `Announce{Create}` with the post on the group's origin) shows at home."""
    group = guppe.add_person("wandern")
    doc = guppe.docs["/users/wandern"]
    assert isinstance(doc, dict)
    doc["type"] = "Group"
    acct = f"acct:wandern@{guppe.host}"
    guppe.reply(
        f"/.well-known/webfinger?resource={acct}",
        Reply(
            json={
                "subject": acct,
                "links": [{"rel": "self", "type": AP, "href": group}],
            },
            content_type="application/jrd+json",
        ),
    )
    await actions.follow(net.beta.services, "erika", group)
    await settle(*net.all)
    [follow] = [b for _, _, b in guppe.received if b["type"] == "Follow"]
    accept: dict[str, object] = {
        "@context": AS,
        "id": f"{group}/accepts/1",
        "type": "Accept",
        "actor": group,
        "object": follow,
    }
    assert await guppe.post(client, f"{net.beta.base_url}/inbox", accept) == 202
    await settle(*net.all)
    async with net.beta.sessionmaker() as session:
        row = await session.scalar(select(Follow).where(Follow.followed_uri == group))
        assert row is not None and row.state is FollowState.ACCEPTED

    mine = await post(net.beta, "erika", Draft(text=f"@wandern@{guppe.host} Wer kommt mit?"))
    await settle(*net.all)
    [create] = [b for _, _, b in guppe.received if b["type"] == "Create"]
    note = create["object"]
    assert isinstance(note, dict) and note["id"] == mine.uri
    assert group in [t.get("href") for t in note["tag"] if isinstance(t, dict)]

    other = f"{guppe.base}/users/hans"
    guppe.add_person("hans")
    page: dict[str, object] = {
        "id": f"{other}/posts/7",
        "type": "Page",
        "name": "Tour am Sonntag",
        "content": "<p>Treffpunkt 9 Uhr</p>",
        "attributedTo": other,
        "to": [group, AS + "#Public"],
        "audience": group,
    }
    announce: dict[str, object] = {
        "@context": AS,
        "id": f"{group}/announces/7",
        "type": "Announce",
        "actor": group,
        "to": [AS + "#Public"],
        "cc": [f"{group}/followers"],
        "object": {
            "id": f"{other}/creates/7",
            "type": "Create",
            "actor": other,
            "to": [group, AS + "#Public"],
            "object": page,
        },
    }
    assert await guppe.post(client, f"{net.beta.base_url}/inbox", announce) == 202
    await settle(*net.all)
    assert page["id"] in await home(net.beta, "erika")


async def test_the_api_shows_members_and_lets_moderators_remove_posts_and_members(
    net: Net, client: aiohttp.ClientSession
) -> None:
    owner = await staff_token(net.alpha, "olga", "klima", RoleName.OWNER)
    moderator = await staff_token(net.alpha, "moritz", "klima", RoleName.MODERATOR)
    editor = await staff_token(net.alpha, "edith", "klima", RoleName.EDITOR)
    api = Api(client, net.alpha)
    listed = await api.call("GET", "/api/verbund/v1/group/members", editor)
    assert listed.status == 200
    assert net.gamma.actor_uri("max") in listed.json["members"]

    news = await post(net.beta, "erika", Draft(text="@klima@alpha.test Hallo zusammen"))
    await settle(*net.all)
    async with net.alpha.sessionmaker() as session:
        kept = await session.scalar(select(Status).where(Status.uri == news.uri))
        assert kept is not None
    path = f"/api/verbund/v1/group/posts/{kept.id}/remove"
    removed = await api.call("POST", path, moderator)
    assert removed.status == 200 and removed.json == {"removed": news.uri}
    again = await api.call("POST", path, moderator)
    assert again.status == 422 and "did not distribute" in again.json["error"]
    await settle(*net.all)
    assert news.uri not in await home(net.gamma, "max")

    gone = "/api/verbund/v1/group/members/remove"
    who = {"member": net.gamma.actor_uri("max")}
    assert (await api.call("POST", gone, editor, json=who)).status == 403
    assert (await api.call("POST", gone, moderator, json=who)).status == 200
    missing = await api.call("POST", gone, moderator, json=who)
    assert missing.status == 422 and "no member" in missing.json["error"]

    settings = "/api/verbund/v1/group"
    assert (await api.call("PATCH", settings, moderator, json={"members_only": True})).status == 403
    switched = await api.call("PATCH", settings, owner, json={"members_only": True})
    assert switched.status == 200 and switched.json == {"members_only": True}
    assert (await api.call("PATCH", settings, owner, json={})).status == 422
