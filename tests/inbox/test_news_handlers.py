"""Receiving news from a Mastodon-shaped peer: Create, Update, Delete, Announce, Like, Undo.

Payloads live in `tests/fixtures/mastodon/news.json`, re-created as data from
Mastodon's `spec/lib/activitypub/activity/{create,update,delete,announce,like,undo}_spec.rb`
and its serializers: Create ids are `<status>/activity`, edits `<status>#updates/<epoch>`,
Deletes `<status>#delete` with a Tombstone, Likes `<actor>#likes/<n>`, Undos `…/undo`, and
an Announce names its object by id. A FakeRemote signs and POSTs them to a real instance.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from actors.models import Actor, ActorType, FollowState
from actors.snowflake import snowflake
from federation.errors import FetchError
from federation.fetch import Signer
from federation.policy import FederationPolicy
from inbox.context import BatchHandler, HandlerContext, Incoming, object_fetcher
from inbox.handlers import HANDLERS
from inbox.models import InboxActivity
from inbox.rows import visibility_of
from outbox.models import Favourite, Mention, Status, StatusTag, Tombstone, Visibility
from outbox.timelines import Page, home_timeline, public_timeline
from server import actions, keys
from tests.conftest import Instance, LoopbackResolver, StartInstance
from tests.fakes import FakeRemote, shared_key
from tests.helpers import settle
from tests.test_follows import follow_state

FIXTURES = json.loads((Path(__file__).parent.parent / "fixtures/mastodon/news.json").read_text())
FOLLOWS = json.loads(
    (Path(__file__).parent.parent / "fixtures/mastodon/activities.json").read_text()
)
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def fill(template: object, values: dict[str, str]) -> dict[str, object]:
    text = json.dumps(template)
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    doc: dict[str, object] = json.loads(text)
    return doc


class Peer:
    """One Mastodon user on the fake server, sending shapes from news.json to alpha."""

    def __init__(self, fake: FakeRemote, name: str, alpha: Instance, client: aiohttp.ClientSession):
        self.fake, self.name, self.alpha, self.client = fake, name, alpha, client
        self.uri = f"{fake.base}/users/{name}"

    def shape(self, kind: str, n: int | str, **values: str) -> dict[str, object]:
        defaults = {
            "remote": self.uri,
            "remote_base": self.fake.base,
            "name": self.name,
            "n": str(n),
            "published": iso(T0),
            "local": self.alpha.actor_uri("news"),
            "local_name": "news",
            "local_host": "alpha.test",
        }
        return fill(FIXTURES[kind], {**defaults, **values})

    def status_uri(self, n: int | str) -> str:
        return f"{self.uri}/statuses/{n}"

    async def send(self, activity: dict[str, object], *, expect: int = 202) -> None:
        status = await self.fake.post(self.client, self.alpha.base_url + "/inbox", activity)
        assert status == expect
        await settle(self.alpha)


@pytest.fixture
async def alpha(start_instance: StartInstance) -> Instance:
    inst = await start_instance("alpha")
    await inst.add_actor("news")
    await inst.add_actor("erika", ActorType.PERSON)
    return inst


async def follow_remote(
    alpha: Instance, fake: FakeRemote, client: aiohttp.ClientSession, local: str, remote: str
) -> None:
    """`local` follows `remote` for real: our Follow out, Mastodon's Accept back."""
    await actions.follow(alpha.services, local, remote)
    await settle(alpha)
    sent = [b for b in fake.received if b[2].get("type") == "Follow"][-1][2]
    assert isinstance(sent["id"], str)
    values = {"remote": remote, "local": alpha.actor_uri(local), "follow_id": sent["id"]}
    accept = fill(FOLLOWS["accept_embedded"], values)
    assert await fake.post(client, alpha.base_url + f"/users/{local}/inbox", accept) == 202
    await settle(alpha)
    assert await follow_state(alpha, alpha.actor_uri(local), remote) == FollowState.ACCEPTED


@pytest.fixture
async def bob(alpha: Instance, mastodon: FakeRemote, client: aiohttp.ClientSession) -> Peer:
    """bob@mastodon.example, followed by erika@alpha.test."""
    peer = Peer(mastodon, "bob", alpha, client)
    await follow_remote(alpha, mastodon, client, "erika", peer.uri)
    return peer


@pytest.fixture
async def carol(alpha: Instance, mastodon: FakeRemote, client: aiohttp.ClientSession) -> Peer:
    """carol@mastodon.example, followed by nobody here."""
    return Peer(mastodon, "carol", alpha, client)


async def stored(inst: Instance, uri: str) -> Status | None:
    async with inst.sessionmaker() as session:
        return await session.scalar(select(Status).where(Status.uri == uri))


async def home(inst: Instance, name: str) -> list[str]:
    async with inst.sessionmaker() as session:
        actor_id = await session.scalar(select(Actor.id).where(Actor.username_key == name))
        assert actor_id is not None
        return [s.uri for s in await home_timeline(session, actor_id, Page(limit=40))]


async def local_post(
    inst: Instance, name: str, *, visibility: Visibility = Visibility.PUBLIC
) -> Status:
    """A post of ours, stored as publishing stores it (enough for replies, boosts, likes)."""
    async with inst.sessionmaker() as session:
        actor = await session.scalar(select(Actor).where(Actor.username_key == name))
        assert actor is not None
        status_id = snowflake(T0)
        status = Status(
            id=status_id,
            uri=f"{inst.actor_uri(name)}/statuses/{status_id}",
            url=f"{inst.base_url}/@{name}/{status_id}",
            actor_uri=inst.actor_uri(name),
            local_actor_id=actor.id,
            type="Note",
            content="<p>Unsere Nachricht</p>",
            visibility=visibility.value,
            published_at=T0,
            created_at=T0,
        )
        session.add(status)
        await session.commit()
    return status


# --- Create -------------------------------------------------------------------------------


async def test_create_from_followed_actor_is_stored_and_shown_to_its_followers(
    alpha: Instance, bob: Peer
) -> None:
    await bob.send(bob.shape("create_public", 101))
    status = await stored(alpha, bob.status_uri(101))
    assert status is not None
    assert status.actor_uri == bob.uri and status.local_actor_id is None
    assert status.type == "Note" and status.visibility == Visibility.PUBLIC
    assert status.language == "de" and status.summary == "" and status.sensitive is False
    assert status.url == f"{bob.fake.base}/@bob/101"
    assert "Neue Satzung beschlossen" in status.content
    assert 'class="mention hashtag"' in status.content
    assert status.published_at == T0 and status.edited_at is None
    assert status.tags == [
        {"type": "Hashtag", "name": "#verein", "href": f"{bob.fake.base}/tags/verein"}
    ]
    assert await home(alpha, "erika") == [bob.status_uri(101)]
    assert await home(alpha, "news") == []
    async with alpha.sessionmaker() as session:
        public = await public_timeline(session, Page())
    assert [s.uri for s in public] == [bob.status_uri(101)]


async def test_create_nobody_here_cares_about_is_not_stored(alpha: Instance, carol: Peer) -> None:
    await carol.send(carol.shape("create_public", 201))
    assert await stored(alpha, carol.status_uri(201)) is None
    unsupported = carol.shape("create_public", 202, local=alpha.actor_uri("news"))
    assert isinstance(unsupported["object"], dict)
    unsupported["object"]["type"] = "Banana"
    unsupported["object"]["to"] = [alpha.actor_uri("news")]
    await carol.send(unsupported)
    assert await stored(alpha, carol.status_uri(202)) is None


async def test_mention_of_a_local_actor_keeps_the_post_and_shows_it_to_them(
    alpha: Instance, bob: Peer, carol: Peer
) -> None:
    await carol.send(carol.shape("create_mention_public", 203))
    status = await stored(alpha, carol.status_uri(203))
    assert status is not None and status.visibility == Visibility.PUBLIC
    assert status.summary == "Wahlkampf" and status.sensitive is True
    assert await home(alpha, "news") == [carol.status_uri(203)]
    assert await home(alpha, "erika") == []  # erika follows bob, not carol
    async with alpha.sessionmaker() as session:
        mentions = list(
            await session.scalars(select(Mention.actor_uri).where(Mention.status_id == status.id))
        )
    assert mentions == [alpha.actor_uri("news")]


async def test_reply_to_a_local_post_is_kept(alpha: Instance, carol: Peer) -> None:
    ours = await local_post(alpha, "news")
    await carol.send(carol.shape("create_reply", 204, parent=ours.uri))
    reply = await stored(alpha, carol.status_uri(204))
    assert reply is not None and reply.in_reply_to_uri == ours.uri
    parent = await stored(alpha, ours.uri)
    assert parent is not None and parent.replies_count == 1


async def test_hostile_html_never_survives(alpha: Instance, bob: Peer) -> None:
    create = bob.shape("create_public", 102)
    obj = create["object"]
    assert isinstance(obj, dict)
    obj["content"] = (
        '<p onclick="steal()">Hallo<script>alert(1)</script>'
        '<img src="x" onerror="alert(2)">'
        '<a href="javascript:alert(3)">klick</a> '
        '<a href="https://example.org/ok" onmouseover="x()">ok</a></p>'
        '<iframe src="https://evil.example/"></iframe>'
        '<style>body{display:none}</style><div style="position:fixed">weg</div>'
        '<form action="https://evil.example/"><input name="pw"></form>'
    )
    obj["contentMap"] = {"de": obj["content"]}
    obj["summary"] = '<b onclick="x()">Achtung</b><script>alert(4)</script>'
    await bob.send(create)
    status = await stored(alpha, bob.status_uri(102))
    assert status is not None
    lowered = status.content.lower()
    for bad in (
        "<script",
        "alert(",
        "onerror",
        "onclick",
        "onmouseover",
        "javascript:",
        "<iframe",
        "<style",
        "style=",
        "<img",
        "<form",
        "<input",
        "display:none",
    ):
        assert bad not in lowered, bad
    assert "Hallo" in status.content and "klick" in status.content
    assert 'href="https://example.org/ok"' in status.content
    assert status.summary == "Achtung"


async def test_hashtag_names_are_normalised_like_ours_and_markup_dropped(
    alpha: Instance, bob: Peer, client: aiohttp.ClientSession
) -> None:
    create = bob.shape("create_public", 105)
    obj = create["object"]
    assert isinstance(obj, dict)
    obj["content"] = (
        f'<p>Wetter <a href="{bob.fake.base}/tags/Berlin" class="mention hashtag" rel="tag">'
        f'#<span>Berlin</span></a> <a href="{bob.fake.base}/tags/Stra%C3%9Fe" '
        'class="mention hashtag" rel="tag">#<span>Straße</span></a></p>'
    )
    obj["contentMap"] = {"de": obj["content"]}
    obj["tag"] = [
        {"type": "Hashtag", "href": f"{bob.fake.base}/tags/x", "name": name}
        for name in (
            "#<img src=x onerror=alert(1)>",
            "#Berlin",
            "#Straße",
            "#BERLIN",  # the same tag as #Berlin
            "#<>",  # nothing left
            "#2025",  # no letter: not a hashtag, as in our own posts
            '#"><script>',
        )
    ]
    await bob.send(create)
    status = await stored(alpha, bob.status_uri(105))
    assert status is not None
    expected = [
        {"name": "imgsrcxonerroralert1", "url": "http://alpha.test/tags/imgsrcxonerroralert1"},
        {"name": "berlin", "url": "http://alpha.test/tags/berlin"},
        {"name": "strasse", "url": "http://alpha.test/tags/strasse"},
        {"name": "script", "url": "http://alpha.test/tags/script"},
    ]
    # Stored as our own posts store theirs (`#` + normalised key), so they match our tag URLs.
    assert [t["name"] for t in status.tags] == [f"#{t['name']}" for t in expected]
    base = alpha.base_url + "/api/v1"
    async with client.get(f"{base}/statuses/{status.id}") as resp:
        assert resp.status == 200
        one = await resp.json()
    async with client.get(f"{base}/timelines/public") as resp:
        assert resp.status == 200
        timeline = await resp.json()
    assert [s["id"] for s in timeline] == [str(status.id)]
    for entity in (one, timeline[0]):
        assert entity["tags"] == expected
        # The text shows the tags as the author typed them.
        assert "#<span>Berlin</span>" in entity["content"]
        assert "#<span>Straße</span>" in entity["content"]
    async with client.get(alpha.base_url + "/tags/strasse") as resp:
        assert resp.status == 200
        assert "<h1>#strasse</h1>" in await resp.text()


async def test_article_keeps_title_summary_and_url_as_text(alpha: Instance, bob: Peer) -> None:
    await bob.send(bob.shape("create_article", 103))
    status = await stored(alpha, bob.status_uri(103))
    assert status is not None and status.type == "Article"
    assert status.name == "Jahresbericht & Ausblick 2025"
    assert status.summary == "Was wir erreicht haben."
    assert status.url == f"{bob.fake.base}/blog/jahresbericht-2025"
    assert "<p><strong>Rückblick</strong></p>" in status.content
    assert status.language == "de"


async def test_url_on_another_host_is_dropped(alpha: Instance, bob: Peer) -> None:
    create = bob.shape("create_public", 104)
    assert isinstance(create["object"], dict)
    create["object"]["url"] = "https://phishing.example/@bob/104"
    await bob.send(create)
    status = await stored(alpha, bob.status_uri(104))
    assert status is not None and status.url is None


@pytest.mark.parametrize(
    ("kind", "visibility", "readers"),
    [
        ("create_public", Visibility.PUBLIC, {"erika"}),
        ("create_unlisted", Visibility.UNLISTED, {"erika"}),
        ("create_private", Visibility.PRIVATE, {"erika"}),
        ("create_direct", Visibility.DIRECT, {"news"}),
        ("create_mention_public", Visibility.PUBLIC, {"erika", "news"}),
    ],
)
async def test_visibility_comes_from_the_addressing(
    alpha: Instance, bob: Peer, kind: str, visibility: Visibility, readers: set[str]
) -> None:
    await bob.send(bob.shape(kind, 110))
    status = await stored(alpha, bob.status_uri(110))
    assert status is not None and status.visibility == visibility
    for name in ("erika", "news"):
        assert (await home(alpha, name) == [bob.status_uri(110)]) == (name in readers), name


@pytest.mark.parametrize(
    ("to", "cc", "visibility"),
    [
        ([PUBLIC], [], Visibility.PUBLIC),
        (["as:Public"], [], Visibility.PUBLIC),
        (["Public"], ["F"], Visibility.PUBLIC),
        (["F"], ["as:Public"], Visibility.UNLISTED),
        ([], ["Public"], Visibility.UNLISTED),  # Public only in cc (discourse-activity-pub#154)
        (["F"], [], Visibility.PRIVATE),
        (["F", "L"], ["M"], Visibility.PRIVATE),
        ([], ["F"], Visibility.DIRECT),  # followers must be in `to`
        (["L"], [], Visibility.DIRECT),
        ([], [], Visibility.DIRECT),  # Mastodon: missing to/cc defaults to direct
    ],
)
def test_addressing_table(to: list[str], cc: list[str], visibility: Visibility) -> None:
    assert visibility_of(to, cc, "F") == visibility


async def test_followers_collection_may_be_inlined(alpha: Instance, bob: Peer) -> None:
    create = bob.shape("create_private", 111)
    assert isinstance(create["object"], dict)
    create["object"]["to"] = {
        "type": "OrderedCollection",
        "id": f"{bob.uri}/followers",
        "first": f"{bob.uri}/followers?page=true",
    }
    await bob.send(create)
    status = await stored(alpha, bob.status_uri(111))
    assert status is not None and status.visibility == Visibility.PRIVATE


# --- Update -------------------------------------------------------------------------------


async def test_update_by_the_owner_with_a_newer_stamp_is_applied_and_others_are_not(
    alpha: Instance, bob: Peer, carol: Peer
) -> None:
    await bob.send(bob.shape("create_public", 120))
    later = T0 + timedelta(hours=1)
    edit = bob.shape("update", 120, updated=iso(later), stamp=str(int(later.timestamp())))
    assert isinstance(edit["object"], dict)
    edit["object"]["content"] += '<script>alert("edit")</script>'
    await bob.send(edit)
    status = await stored(alpha, bob.status_uri(120))
    assert status is not None
    assert status.content == "<p>Korrigiert: neue Satzung beschlossen</p>"
    assert status.edited_at == later

    # An older edit arriving late changes nothing.
    earlier = T0 + timedelta(minutes=30)
    stale = bob.shape("update", 120, updated=iso(earlier), stamp=str(int(earlier.timestamp())))
    assert isinstance(stale["object"], dict)
    stale["object"]["content"] = "<p>stale</p>"
    await bob.send(stale)
    # An edit without `updated` is not an edit Mastodon would apply either.
    undated = bob.shape("update", 120, updated="", stamp="x")
    assert isinstance(undated["object"], dict)
    del undated["object"]["updated"]
    undated["object"]["content"] = "<p>undated</p>"
    await bob.send(undated)

    # carol (same server) claims the post: the origin passes, ownership does not.
    newest = T0 + timedelta(hours=2)
    forged = carol.shape("update", "x", updated=iso(newest), stamp="1")
    assert isinstance(forged["object"], dict)
    forged["object"]["id"] = bob.status_uri(120)
    forged["object"]["content"] = "<p>forged</p>"
    await carol.send(forged)
    # ... and claiming bob as author is refused by the inbox itself.
    claimed = bob.shape("update", 120, updated=iso(newest), stamp="2")
    claimed["actor"], claimed["id"] = carol.uri, f"{carol.uri}#updates/2"
    await carol.send(claimed, expect=400)

    status = await stored(alpha, bob.status_uri(120))
    assert status is not None
    assert status.content == "<p>Korrigiert: neue Satzung beschlossen</p>"
    assert status.edited_at == later


# --- Delete -------------------------------------------------------------------------------


async def test_delete_by_the_author_marks_the_post_deleted(
    alpha: Instance, bob: Peer, carol: Peer
) -> None:
    await bob.send(bob.shape("create_public", 130))
    assert await home(alpha, "erika") == [bob.status_uri(130)]
    forged = carol.shape("delete", "x")
    forged["object"] = {"id": bob.status_uri(130), "type": "Tombstone"}
    await carol.send(forged)
    status = await stored(alpha, bob.status_uri(130))
    assert status is not None and status.deleted_at is None

    await bob.send(bob.shape("delete", 130))
    status = await stored(alpha, bob.status_uri(130))
    assert status is not None and status.deleted_at is not None
    assert status.content == ""
    assert await home(alpha, "erika") == []
    async with alpha.sessionmaker() as session:
        assert await public_timeline(session, Page()) == []
    # A repeated Create of the deleted id does not bring it back.
    again = bob.shape("create_public", 130)
    again["id"] = f"{bob.status_uri(130)}/activity-again"
    await bob.send(again)
    status = await stored(alpha, bob.status_uri(130))
    assert status is not None and status.deleted_at is not None


async def test_received_hashtags_are_filed_in_status_tags_through_edit_and_delete(
    alpha: Instance, bob: Peer
) -> None:
    async def filed() -> list[str]:
        async with alpha.sessionmaker() as session:
            status = await session.scalar(select(Status).where(Status.uri == bob.status_uri(140)))
            assert status is not None
            rows = await session.scalars(
                select(StatusTag.tag).where(StatusTag.status_id == status.id)
            )
            return sorted(rows)

    await bob.send(bob.shape("create_public", 140))
    assert await filed() == ["verein"]
    later = T0 + timedelta(hours=1)
    edit = bob.shape("update", 140, updated=iso(later), stamp=str(int(later.timestamp())))
    assert isinstance(edit["object"], dict)
    edit["object"]["tag"] = [
        {"type": "Hashtag", "name": "#Satzung", "href": f"{bob.fake.base}/tags/satzung"},
        {"type": "Hashtag", "name": "#Straße", "href": f"{bob.fake.base}/tags/strasse"},
    ]
    await bob.send(edit)
    assert await filed() == ["satzung", "strasse"]
    await bob.send(bob.shape("delete", 140))
    assert await filed() == []


async def test_delete_before_create_refuses_the_create(alpha: Instance, bob: Peer) -> None:
    await bob.send(bob.shape("delete", 131))
    async with alpha.sessionmaker() as session:
        tomb = await session.scalar(select(Tombstone).where(Tombstone.uri == bob.status_uri(131)))
    assert tomb is not None
    await bob.send(bob.shape("create_public", 131))
    assert await stored(alpha, bob.status_uri(131)) is None
    assert await home(alpha, "erika") == []


async def test_delete_with_a_bare_id_on_another_origin_is_ignored(
    alpha: Instance, bob: Peer
) -> None:
    delete = bob.shape("delete", 132)
    delete["object"] = "https://elsewhere.example/users/x/statuses/1"
    await bob.send(delete)
    async with alpha.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Tombstone)) == 0


# --- Announce -----------------------------------------------------------------------------


async def test_announce_of_a_known_post_is_a_boost_in_the_followers_timeline(
    alpha: Instance, bob: Peer, carol: Peer
) -> None:
    ours = await local_post(alpha, "news")
    values = {"object": ours.uri, "object_author": alpha.actor_uri("news")}
    await bob.send(bob.shape("announce", 140, **values))
    wrapper = await stored(alpha, bob.status_uri(140) + "/activity")
    assert wrapper is not None
    assert wrapper.reblog_of_id == ours.id and wrapper.actor_uri == bob.uri
    assert wrapper.visibility == Visibility.PUBLIC and wrapper.id != ours.id
    assert await home(alpha, "erika") == [wrapper.uri]
    original = await stored(alpha, ours.uri)
    assert original is not None and original.reblogs_count == 1
    # The same boost again (another id) is still one boost.
    again = bob.shape("announce", 141, **values)
    await bob.send(again)
    original = await stored(alpha, ours.uri)
    assert original is not None and original.reblogs_count == 1

    # carol is followed by nobody, but she boosts one of our posts: counted, shown to none.
    await carol.send(carol.shape("announce", 240, **values))
    original = await stored(alpha, ours.uri)
    assert original is not None and original.reblogs_count == 2
    assert await home(alpha, "news") == []

    # Undo by someone else changes nothing; the booster's Undo removes the boost.
    forged = carol.shape("undo_announce", 140, **values)
    assert isinstance(forged["object"], dict)
    forged["object"]["id"] = wrapper.uri
    forged["object"]["object"] = "https://elsewhere.example/statuses/1"
    await carol.send(forged)
    assert await stored(alpha, wrapper.uri) is not None
    await bob.send(bob.shape("undo_announce", 140, **values))
    assert await stored(alpha, wrapper.uri) is None
    assert await home(alpha, "erika") == []
    original = await stored(alpha, ours.uri)
    assert original is not None and original.reblogs_count == 1


async def test_announce_of_an_unknown_post_fetches_it_from_its_origin(
    alpha: Instance, bob: Peer, carol: Peer
) -> None:
    note = carol.shape("note", 250)
    carol.fake.docs["/users/carol/statuses/250"] = note
    values = {"object": carol.status_uri(250), "object_author": carol.uri}
    await bob.send(bob.shape("announce", 142, **values))
    original = await stored(alpha, carol.status_uri(250))
    assert original is not None
    assert original.content == "<p>Fetched when boosted</p>"
    assert original.actor_uri == carol.uri and original.visibility == Visibility.PUBLIC
    assert original.reblogs_count == 1
    wrapper = await stored(alpha, bob.status_uri(142) + "/activity")
    assert wrapper is not None and wrapper.reblog_of_id == original.id
    assert await home(alpha, "erika") == [wrapper.uri]


async def test_announce_nobody_here_cares_about_is_ignored(
    alpha: Instance, bob: Peer, carol: Peer
) -> None:
    carol.fake.docs["/users/bob/statuses/150"] = bob.shape("note", 150)
    values = {"object": bob.status_uri(150), "object_author": bob.uri}
    await carol.send(carol.shape("announce", 260, **values))
    assert await stored(alpha, bob.status_uri(150)) is None
    assert await stored(alpha, carol.status_uri(260) + "/activity") is None


async def test_self_boost_of_an_embedded_followers_only_post(alpha: Instance, bob: Peer) -> None:
    """Mastodon's announce_spec: a self-boost may embed the post, audience inlined."""
    announce = bob.shape("announce", 143, object="x", object_author=bob.uri)
    announce["object"] = {
        "id": f"{bob.uri}#bar",
        "type": "Note",
        "content": "Lorem ipsum",
        "attributedTo": bob.uri,
        "to": {"type": "OrderedCollection", "id": f"{bob.uri}/followers"},
    }
    announce["to"], announce["cc"] = [f"{bob.uri}/followers"], []
    await bob.send(announce)
    original = await stored(alpha, f"{bob.uri}#bar")
    assert original is not None and original.visibility == Visibility.PRIVATE
    wrapper = await stored(alpha, bob.status_uri(143) + "/activity")
    assert wrapper is not None and wrapper.reblog_of_id == original.id
    assert wrapper.visibility == Visibility.PRIVATE
    assert await home(alpha, "erika") == [wrapper.uri]


async def test_boost_of_someone_elses_followers_only_post_is_ignored(
    alpha: Instance, bob: Peer
) -> None:
    ours = await local_post(alpha, "news", visibility=Visibility.PRIVATE)
    values = {"object": ours.uri, "object_author": alpha.actor_uri("news")}
    await bob.send(bob.shape("announce", 144, **values))
    assert await stored(alpha, bob.status_uri(144) + "/activity") is None


async def test_undo_before_announce_refuses_the_announce(alpha: Instance, bob: Peer) -> None:
    ours = await local_post(alpha, "news")
    values = {"object": ours.uri, "object_author": alpha.actor_uri("news")}
    await bob.send(bob.shape("undo_announce", 145, **values))
    await bob.send(bob.shape("announce", 145, **values))
    assert await stored(alpha, bob.status_uri(145) + "/activity") is None
    original = await stored(alpha, ours.uri)
    assert original is not None and original.reblogs_count == 0


# --- Like ---------------------------------------------------------------------------------


async def likes(inst: Instance, uri: str) -> tuple[int, int]:
    async with inst.sessionmaker() as session:
        status = await session.scalar(select(Status).where(Status.uri == uri))
        assert status is not None
        rows = await session.scalar(
            select(func.count()).select_from(Favourite).where(Favourite.status_id == status.id)
        )
    return status.favourites_count, int(rows or 0)


async def test_likes_count_on_our_posts_only_and_undo_reverses(
    alpha: Instance, bob: Peer, carol: Peer
) -> None:
    ours = await local_post(alpha, "news")
    await bob.send(bob.shape("like", 1, object=ours.uri))
    assert await likes(alpha, ours.uri) == (1, 1)
    await bob.send(bob.shape("like", 2, object=ours.uri))  # a second Like by bob
    await carol.send(carol.shape("like", 1, object=ours.uri))
    assert await likes(alpha, ours.uri) == (2, 2)

    # Likes of remote posts (even known ones) and of unknown ids are not kept.
    await bob.send(bob.shape("create_public", 160))
    await carol.send(carol.shape("like", 2, object=bob.status_uri(160)))
    await carol.send(carol.shape("like", 3, object=f"{alpha.base_url}/users/news/statuses/1"))
    assert await likes(alpha, bob.status_uri(160)) == (0, 0)

    # carol cannot undo bob's Like; bob can (Mastodon matches by actor and post).
    forged = carol.shape("undo_like", 9, object=ours.uri)
    assert isinstance(forged["object"], dict)
    forged["object"]["id"] = f"{bob.uri}#likes/1"
    forged["object"]["actor"] = carol.uri
    forged["object"]["object"] = "https://elsewhere.example/nothing"
    await carol.send(forged)
    assert await likes(alpha, ours.uri) == (2, 2)
    await bob.send(bob.shape("undo_like", 2, object=ours.uri))
    assert await likes(alpha, ours.uri) == (1, 1)
    bare = carol.shape("undo_like", 1, object=ours.uri)
    bare["object"] = f"{carol.uri}#likes/1"
    await carol.send(bare)
    assert await likes(alpha, ours.uri) == (0, 0)


# --- origins and idempotence --------------------------------------------------------------


async def test_same_origin_violations_are_refused(
    alpha: Instance, bob: Peer, resolver: LoopbackResolver, client: aiohttp.ClientSession
) -> None:
    # An embedded object on another origin: the inbox answers 400, nothing is stored.
    create = bob.shape("create_public", 170)
    assert isinstance(create["object"], dict)
    create["object"]["id"] = "http://evil.example/users/bob/statuses/170"
    await bob.send(create, expect=400)
    # attributedTo as a list naming someone else slips past the inbox's string check;
    # the handler re-checks and refuses it.
    create = bob.shape("create_public", 171)
    assert isinstance(create["object"], dict)
    create["object"]["attributedTo"] = [f"{bob.fake.base}/users/carol"]
    await bob.send(create)
    assert await stored(alpha, bob.status_uri(171)) is None

    # A fetched boosted post whose id is not on its author's origin is refused.
    evil = FakeRemote("evil.example", shared_key())
    await evil.start(resolver)
    try:
        forged = bob.shape("note", 172)
        forged["id"] = "http://evil.example/statuses/172"
        evil.docs["/statuses/172"] = forged  # attributedTo says bob@mastodon.example
        values = {"object": "http://evil.example/statuses/172", "object_author": bob.uri}
        await bob.send(bob.shape("announce", 173, **values))
        assert await stored(alpha, "http://evil.example/statuses/172") is None
        # Embedding it (claiming bob wrote it) is not trusted either: fetched, refused.
        announce = bob.shape("announce", 174, **values)
        announce["object"] = forged
        await bob.send(announce)
        assert await stored(alpha, "http://evil.example/statuses/172") is None
        assert await stored(alpha, bob.status_uri(174) + "/activity") is None
    finally:
        await evil.stop()


async def test_processing_a_record_twice_changes_nothing(alpha: Instance, bob: Peer) -> None:
    ours = await local_post(alpha, "news")
    await bob.send(bob.shape("create_public", 180))
    await bob.send(bob.shape("announce", 181, object=ours.uri, object_author=ours.actor_uri))
    await bob.send(bob.shape("like", 5, object=ours.uri))
    await bob.send(bob.shape("create_mention_public", 182))
    before = (await home(alpha, "erika"), await home(alpha, "news"), await likes(alpha, ours.uri))
    async with alpha.sessionmaker() as session:
        await session.execute(update(InboxActivity).values(processed_at=None))
        await session.commit()
    await settle(alpha)
    after = (await home(alpha, "erika"), await home(alpha, "news"), await likes(alpha, ours.uri))
    assert after == before
    original = await stored(alpha, ours.uri)
    assert original is not None and original.reblogs_count == 1
    async with alpha.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Status)) == 4
        assert await session.scalar(select(func.count()).select_from(Mention)) == 1


async def test_a_run_of_creates_in_one_batch_decides_each_as_on_its_own(
    alpha: Instance, bob: Peer, carol: Peer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Creates that arrive together are handled as one run (`inbox.creates`): each is
    decided as `on_create` would decide it alone, in arrival order."""
    runs: list[int] = []
    spec = HANDLERS["Create"]
    assert spec.batch is not None
    batch = spec.batch

    async def counted(ctx: HandlerContext, session: AsyncSession, acts: Sequence[Incoming]) -> None:
        runs.append(len(acts))
        await batch(ctx, session, acts)

    monkeypatch.setitem(HANDLERS, "Create", replace(spec, batch=counted))
    ours = await local_post(alpha, "news")
    await bob.send(bob.shape("delete", 305))  # deleted before its Create arrives
    again = bob.shape("create_public", 301)
    again["id"] = f"{bob.uri}/statuses/301/activity-redelivered"
    run = [
        bob.shape("create_public", 301),
        again,  # the same post under another activity id: stored once
        carol.shape("create_public", 302),  # nobody here follows carol
        carol.shape("create_reply", 303, parent=bob.status_uri(301)),  # parent in the run
        carol.shape("create_mention_public", 304),
        bob.shape("create_public", 305),
        carol.shape("create_reply", 306, parent=ours.uri),
        bob.shape("create_private", 307),
        carol.shape("create_reply", 308, parent=carol.status_uri(302)),  # parent not kept
    ]
    for activity in run:
        assert await bob.fake.post(bob.client, alpha.base_url + "/inbox", activity) == 202
    await settle(alpha)
    assert runs == [len(run)]
    async with alpha.sessionmaker() as session:  # handled as a run, not one by one after
        failures = await session.scalar(select(func.count()).where(InboxActivity.attempts > 0))
    assert failures == 0
    kept = {n: await stored(alpha, uri) for n, uri in _run_uris(bob, carol).items()}
    assert {n for n, status in kept.items() if status is not None} == {301, 303, 304, 306, 307}
    private = kept[307]
    assert private is not None and private.visibility == Visibility.PRIVATE
    assert set(await home(alpha, "erika")) == {bob.status_uri(301), bob.status_uri(307)}
    assert await home(alpha, "news") == [carol.status_uri(304)]
    parent, local_parent = kept[301], await stored(alpha, ours.uri)
    assert parent is not None and parent.replies_count == 1
    assert local_parent is not None and local_parent.replies_count == 1
    async with alpha.sessionmaker() as session:
        tagged = set(await session.scalars(select(StatusTag.status_id)))
        mentioned = list(await session.scalars(select(Mention.actor_uri)))
    assert parent.id in tagged
    assert mentioned == [alpha.actor_uri("news")]


def _run_uris(bob: Peer, carol: Peer) -> dict[int, str]:
    return {
        n: (bob if n in (301, 305, 307) else carol).status_uri(n)
        for n in (301, 302, 303, 304, 305, 306, 307, 308)
    }


async def test_delete_of_the_actor_removes_its_posts(alpha: Instance, bob: Peer) -> None:
    await bob.send(bob.shape("create_public", 190))
    gone: dict[str, object] = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{bob.uri}#delete",
        "type": "Delete",
        "actor": bob.uri,
        "to": [PUBLIC],
        "object": bob.uri,
    }
    await bob.send(gone)
    status = await stored(alpha, bob.status_uri(190))
    assert status is not None and status.deleted_at is not None
    assert await follow_state(alpha, alpha.actor_uri("erika"), bob.uri) is None


async def test_the_object_fetcher_never_asks_a_blocked_domain(
    alpha: Instance, mastodon: FakeRemote
) -> None:
    mastodon.docs["/users/bob/statuses/1"] = {"id": f"{mastodon.base}/users/bob/statuses/1"}

    async def no_signer() -> Signer:
        raise AssertionError("a blocked domain needs no signature")

    fetch = object_fetcher(
        lambda: alpha.app[keys.HTTP_CLIENT],
        no_signer,
        allow_private=True,
        policy=FederationPolicy.blocking(["example"]),
    )
    with pytest.raises(FetchError, match="blocked"):
        await fetch(f"{mastodon.base}/users/bob/statuses/1")


async def test_runs_of_likes_boosts_and_deletes_decide_each_as_on_its_own(
    alpha: Instance, bob: Peer, carol: Peer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Likes, Announces and Deletes that arrive together are handled as runs, each record
    decided as its handler decides it alone, in arrival order."""
    runs: list[tuple[str, int]] = []
    for kind in ("Like", "Announce", "Delete"):
        spec = HANDLERS[kind]
        assert spec.batch is not None

        def counted(batch: BatchHandler, kind: str = kind) -> BatchHandler:
            async def run(
                ctx: HandlerContext, session: AsyncSession, acts: Sequence[Incoming]
            ) -> None:
                runs.append((kind, len(acts)))
                await batch(ctx, session, acts)

            return run

        monkeypatch.setitem(HANDLERS, kind, replace(spec, batch=counted(spec.batch)))
    ours = await local_post(alpha, "news")
    await bob.send(bob.shape("create_public", 401))
    await bob.send(bob.shape("create_public", 402))
    await carol.send(carol.shape("create_reply", 403, parent=bob.status_uri(401)))
    theirs = {"object": bob.status_uri(401), "object_author": bob.uri}
    boost = {"object": ours.uri, "object_author": alpha.actor_uri("news")}
    carol.fake.docs["/users/carol/statuses/250"] = carol.shape("note", 250)
    unknown = {"object": carol.status_uri(250), "object_author": carol.uri}
    run = [
        bob.shape("like", 1, object=ours.uri),
        bob.shape("like", 2, object=ours.uri),  # bob again: one Like
        carol.shape("like", 1, object=ours.uri),
        carol.shape("like", 2, object=bob.status_uri(401)),  # not ours: not kept
        carol.shape("like", 3, object=f"{alpha.base_url}/users/news/statuses/1"),  # unknown
        bob.shape("announce", 410, **boost),
        bob.shape("announce", 411, **boost),  # bob again: one boost
        carol.shape("announce", 412, **boost),  # nobody follows carol: counted, shown to none
        carol.shape("announce", 413, **theirs),  # nobody follows carol, not our post
        bob.shape("announce", 414, **theirs),  # a self-boost
        bob.shape("announce", 415, **unknown),  # a post we lack: fetched, stored, boosted
        bob.shape("announce", 416, **unknown),  # the same post again: one boost
        bob.shape("delete", 401),  # its boost goes with it, carol's reply stays
        bob.shape("delete", 499),  # not seen yet: its Create is refused later
        carol.shape("delete", 402, remote=bob.uri),  # not carol's post
    ]
    run[-1]["id"] = f"{carol.uri}/statuses/402#delete"
    run[-1]["actor"] = carol.uri
    for activity in run:
        assert await bob.fake.post(bob.client, alpha.base_url + "/inbox", activity) == 202
    await settle(alpha)
    assert runs == [("Like", 5), ("Announce", 7), ("Delete", 3)]
    async with alpha.sessionmaker() as session:  # handled as runs, not one by one after
        failures = await session.scalar(select(func.count()).where(InboxActivity.attempts > 0))
    assert failures == 0
    assert await likes(alpha, ours.uri) == (2, 2)
    assert await likes(alpha, bob.status_uri(401)) == (0, 0)
    original = await stored(alpha, ours.uri)
    assert original is not None and original.reblogs_count == 2
    assert await stored(alpha, bob.status_uri(410) + "/activity") is not None
    assert await stored(alpha, bob.status_uri(411) + "/activity") is None
    assert await stored(alpha, carol.status_uri(413) + "/activity") is None
    assert await stored(alpha, bob.status_uri(414) + "/activity") is None  # deleted with 401
    fetched = await stored(alpha, carol.status_uri(250))
    assert fetched is not None and fetched.reblogs_count == 1
    assert await stored(alpha, bob.status_uri(416) + "/activity") is None
    assert set(await home(alpha, "erika")) == {
        bob.status_uri(410) + "/activity",
        bob.status_uri(415) + "/activity",
        bob.status_uri(402),
    }
    assert await home(alpha, "news") == []
    deleted, kept = (
        await stored(alpha, bob.status_uri(401)),
        await stored(alpha, bob.status_uri(402)),
    )
    assert deleted is not None and deleted.deleted_at is not None and deleted.content == ""
    assert kept is not None and kept.deleted_at is None
    reply = await stored(alpha, carol.status_uri(403))
    assert reply is not None and reply.deleted_at is None
    await bob.send(bob.shape("create_public", 499))
    assert await stored(alpha, bob.status_uri(499)) is None
