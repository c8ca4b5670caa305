"""Publishing news without the network: rendering, addressing, recipients, edits, boosts."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from actors.local import create_actor
from actors.models import Actor, ActorType, Follow, FollowState, RemoteActor
from actors.uris import LocalUris
from federation import hashtags
from federation.rendering import PUBLIC
from outbox import content, documents, posts
from outbox.context import PublishContext
from outbox.models import Activity, Delivery, Mention, Status, TimelineEntry, Visibility
from outbox.posts import Draft, NewsError
from server import db
from server.config import DatabaseConfig
from tests.nulls import null_paths

BASE = "https://alpha.test"
NEWS = f"{BASE}/users/news"
FOLLOWERS = f"{NEWS}/followers"
T0 = datetime(2026, 3, 1, 12, 0, 0, 250_000, tzinfo=UTC)


def remote(user: str, host: str, *, shared: bool = True, url: str | None = None) -> RemoteActor:
    uri = f"https://{host}/users/{user}"
    return RemoteActor(
        uri=uri,
        type="Person",
        username=user,
        domain=host,
        inbox_uri=f"{uri}/inbox",
        shared_inbox_uri=f"https://{host}/inbox" if shared else None,
        outbox_uri=None,
        followers_uri=None,
        following_uri=None,
        url=url or f"https://{host}/@{user}",
        icon_url=None,
        fetched_at=T0,
    )


@dataclass
class World:
    sessionmaker: async_sessionmaker[AsyncSession]
    news_id: int
    reader_id: int
    dora: RemoteActor

    async def actor(self, session: AsyncSession) -> Actor:
        actor = await session.get(Actor, self.news_id)
        assert actor is not None
        return actor


@pytest.fixture
async def world(make_database: Callable[[str], DatabaseConfig]) -> AsyncIterator[World]:
    """`news` on alpha.test, followed by erika and otto (beta, shared inbox), max (gamma,
    personal inbox) and the local reader; dora (delta) follows nobody."""
    config = make_database("news")
    engine = db.create_engine(config)
    await db.upgrade(engine, config)
    maker = db.create_sessionmaker(engine)
    async with maker() as session:
        actor = await create_actor(session, username="news", type_=ActorType.ORGANIZATION)
        reader = await create_actor(session, username="reader", type_=ActorType.PERSON)
        followers = [
            remote("erika", "beta.test"),
            remote("otto", "beta.test"),
            remote("max", "gamma.test", shared=False),
        ]
        dora = remote("dora", "delta.test")
        session.add_all([*followers, dora])
        for uri in [f.uri for f in followers] + [f"{BASE}/users/reader"]:
            session.add(
                Follow(
                    follower_uri=uri,
                    followed_uri=NEWS,
                    activity_uri=f"{uri}#follow",
                    state=FollowState.ACCEPTED.value,
                    message="",
                    created_at=T0,
                    updated_at=T0,
                )
            )
        await session.commit()
        world = World(maker, actor.id, reader.id, dora)
    yield world
    await engine.dispose()


FOLLOWER_INBOXES = {"https://beta.test/inbox", "https://gamma.test/users/max/inbox"}
DORA = "https://delta.test/users/dora"


async def publish(
    w: World, draft: Draft, *, mentions: dict[str, RemoteActor] | None = None, now: datetime = T0
) -> Status:
    async with w.sessionmaker() as session:
        status = await posts.publish(
            session,
            PublishContext(uris=LocalUris(BASE), clock=lambda: now),
            actor=await w.actor(session),
            draft=draft,
            mentions=mentions if mentions is not None else {"dora@delta.test": w.dora},
        )
        await session.commit()
    return status


async def sent(w: World, kind: str) -> list[tuple[dict[str, object], set[str]]]:
    """Activities of `kind` in the outbox, oldest first, with the inboxes they go to."""
    async with w.sessionmaker() as session:
        rows = list(
            await session.scalars(
                select(Activity).where(Activity.type == kind).order_by(Activity.id)
            )
        )
        out = []
        for row in rows:
            inboxes = set(
                await session.scalars(
                    select(Delivery.inbox_uri).where(Delivery.activity_id == row.id)
                )
            )
            out.append((json.loads(row.body), inboxes))
    return out


def as_dict(value: object) -> dict[str, object]:
    assert isinstance(value, dict)
    return value


# --- rendering ------------------------------------------------------------------------------


def test_hashtags_are_linked_lowercased_and_folded() -> None:
    r = content.render_content(
        "Heute im #Bürgerbüro: #Wahl2024 und #wahl2024, nicht #2024", base_url=BASE, mentions={}
    )
    assert (
        '<a href="https://alpha.test/tags/burgerburo" class="mention hashtag" rel="tag">'
        "#<span>Bürgerbüro</span></a>"
    ) in r.content
    assert "nicht #2024" in r.content
    assert r.tags == [
        {"type": "Hashtag", "href": f"{BASE}/tags/burgerburo", "name": "#burgerburo"},
        {"type": "Hashtag", "href": f"{BASE}/tags/wahl2024", "name": "#wahl2024"},
    ]


def test_hashtag_folding_keeps_non_latin_scripts() -> None:
    assert hashtags.normalize_hashtag("Straße") == "strasse"
    assert hashtags.normalize_hashtag("ÉCOLE") == "ecole"
    assert hashtags.normalize_hashtag("がっこう") == "がっこう"
    assert hashtags.normalize_hashtag("한국어") == "한국어"


def test_hashtag_key_of_a_peers_name_keeps_only_word_characters() -> None:
    assert hashtags.hashtag_key("#Straße") == "strasse"
    assert hashtags.hashtag_key("#<img src=x onerror=alert(1)>") == "imgsrcxonerroralert1"
    assert hashtags.hashtag_key("#हिंदी") == "हिंदी"  # vowel signs are marks, not punctuation
    assert hashtags.hashtag_key("#wahl_2024") == "wahl_2024"
    for nothing in ("#", "#<>", "#2024", "#-_-", ""):
        assert hashtags.hashtag_key(nothing) is None, nothing


def test_mentions_use_mastodon_markup_and_unknown_handles_stay_text() -> None:
    dora = remote("dora", "delta.test")
    r = content.render_content(
        "Hallo @dora@delta.test und @ghost@nowhere.test, mail: info@alpha.test",
        base_url=BASE,
        mentions={"dora@delta.test": dora},
    )
    assert (
        '<span class="h-card"><a href="https://delta.test/@dora" class="u-url mention">'
        "@<span>dora</span></a></span>"
    ) in r.content
    assert "@ghost@nowhere.test" in r.content and "mail: info@alpha.test" in r.content
    assert r.tags == [{"type": "Mention", "href": DORA, "name": "@dora@delta.test"}]


def test_nothing_is_linked_inside_code_or_links() -> None:
    dora = remote("dora", "delta.test")
    r = content.render_content(
        "`#notag @dora@delta.test`\n\n    #alsono\n\n[#linked](https://x.test/) https://x.test/a#frag",
        base_url=BASE,
        mentions={"dora@delta.test": dora},
    )
    assert r.tags == [] and "mention" not in r.content


def test_bare_mentions_mean_local_actors() -> None:
    assert content.find_mentions(
        "Hi @kv and @Erika@Beta.test, `@code`", local_host="alpha.test"
    ) == [
        "kv@alpha.test",
        "erika@beta.test",
    ]


def test_mentions_keep_the_port_of_the_handle() -> None:
    text = "Hi @news@Beta.test:8443, @kv, @ann@alpha.test, @x@y.org:123456 and @z@y.org: hi"
    assert content.find_mentions(text, local_host="alpha.test:8080") == [
        "news@beta.test:8443",
        "kv@alpha.test:8080",
        "ann@alpha.test:8080",  # our port-less host name means us
        "x@y.org",  # no port has six digits: the handle ends before the colon
        "z@y.org",
    ]


def test_extra_tags_are_appended_once() -> None:
    r = content.render_content(
        "About #Klima", base_url=BASE, mentions={}, extra_tags=("klima", "Verkehr")
    )
    assert r.content.endswith(
        '<p><a href="https://alpha.test/tags/verkehr" class="mention hashtag" rel="tag">'
        "#<span>Verkehr</span></a></p>"
    )
    assert [t["name"] for t in r.tags] == ["#klima", "#verkehr"]


HOSTILE = """<script>alert(1)</script>
<img src=x onerror="alert(1)"> <iframe src="https://evil.test/"></iframe>
[click](javascript:alert(1)) [data](data:text/html;base64,PHNjcmlwdD4=)
<a href="javascript:alert(1)">raw</a> <svg onload=alert(1)>

<style>body{display:none}</style> <div style="position:fixed" onclick="x()">div</div>
"""


def test_hostile_markdown_and_html_never_survive() -> None:
    evil = remote("eve", "evil.test", url="javascript:alert(1)")
    r = content.render_content(
        HOSTILE + "\n\n@eve@evil.test #ok", base_url=BASE, mentions={"eve@evil.test": evil}
    )
    # Raw HTML only ever shows as escaped text; the only markup is ours.
    assert "&lt;script&gt;" in r.content
    for tag in re.findall(r"<[^>]*>", r.content):
        name = re.match(r"</?([a-z0-9]+)", tag)
        assert name is not None and name.group(1) in {"p", "a", "span", "br"}, tag
        assert not re.search(r"\s(on\w+|style|src)=", tag), tag
        for href in re.findall(r'href="([^"]*)"', tag):
            assert href.startswith("https://"), tag
    # The mention falls back to the actor id when its profile URL is not http(s).
    assert 'href="https://evil.test/users/eve"' in r.content


def test_sanitised_html_input_keeps_only_the_allow_list() -> None:
    """What the Mastodon API path may hand in after Markdown: the sanitiser decides."""
    from federation.content import sanitize_html

    cleaned = sanitize_html(
        '<p onclick="x()">Hi <a href="javascript:alert(1)">a</a><script>alert(1)</script>'
        '<iframe src="https://evil.test"></iframe><img src=x onerror=alert(1)></p>'
    )
    assert "script" not in cleaned and "iframe" not in cleaned and "<img" not in cleaned
    assert "onclick" not in cleaned and "onerror" not in cleaned and "javascript" not in cleaned


async def test_hostile_title_and_summary_stay_text_on_the_wire(world: World) -> None:
    status = await publish(
        world,
        Draft(text="Body", title="<b>T</b><script>x</script>", summary="<i>cw</i>"),
        mentions={},
    )
    note = documents.render_note(status)
    assert note["name"] == "<b>T</b><script>x</script>"  # plain text: receivers escape it
    assert note["summary"] == "<i>cw</i>"


# --- Note and Article -----------------------------------------------------------------------


async def test_note_carries_full_text_language_and_content_warning(world: World) -> None:
    status = await publish(
        world,
        Draft(text="Ein *kurzer* Text #News", summary="Politik", language="de"),
        mentions={},
    )
    note = documents.render_note(status)
    sid = status.id
    assert note["id"] == f"{NEWS}/statuses/{sid}" and note["type"] == "Note"
    assert note["url"] == f"{BASE}/@news/{sid}"
    assert note["attributedTo"] == NEWS
    assert note["summary"] == "Politik" and note["sensitive"] is True
    assert note["published"] == "2026-03-01T12:00:00Z"
    assert "<em>kurzer</em>" in str(note["content"])
    assert note["contentMap"] == {"de": note["content"]}
    assert "name" not in note and "inReplyTo" not in note
    assert note["tag"] == [{"type": "Hashtag", "href": f"{BASE}/tags/news", "name": "#news"}]


async def test_article_has_name_short_summary_and_canonical_url(world: World) -> None:
    text = "Erster Absatz. " + "Sehr langer Text " * 60
    status = await publish(world, Draft(text=text, title="Jahresbericht 2025"), mentions={})
    doc = documents.render_note(status)
    assert doc["type"] == "Article" and doc["name"] == "Jahresbericht 2025"
    summary = doc["summary"]
    assert isinstance(summary, str) and summary.startswith("Erster Absatz.")
    assert summary.endswith("…") and len(summary) <= posts.ARTICLE_SUMMARY_CHARS + 1
    assert doc["url"] == f"{BASE}/@news/{status.id}"
    assert doc["sensitive"] is False and "Sehr langer Text" in str(doc["content"])
    given = await publish(
        world, Draft(text=text, title="Kurz", summary="Das Wichtigste in Kürze"), mentions={}
    )
    assert documents.render_note(given)["summary"] == "Das Wichtigste in Kürze"


async def test_rendered_posts_and_activities_contain_no_null(world: World) -> None:
    """No summary, no reply, no language, no edit: those keys are absent, never null."""
    note = await publish(world, Draft(text="Schlicht"), mentions={})
    article = await publish(world, Draft(text="Lang", title="Titel"), mentions={})
    async with world.sessionmaker() as session:
        wrapper = await posts.boost(
            session,
            PublishContext(uris=LocalUris(BASE), clock=lambda: T0),
            actor=await world.actor(session),
            target=note,
        )
        row = await session.get(Status, article.id)
        assert row is not None
        await posts.edit(
            session,
            PublishContext(uris=LocalUris(BASE), clock=lambda: T0 + timedelta(seconds=5)),
            status=row,
            actor=await world.actor(session),
            draft=Draft(text="Länger", title="Titel"),
            mentions={},
        )
        await posts.delete(
            session,
            PublishContext(uris=LocalUris(BASE), clock=lambda: T0),
            status=row,
            actor=await world.actor(session),
        )
        await session.commit()
    rendered = documents.render_note(note)
    assert "summary" not in rendered and "inReplyTo" not in rendered
    assert "contentMap" not in rendered and "updated" not in rendered
    docs: list[object] = [
        rendered,
        documents.render_note(article),
        documents.render_create(note),
        documents.render_announce(wrapper, note.uri),
        documents.render_tombstone(article),
    ]
    for kind in ("Create", "Update", "Delete", "Announce"):
        docs += [activity for activity, _ in await sent(world, kind)]
    assert len(docs) == 10
    assert [null_paths(doc) for doc in docs] == [[]] * len(docs)


async def test_invalid_drafts_are_refused(world: World) -> None:
    for draft, message in [
        (Draft(text="  "), "empty"),
        (Draft(text="x", language="not a language"), "language"),
        (Draft(text="x", tags=("no spaces",)), "hashtag"),
        (Draft(text="x", title="t" * 1000), "title"),
        (Draft(text="nobody here", visibility=Visibility.DIRECT), "mention"),
    ]:
        with pytest.raises(NewsError, match=message):
            await publish(world, draft, mentions={})


def test_parse_visibility() -> None:
    assert posts.parse_visibility("public") == Visibility.PUBLIC
    assert posts.parse_visibility("Unlisted") == Visibility.UNLISTED
    assert posts.parse_visibility("followers") == Visibility.PRIVATE
    assert posts.parse_visibility("private") == Visibility.PRIVATE
    assert posts.parse_visibility("direct") == Visibility.DIRECT
    with pytest.raises(NewsError, match="unknown visibility"):
        posts.parse_visibility("secret")


# --- addressing and recipients --------------------------------------------------------------


@pytest.mark.parametrize(
    ("visibility", "to", "cc", "inboxes"),
    [
        (
            Visibility.PUBLIC,
            [PUBLIC],
            [FOLLOWERS, DORA],
            FOLLOWER_INBOXES | {"https://delta.test/inbox"},
        ),
        (
            Visibility.UNLISTED,
            [FOLLOWERS],
            [PUBLIC, DORA],
            FOLLOWER_INBOXES | {"https://delta.test/inbox"},
        ),
        (Visibility.PRIVATE, [FOLLOWERS], [DORA], FOLLOWER_INBOXES | {"https://delta.test/inbox"}),
        (Visibility.DIRECT, [DORA], [], {"https://delta.test/inbox"}),
    ],
)
async def test_addressing_follows_the_contract_table(
    world: World, visibility: Visibility, to: list[str], cc: list[str], inboxes: set[str]
) -> None:
    status = await publish(world, Draft(text="Hallo @dora@delta.test", visibility=visibility))
    [(create, sent_to)] = await sent(world, "Create")
    assert create["id"] == f"{status.uri}/activity" and create["actor"] == NEWS
    assert (create["to"], create["cc"]) == (to, cc)
    note = as_dict(create["object"])
    assert (note["to"], note["cc"]) == (to, cc)
    assert note["tag"] == [{"type": "Mention", "href": DORA, "name": "@dora@delta.test"}]
    assert sent_to == inboxes
    async with world.sessionmaker() as session:
        mentioned = list(await session.scalars(select(Mention.actor_uri)))
        readers = set(await session.scalars(select(TimelineEntry.actor_id)))
    assert mentioned == [DORA]
    # Local followers read everything but direct posts in their home timeline.
    expected = {world.news_id} | (set() if visibility == Visibility.DIRECT else {world.reader_id})
    assert readers == expected


async def test_blocked_follower_gets_nothing(world: World) -> None:
    from actors.models import Block

    async with world.sessionmaker() as session:
        session.add(
            Block(
                blocker_uri="https://gamma.test/users/max",
                blocked_uri=NEWS,
                activity_uri="https://gamma.test/b/1",
                created_at=T0,
            )
        )
        await session.commit()
    await publish(world, Draft(text="news"), mentions={})
    [(_, inboxes)] = await sent(world, "Create")
    assert inboxes == {"https://beta.test/inbox"}


async def test_reply_addresses_and_counts_on_the_parent(world: World) -> None:
    async with world.sessionmaker() as session:
        session.add(
            Status(
                id=1,
                uri="https://delta.test/users/dora/statuses/1",
                actor_uri=DORA,
                type="Note",
                visibility="public",
                recipients={},
                tags=[],
                replies_count=0,
                reblogs_count=0,
                favourites_count=0,
                published_at=T0,
                created_at=T0,
            )
        )
        await session.commit()
    reply = await publish(
        world,
        Draft(text="Danke!", in_reply_to="https://delta.test/users/dora/statuses/1"),
        mentions={},
    )
    note = documents.render_note(reply)
    assert note["inReplyTo"] == "https://delta.test/users/dora/statuses/1"
    assert note["cc"] == [FOLLOWERS, DORA]
    [(_, inboxes)] = await sent(world, "Create")
    assert "https://delta.test/inbox" in inboxes
    async with world.sessionmaker() as session:
        parent = await session.get(Status, 1)
    assert parent is not None and parent.replies_count == 1


# --- edits and deletes ----------------------------------------------------------------------


async def test_edit_sends_update_with_newer_updated_to_earlier_recipients(world: World) -> None:
    status = await publish(world, Draft(text="Erste Fassung @dora@delta.test"))
    # max stops following after the post went out: the edit must still reach him.
    async with world.sessionmaker() as session:
        follow = await session.scalar(
            select(Follow).where(Follow.follower_uri == "https://gamma.test/users/max")
        )
        assert follow is not None
        await session.delete(follow)
        await session.commit()
    async with world.sessionmaker() as session:
        row = await session.get(Status, status.id)
        assert row is not None
        # Same second as the publication: `updated` must still be strictly newer.
        await posts.edit(
            session,
            PublishContext(uris=LocalUris(BASE), clock=lambda: T0 + timedelta(milliseconds=100)),
            status=row,
            actor=await world.actor(session),
            draft=Draft(text="Zweite Fassung #korrektur", visibility=Visibility.DIRECT),
            mentions={},
        )
        await session.commit()
    [(update, inboxes)] = await sent(world, "Update")
    note = as_dict(update["object"])
    assert note["id"] == status.uri and note["published"] == "2026-03-01T12:00:00Z"
    assert note["updated"] == "2026-03-01T12:00:01Z"
    assert "Zweite Fassung" in str(note["content"])
    # Visibility cannot change by editing; dora is no longer mentioned.
    assert (note["to"], note["cc"]) == ([PUBLIC], [FOLLOWERS])
    assert inboxes == FOLLOWER_INBOXES | {"https://delta.test/inbox"}
    async with world.sessionmaker() as session:
        assert list(await session.scalars(select(Mention))) == []


async def test_delete_sends_tombstone_to_everyone_it_went_to(world: World) -> None:
    status = await publish(
        world, Draft(text="Bald weg @dora@delta.test", visibility=Visibility.PRIVATE)
    )
    async with world.sessionmaker() as session:
        row = await session.get(Status, status.id)
        assert row is not None
        await posts.delete(
            session,
            PublishContext(uris=LocalUris(BASE), clock=lambda: T0),
            status=row,
            actor=await world.actor(session),
        )
        await session.commit()
    [(activity, inboxes)] = await sent(world, "Delete")
    assert activity["object"] == {"id": status.uri, "type": "Tombstone", "atomUri": status.uri}
    assert (activity["to"], activity["cc"]) == ([FOLLOWERS], [DORA])
    assert inboxes == FOLLOWER_INBOXES | {"https://delta.test/inbox"}
    async with world.sessionmaker() as session:
        row = await session.get(Status, status.id)
        assert row is not None and row.deleted_at == T0
        assert list(await session.scalars(select(TimelineEntry))) == []
        with pytest.raises(NewsError, match="deleted"):
            await posts.delete(
                session,
                PublishContext(uris=LocalUris(BASE), clock=lambda: T0),
                status=row,
                actor=await world.actor(session),
            )


async def test_draft_of_gives_back_what_was_written(world: World) -> None:
    draft = Draft(
        text="Text mit #Klima", title="Titel", language="de", tags=("Verkehr",), sensitive=True
    )
    status = await publish(world, draft, mentions={})
    # Hashtags come back in the form Mastodon keys them.
    assert posts.draft_of(status) == replace(draft, tags=("verkehr",))
    given = Draft(text="x", title="T", summary="Eigene Zusammenfassung")
    assert posts.draft_of(await publish(world, given, mentions={})) == given


# --- boosts ---------------------------------------------------------------------------------


async def test_boost_announces_to_followers_and_author_and_undo_reverts(world: World) -> None:
    async with world.sessionmaker() as session:
        target = Status(
            id=7,
            uri="https://delta.test/users/dora/statuses/7",
            url="https://delta.test/@dora/7",
            actor_uri=DORA,
            type="Note",
            visibility="public",
            recipients={},
            tags=[],
            replies_count=0,
            reblogs_count=0,
            favourites_count=0,
            published_at=T0,
            created_at=T0,
        )
        session.add(target)
        await session.flush()
        actor = await world.actor(session)
        wrapper = await posts.boost(
            session,
            PublishContext(uris=LocalUris(BASE), clock=lambda: T0),
            actor=actor,
            target=target,
        )
        again = await posts.boost(
            session,
            PublishContext(uris=LocalUris(BASE), clock=lambda: T0),
            actor=actor,
            target=target,
        )
        assert again.id == wrapper.id and target.reblogs_count == 1
        await session.commit()
    [(announce, inboxes)] = await sent(world, "Announce")
    assert announce == {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{NEWS}/statuses/{wrapper.id}/activity",
        "type": "Announce",
        "actor": NEWS,
        "published": "2026-03-01T12:00:00Z",
        "to": [PUBLIC],
        "cc": [FOLLOWERS, DORA],
        "object": "https://delta.test/users/dora/statuses/7",
    }
    assert inboxes == FOLLOWER_INBOXES | {"https://delta.test/inbox"}
    async with world.sessionmaker() as session:
        target2 = await session.get(Status, 7)
        assert target2 is not None
        await posts.unboost(
            session,
            PublishContext(uris=LocalUris(BASE), clock=lambda: T0),
            actor=await world.actor(session),
            target=target2,
        )
        await session.commit()
        assert target2.reblogs_count == 0
        assert await session.get(Status, wrapper.id) is None
    [(undo, undo_inboxes)] = await sent(world, "Undo")
    assert undo["object"] == {k: v for k, v in announce.items() if k != "@context"}
    assert undo_inboxes == inboxes


async def test_only_public_and_unlisted_posts_can_be_boosted(world: World) -> None:
    status = await publish(world, Draft(text="intern", visibility=Visibility.PRIVATE), mentions={})
    async with world.sessionmaker() as session:
        row = await session.get(Status, status.id)
        assert row is not None
        with pytest.raises(NewsError, match="public and unlisted"):
            await posts.boost(
                session,
                PublishContext(uris=LocalUris(BASE), clock=lambda: T0),
                actor=await world.actor(session),
                target=row,
            )
