"""What real peers send, received over real HTTP and shown as Mastodon would show it.

Fixtures live in `tests/fixtures/<peer>/*.json`, one activity each, re-created from the
peer's source or documentation (each names it in `_source`; `_actors` lists the actors the
fake peer serves, `follow` marks the one erika@alpha follows). `{base}` becomes the fake
peer's origin, a host with a port, `{published}` a fixed time. A FakeRemote signs and
POSTs them to a complete instance; every one is answered 202, never ends as a failed
record or a logged traceback, and is either stored and shown through the Mastodon API or
ignored with one info line that says why.

Further tests change one thing at a time in those shapes: `type` as a list, `object` as a
list, no addressing, a FEP-1b12 Announce of a Create (embedded or by reference), an actor
without `preferredUsername`, and Hashtag tags written as `as:Hashtag` or without a type.
"""

from __future__ import annotations

import json
import logging
import random
import string
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from actors.models import ActorType, FollowState
from federation.documents import ACTOR_CONTEXT
from federation.keys import public_key_pem
from inbox.models import InboxActivity
from outbox.models import Visibility
from tests.conftest import Instance, LoopbackResolver, StartInstance
from tests.fakes import FakeRemote, shared_key
from tests.helpers import settle
from tests.inbox.test_news_handlers import T0, follow_remote, home, iso, stored
from tests.test_follows import follow_state

FIXTURES = Path(__file__).parent.parent / "fixtures"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
# Each peer on a host with a port, as such peers run in small setups.
HOSTS = {
    "misskey": "misskey.example:3000",
    "pleroma": "pleroma.example:4000",
    "lemmy": "lemmy.example:8536",
    "peertube": "peertube.example:9000",
    "mobilizon": "mobilizon.example:4001",
    "pixelfed": "pixelfed.example:8080",
    "wordpress": "blog.example:8443",
    "fedify": "hollo.example:3001",
    "gotosocial": "gts.example:8081",
}


@dataclass(frozen=True)
class Shape:
    """One fixture, filled in for a fake peer: the activity and the actors it needs."""

    activity: dict[str, object]
    actors: list[dict[str, object]]
    source: str


def load_shape(name: str, base: str) -> Shape:
    text = (FIXTURES / f"{name}.json").read_text()
    text = text.replace("{base}", base).replace("{published}", iso(T0))
    doc = json.loads(text)
    source, actors = doc.pop("_source"), doc.pop("_actors")
    assert isinstance(source, str) and source
    return Shape(doc, actors, source)


def serve_actor(fake: FakeRemote, spec: dict[str, object]) -> str:
    """Serve an actor document as the peer does (our test key, its path and type)."""
    path = spec["path"]
    assert isinstance(path, str)
    uri = fake.base + path
    doc: dict[str, object] = {
        "@context": ACTOR_CONTEXT,
        "id": uri,
        "type": spec["type"],
        "inbox": fake.base + str(spec.get("inbox", f"{path}/inbox")),
        "outbox": f"{uri}/outbox",
        "followers": fake.base + str(spec.get("followers", f"{path}/followers")),
        "endpoints": {"sharedInbox": f"{fake.base}/inbox"},
        "publicKey": {
            "id": f"{uri}#main-key",
            "owner": uri,
            "publicKeyPem": public_key_pem(fake.private_key_pem),
        },
    }
    if spec.get("preferredUsername") is not None:
        doc["preferredUsername"] = spec["preferredUsername"]
    fake.docs[path] = doc
    return uri


@dataclass
class World:
    alpha: Instance
    client: aiohttp.ClientSession
    resolver: LoopbackResolver
    fakes: list[FakeRemote]

    async def peer(self, peer: str, host: str | None = None) -> FakeRemote:
        fake = FakeRemote(host or HOSTS[peer], shared_key())
        await fake.start(self.resolver)
        self.fakes.append(fake)
        return fake

    async def setup(self, name: str, *, follow: bool = True) -> tuple[FakeRemote, Shape]:
        """The peer of fixture `name`, serving its actors; erika follows the marked one."""
        fake = await self.peer(name.split("/")[0])
        shape = load_shape(name, fake.base)
        for spec in shape.actors:
            uri = serve_actor(fake, spec)
            if follow and spec.get("follow"):
                await follow_remote(self.alpha, fake, self.client, "erika", uri)
        return fake, shape

    async def send(self, fake: FakeRemote, activity: dict[str, object]) -> None:
        status = await fake.post(self.client, self.alpha.base_url + "/inbox", activity)
        assert status == 202
        await settle(self.alpha)

    async def api(self, path: str) -> object:
        async with self.client.get(self.alpha.base_url + "/api/v1" + path) as resp:
            assert resp.status == 200, path
            return await resp.json()


@pytest.fixture
async def world(
    start_instance: StartInstance,
    client: aiohttp.ClientSession,
    resolver: LoopbackResolver,
    caplog: pytest.LogCaptureFixture,
) -> AsyncIterator[World]:
    caplog.set_level(logging.INFO)
    alpha = await start_instance("alpha")
    await alpha.add_actor("news")
    await alpha.add_actor("erika", ActorType.PERSON)
    w = World(alpha, client, resolver, [])
    yield w
    for fake in w.fakes:
        await fake.stop()


async def inbox_rows(inst: Instance) -> list[InboxActivity]:
    async with inst.sessionmaker() as session:
        return list(await session.scalars(select(InboxActivity)))


async def assert_clean(world: World, caplog: pytest.LogCaptureFixture) -> None:
    """Every record processed without a failure, and nothing logged above info."""
    rows = await inbox_rows(world.alpha)
    assert rows and all(r.processed_at is not None for r in rows)
    assert [(r.uri, r.error) for r in rows if r.error or r.attempts] == []
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert loud == []


def ignored_lines(caplog: pytest.LogCaptureFixture, act_id: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "verbund.inbox" and r.levelno == logging.INFO and act_id in r.getMessage()
    ]


def object_of(activity: dict[str, object]) -> dict[str, object]:
    obj = activity["object"]
    assert isinstance(obj, dict)
    return obj


# --- every fixture: accepted, stored and shown, or ignored with the reason ------------------


@dataclass(frozen=True)
class Shown:
    """Stored as a post of `type`; `check` looks at the Mastodon API status entity."""

    type: str
    check: Callable[[dict[str, object]], None]


@dataclass(frozen=True)
class Ignored:
    """Accepted and ignored; `reason` is part of the one info line, None when the type
    has no handler at all (stored, then skipped without a word)."""

    reason: str | None


def tag_names(entity: dict[str, object]) -> list[object]:
    tags = entity["tags"]
    assert isinstance(tags, list)
    return [t["name"] for t in tags]


def check_misskey(entity: dict[str, object]) -> None:
    assert "Sommerfest am Samstag" in str(entity["content"])
    assert tag_names(entity) == ["sommerfest"]
    assert entity["visibility"] == "public"
    emojis = entity["emojis"]
    assert isinstance(emojis, list) and [e["shortcode"] for e in emojis] == ["party_parrot"]


def check_pleroma(entity: dict[str, object]) -> None:
    assert "Neue Öffnungszeiten" in str(entity["content"])
    assert entity["language"] == "de" and tag_names(entity) == ["bibliothek"]


def check_pixelfed(entity: dict[str, object]) -> None:
    assert "Herbstlicht am See" in str(entity["content"]) and tag_names(entity) == ["herbst"]
    media = entity["media_attachments"]
    assert isinstance(media, list) and media and {m["type"] for m in media} == {"image"}
    assert str(media[0]["remote_url"]).startswith("http")


def check_peertube(entity: dict[str, object]) -> None:
    # Mastodon shows a Video by its name and description, with a link to the original.
    assert "Jahresversammlung 2025" in str(entity["content"])
    assert "/w/" in str(entity["url"]) and tag_names(entity) == ["verein"]


def check_mobilizon(entity: dict[str, object]) -> None:
    assert "Lesung im Hof" in str(entity["content"])
    assert "/events/" in str(entity["url"]) and tag_names(entity) == ["lesung"]


def check_wordpress(entity: dict[str, object]) -> None:
    # Mastodon shows an Article as its title, its summary and a link (contract §5).
    content = str(entity["content"])
    assert "Mitgliederversammlung: Protokoll" in content
    assert "Das Protokoll der Versammlung vom 1. März" in content
    assert str(entity["url"]).endswith("/2025/03/01/mitgliederversammlung-protokoll/")
    assert tag_names(entity) == ["protokoll"]


def check_fedify(entity: dict[str, object]) -> None:
    # `to: "as:Public"` as one compacted string, `tag` as one object, not a list.
    assert entity["visibility"] == "public" and tag_names(entity) == ["newsletter"]


def check_gotosocial(entity: dict[str, object]) -> None:
    assert entity["visibility"] == "public" and tag_names(entity) == ["kiez"]
    assert "Straßenfest am Sonntag" in str(entity["content"])


EXPECTED: dict[str, Shown | Ignored] = {
    "misskey/create_note": Shown("Note", check_misskey),
    "misskey/like_reaction": Ignored(None),  # a Like of a post that is not ours: not kept
    "pleroma/create_note": Shown("Note", check_pleroma),
    "pleroma/emoji_react": Ignored(None),  # EmojiReact: no handler (Mastodon ignores it too)
    "pixelfed/create_note_image": Shown("Note", check_pixelfed),
    "wordpress/create_article": Shown("Article", check_wordpress),
    "fedify/create_note": Shown("Note", check_fedify),
    "gotosocial/create_note": Shown("Note", check_gotosocial),
    "lemmy/announce_delete_page": Ignored("a relayed Delete is not a boost"),
    "lemmy/announce_like_page": Ignored("a relayed Like is not a boost"),
    "lemmy/announce_update_page": Ignored("a relayed Update is not a boost"),
    "peertube/create_video": Shown("Video", check_peertube),
    "mobilizon/create_event": Shown("Event", check_mobilizon),
}


def test_every_fixture_has_an_expectation_and_a_source() -> None:
    names = {
        f"{p.parent.name}/{p.stem}" for p in FIXTURES.glob("*/*.json") if p.parent.name in HOSTS
    }
    assert names == set(EXPECTED) | {"lemmy/announce_create_page"}
    for name in names:
        assert load_shape(name, "https://x.example").source


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_peer_shape_is_accepted_and_shown_or_ignored_with_a_reason(
    world: World, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    fake, shape = await world.setup(name)
    caplog.clear()
    await world.send(fake, shape.activity)
    await assert_clean(world, caplog)
    expected = EXPECTED[name]
    obj = shape.activity["object"]
    obj_id = obj.get("id") if isinstance(obj, dict) else obj
    assert isinstance(obj_id, str)
    status = await stored(world.alpha, obj_id)
    if isinstance(expected, Ignored):
        assert status is None
        act_id = str(shape.activity["id"])
        lines = ignored_lines(caplog, act_id)
        if expected.reason is None:
            assert lines == []
        else:
            assert len(lines) == 1 and expected.reason in lines[0], lines
        return
    assert status is not None and status.type == expected.type
    assert status.visibility == Visibility.PUBLIC
    assert await home(world.alpha, "erika") == [obj_id]
    entity = await world.api(f"/statuses/{status.id}")
    assert isinstance(entity, dict) and entity["uri"] == obj_id
    expected.check(entity)
    timeline = await world.api("/timelines/public")
    assert isinstance(timeline, list) and [s["uri"] for s in timeline] == [obj_id]


# --- type as a list -----------------------------------------------------------------------


async def test_types_given_as_lists_are_read_everywhere(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """`["Create"]` with a `["Note"]`, `["Follow"]` and its `["Undo"]` of a `["Follow"]`,
    as JSON-LD-compacting peers send them; a list whose first type we do not handle is
    stored under the one we do."""
    fake, shape = await world.setup("pleroma/create_note")
    caplog.clear()
    create = shape.activity
    create["type"] = ["Create"]
    object_of(create)["type"] = ["Note"]
    await world.send(fake, create)
    note_id = str(object_of(create)["id"])
    assert await home(world.alpha, "erika") == [note_id]

    lain = f"{fake.base}/users/lain"
    follow: dict[str, object] = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{fake.base}/activities/follow-1",
        "type": ["litepub:Unknown", "Follow"],
        "actor": lain,
        "object": world.alpha.actor_uri("news"),
    }
    await world.send(fake, follow)
    accepts = [b for b in fake.received if b[2].get("type") == "Accept"]
    assert len(accepts) == 1 and object_of(accepts[0][2])["id"] == follow["id"]
    rows = {r.uri: r.type for r in await inbox_rows(world.alpha)}
    assert rows[str(follow["id"])] == "Follow" and rows[str(create["id"])] == "Create"
    news = world.alpha.actor_uri("news")
    assert await follow_state(world.alpha, lain, news) == FollowState.ACCEPTED
    undo: dict[str, object] = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{fake.base}/activities/undo-1",
        "type": ["Undo"],
        "actor": lain,
        "object": {**follow, "type": ["Follow"]},
    }
    await world.send(fake, undo)
    assert await follow_state(world.alpha, lain, news) is None
    await assert_clean(world, caplog)


# --- object as a list, no addressing ------------------------------------------------------


async def test_create_with_a_list_of_objects_stores_the_first_usable_post(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    fake, shape = await world.setup("gotosocial/create_note")
    caplog.clear()
    create = shape.activity
    note = object_of(create)
    create["object"] = [f"{fake.base}/just/a/reference", {"type": "Banana"}, note]
    await world.send(fake, create)
    status = await stored(world.alpha, str(note["id"]))
    assert status is not None and status.visibility == Visibility.PUBLIC
    assert await home(world.alpha, "erika") == [note["id"]]
    await assert_clean(world, caplog)


async def test_create_without_any_addressing_is_not_public(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """No `to`/`cc` anywhere: as Mastodon, not public (limited/direct); kept only for
    whoever it addresses (nobody), so it shows in no timeline and not in the public one."""
    fake, shape = await world.setup("gotosocial/create_note")
    caplog.clear()
    create = shape.activity
    note = object_of(create)
    for doc in (create, note):
        del doc["to"], doc["cc"]
    await world.send(fake, create)
    status = await stored(world.alpha, str(note["id"]))
    assert status is not None and status.visibility == Visibility.DIRECT
    assert await home(world.alpha, "erika") == []
    assert await world.api("/timelines/public") == []
    await assert_clean(world, caplog)


# --- FEP-1b12: a group's Announce of a Create ---------------------------------------------


async def test_lemmy_announce_of_a_create_is_a_boost_of_the_page_by_the_group(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    fake, shape = await world.setup("lemmy/announce_create_page")
    caplog.clear()
    await world.send(fake, shape.activity)
    page_id = f"{fake.base}/post/55143"
    page = await stored(world.alpha, page_id)
    assert page is not None and page.type == "Page"
    assert page.actor_uri == f"{fake.base}/u/picard" and page.name == "Vereinsausflug nach Potsdam"
    assert page.visibility == Visibility.PUBLIC and page.reblogs_count == 1
    wrapper = await stored(world.alpha, str(shape.activity["id"]))
    assert wrapper is not None and wrapper.reblog_of_id == page.id
    assert wrapper.actor_uri == f"{fake.base}/c/tenforward"
    assert await home(world.alpha, "erika") == [wrapper.uri]
    entity = await world.api(f"/statuses/{wrapper.id}")
    assert isinstance(entity, dict) and isinstance(entity["reblog"], dict)
    assert entity["reblog"]["uri"] == page_id
    assert entity["account"]["username"] == "tenforward"
    assert entity["reblog"]["account"]["username"] == "picard"
    # Trusted as embedded (post, author and Create on the group's origin): nothing fetched.
    assert fake.docs.get("/post/55143") is None
    await assert_clean(world, caplog)


async def test_relayed_create_of_a_post_from_elsewhere_is_fetched_from_its_origin(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """A user of another Lemmy posts into the community: the group may not vouch for a
    post on another origin, so the Page is fetched from there; the embedded copy (here
    with a forged title) is not used."""
    fake, shape = await world.setup("lemmy/announce_create_page")
    other = await world.peer("lemmy", "other-lemmy.example:8536")
    author = serve_actor(other, {"path": "/u/worf", "type": "Person", "preferredUsername": "worf"})
    caplog.clear()
    page = json.loads(
        json.dumps(object_of(object_of(shape.activity))).replace(fake.base, other.base)
    )
    page["to"] = [f"{fake.base}/c/tenforward", PUBLIC]
    page["attributedTo"] = author
    page["id"] = f"{other.base}/post/7"
    other.docs["/post/7"] = dict(page)
    page["name"] = "Forged by the relay"
    create = object_of(shape.activity)
    create["object"], create["actor"] = page, author
    create["id"] = f"{other.base}/activities/create/1"
    await world.send(fake, shape.activity)
    status = await stored(world.alpha, page["id"])
    assert status is not None and status.name == "Vereinsausflug nach Potsdam"
    assert status.actor_uri == author and status.reblogs_count == 1
    wrapper = await stored(world.alpha, str(shape.activity["id"]))
    assert wrapper is not None and wrapper.reblog_of_id == status.id
    await assert_clean(world, caplog)


async def test_announce_naming_a_create_by_id_boosts_the_create_object(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Lemmy and Guppe may name the relayed activity by id: it is fetched, and its object
    is the boosted post."""
    fake, shape = await world.setup("lemmy/announce_create_page")
    caplog.clear()
    create = object_of(shape.activity)
    create_id = str(create["id"])
    fake.docs[create_id.removeprefix(fake.base)] = {
        "@context": "https://www.w3.org/ns/activitystreams",
        **create,
    }
    shape.activity["object"] = create_id
    await world.send(fake, shape.activity)
    page = await stored(world.alpha, f"{fake.base}/post/55143")
    assert page is not None and page.reblogs_count == 1
    wrapper = await stored(world.alpha, str(shape.activity["id"]))
    assert wrapper is not None and wrapper.reblog_of_id == page.id
    assert await home(world.alpha, "erika") == [wrapper.uri]
    await assert_clean(world, caplog)


# --- actors without preferredUsername -----------------------------------------------------


async def test_actor_without_preferred_username_is_named_by_its_id(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """bovine-herd style actors leave `preferredUsername` out: their activities verify and
    the account is shown with the last path segment of its id."""
    fake = await world.peer("fedify", "bovine.example:8000")
    spec: dict[str, object] = {"path": "/endpoints/Vm9yc3RhbmQ", "type": "Person"}
    uri = serve_actor(fake, spec)
    await follow_remote(world.alpha, fake, world.client, "erika", uri)
    caplog.clear()
    shape = load_shape("fedify/create_note", fake.base)
    text = json.dumps(shape.activity).replace(f"{fake.base}/@maria", uri)
    create = json.loads(text)
    await world.send(fake, create)
    status = await stored(world.alpha, str(object_of(create)["id"]))
    assert status is not None
    entity = await world.api(f"/statuses/{status.id}")
    assert isinstance(entity, dict)
    assert entity["account"]["username"] == "Vm9yc3RhbmQ"
    await assert_clean(world, caplog)


# --- Hashtag spellings --------------------------------------------------------------------


async def test_hashtags_written_as_as_hashtag_or_without_a_type_are_tags(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    fake, shape = await world.setup("pleroma/create_note")
    caplog.clear()
    note = object_of(shape.activity)
    note["tag"] = [
        {"type": "as:Hashtag", "href": f"{fake.base}/tag/bibliothek", "name": "#Bibliothek"},
        {"href": f"{fake.base}/tag/lesen", "name": "#lesen"},
        {"type": ["Hashtag"], "name": "#Kiez"},
        {"name": "not a hashtag"},
    ]
    await world.send(fake, shape.activity)
    status = await stored(world.alpha, str(note["id"]))
    assert status is not None
    assert [t["name"] for t in status.tags] == ["#bibliothek", "#lesen", "#kiez"]
    entity = await world.api(f"/statuses/{status.id}")
    assert isinstance(entity, dict) and tag_names(entity) == ["bibliothek", "lesen", "kiez"]
    await assert_clean(world, caplog)


# --- nothing a peer sends ends as a traceback ---------------------------------------------


async def test_over_long_references_are_dropped_or_ignored_never_retried(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """URIs too long for an index (over about 2.7 kB once compressed) made PostgreSQL
    refuse the row, so the handler failed with a traceback and was retried five times.
    Now the mention is dropped, and a Delete or Undo of such an id is ignored with a
    reason. (SQLite has no such limit: there this passed before too.)"""
    fake, shape = await world.setup("gotosocial/create_note")
    caplog.clear()
    noise = random.Random(10).choices(string.ascii_letters + string.digits, k=4000)
    long_id = f"{fake.base}/users/" + "".join(noise)
    create = shape.activity
    note = object_of(create)
    note["tag"] = [{"type": "Mention", "href": long_id, "name": "@lang@gts.example"}]
    await world.send(fake, create)
    status = await stored(world.alpha, str(note["id"]))
    assert status is not None and status.tags == []
    actor = create["actor"]
    delete = {"id": f"{actor}#delete-long", "type": "Delete", "actor": actor, "object": long_id}
    undo = {
        "id": f"{actor}#undo-long",
        "type": "Undo",
        "actor": actor,
        "object": {"id": long_id, "type": "Announce", "actor": actor, "object": note["id"]},
    }
    reference = {**create, "id": f"{actor}#create-ref", "object": f"{fake.base}/statuses/9"}
    for activity in (delete, undo, reference):
        await world.send(fake, {"@context": "https://www.w3.org/ns/activitystreams", **activity})
        assert len(ignored_lines(caplog, str(activity["id"]))) == 1
    assert "its object is a reference" in ignored_lines(caplog, str(reference["id"]))[0]
    await assert_clean(world, caplog)
