"""Publishing news across complete instances over real HTTP: what arrives where, and
what our post pages, outbox and feeds serve."""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass

import aiohttp
import feedparser
import pytest
from sqlalchemy import select

from actors.local import get_actor
from actors.models import ActorType
from actors.uris import LocalUris
from federation.rendering import PUBLIC
from inbox.handlers import HANDLERS
from inbox.models import InboxActivity
from outbox import content, documents, posts
from outbox.context import PublishContext
from outbox.models import Activity, Delivery, Status, Visibility
from outbox.posts import Draft
from outbox.timelines import Page, home_timeline
from server import actions
from tests.conftest import Instance, StartInstance
from tests.helpers import settle

AP = "application/activity+json"


@dataclass
class Net:
    alpha: Instance  # news (organisation) and kv (its parent organisation)
    beta: Instance  # erika and otto follow news
    gamma: Instance  # max follows news and kv
    delta: Instance  # dora follows nobody; delta's domain has a port (delta.test:8443)

    @property
    def all(self) -> tuple[Instance, ...]:
        return (self.alpha, self.beta, self.gamma, self.delta)


@pytest.fixture
async def net(start_instance: StartInstance) -> Net:
    n = Net(
        await start_instance("alpha"),
        await start_instance("beta"),
        await start_instance("gamma"),
        await start_instance("delta", domain="delta.test:8443"),
    )
    await n.alpha.add_actor("news", display_name="Alpha News", summary="Neuigkeiten aus Alpha")
    await n.alpha.add_actor("kv", display_name="Kreisverband")
    await n.beta.add_actor("erika", ActorType.PERSON)
    await n.beta.add_actor("otto", ActorType.PERSON)
    await n.gamma.add_actor("max", ActorType.PERSON)
    await n.delta.add_actor("dora", ActorType.PERSON)
    await actions.follow(n.beta.services, "erika", "news@alpha.test")
    await actions.follow(n.beta.services, "otto", "news@alpha.test")
    await actions.follow(n.gamma.services, "max", "news@alpha.test")
    await actions.follow(n.gamma.services, "max", "kv@alpha.test")
    await settle(*n.all)
    return n


async def post(inst: Instance, actor_name: str, draft: Draft) -> Status:
    """Publish as the CLI and the client API do: mentions first, then one transaction."""
    svc = inst.services
    mentions = await content.prepare_mentions(
        svc.directory, draft.text, local_base_url=inst.base_url, webfinger_scheme="http"
    )
    async with inst.sessionmaker() as session:
        actor = await get_actor(session, actor_name)
        status = await posts.publish(
            session,
            PublishContext(uris=LocalUris(inst.base_url), clock=svc.clock),
            actor=actor,
            draft=draft,
            mentions=mentions,
        )
        await session.commit()
    return status


async def received(inst: Instance, kind: str) -> list[dict[str, object]]:
    async with inst.sessionmaker() as session:
        rows = await session.scalars(
            select(InboxActivity.body).where(InboxActivity.type == kind).order_by(InboxActivity.id)
        )
        return [json.loads(body) for body in rows]


def obj(activity: dict[str, object]) -> dict[str, object]:
    inner = activity["object"]
    assert isinstance(inner, dict)
    return inner


async def get_json(client: aiohttp.ClientSession, url: str, status: int = 200) -> dict[str, object]:
    async with client.get(url, headers={"Accept": AP}) as resp:
        assert resp.status == status, await resp.text()
        if status != 404:
            assert resp.headers["Content-Type"].startswith(AP)
        assert resp.headers.get("Vary") == "Accept"
        doc = await resp.json(content_type=None)
    assert isinstance(doc, dict)
    return doc


async def get_html(client: aiohttp.ClientSession, url: str, status: int = 200) -> str:
    async with client.get(url, headers={"Accept": "text/html"}) as resp:
        assert resp.status == status
        return await resp.text()


async def test_public_post_reaches_followers_as_mastodon_expects(net: Net) -> None:
    status = await post(
        net.alpha,
        "news",
        Draft(
            text="Neues vom **Kreisverband** #Klimaschutz #Bürgerbüro, danke @max@gamma.test!",
            language="de",
        ),
    )
    await settle(*net.all)
    news_uri, max_uri = net.alpha.actor_uri("news"), net.gamma.actor_uri("max")
    for inst in (net.beta, net.gamma):
        [create] = await received(inst, "Create")
        assert create["actor"] == news_uri and create["id"] == f"{status.uri}/activity"
        note = obj(create)
        assert note["type"] == "Note" and note["id"] == status.uri
        assert note["url"] == f"{net.alpha.base_url}/@news/{status.id}"
        assert note["to"] == [PUBLIC] and note["cc"] == [f"{news_uri}/followers", max_uri]
        assert note["contentMap"] == {"de": note["content"]}
        assert note["tag"] == [
            {"type": "Mention", "href": max_uri, "name": "@max@gamma.test"},
            {
                "type": "Hashtag",
                "href": "http://alpha.test/tags/klimaschutz",
                "name": "#klimaschutz",
            },
            {"type": "Hashtag", "href": "http://alpha.test/tags/burgerburo", "name": "#burgerburo"},
        ]
        content = str(note["content"])
        assert "<strong>Kreisverband</strong>" in content
        assert 'class="mention hashtag" rel="tag">#<span>Klimaschutz</span></a>' in content
        assert 'class="u-url mention">@<span>max</span></a>' in content
    assert await received(net.delta, "Create") == []
    if "Create" in HANDLERS:  # receiving posts is built separately; check once it is there
        for inst, name in ((net.beta, "erika"), (net.beta, "otto"), (net.gamma, "max")):
            async with inst.sessionmaker() as session:
                reader = await get_actor(session, name)
                timeline = await home_timeline(session, reader.id, Page())
            assert [s.uri for s in timeline] == [status.uri]
    # Two followers on beta share one delivery to its shared inbox.
    async with net.alpha.sessionmaker() as session:
        inboxes = set(
            await session.scalars(
                select(Delivery.inbox_uri)
                .join(Activity, Activity.id == Delivery.activity_id)
                .where(Activity.type == "Create")
            )
        )
    assert inboxes == {"http://beta.test/inbox", "http://gamma.test/inbox"}


async def test_followers_only_and_direct_reach_only_their_audience(net: Net) -> None:
    dora = net.delta.actor_uri("dora")
    followers_only = await post(
        net.alpha, "news", Draft(text="Nur für Mitglieder", visibility=Visibility.PRIVATE)
    )
    await settle(*net.all)
    for inst in (net.beta, net.gamma):
        [create] = await received(inst, "Create")
        assert obj(create)["id"] == followers_only.uri
        assert obj(create)["to"] == [f"{net.alpha.actor_uri('news')}/followers"]
        assert create["cc"] == [] and obj(create)["cc"] == []
    assert await received(net.delta, "Create") == []

    # Followers-only with a mention also reaches the (non-following) mentioned actor.
    mentioned = await post(
        net.alpha,
        "news",
        Draft(text="Für Mitglieder und @dora@delta.test:8443", visibility=Visibility.PRIVATE),
    )
    await settle(*net.all)
    [to_dora] = await received(net.delta, "Create")
    assert obj(to_dora)["id"] == mentioned.uri and obj(to_dora)["cc"] == [dora]

    direct = await post(
        net.alpha,
        "news",
        Draft(text="@dora@delta.test:8443 Ihre Anfrage", visibility=Visibility.DIRECT),
    )
    await settle(*net.all)
    creates = await received(net.delta, "Create")
    assert [obj(c)["id"] for c in creates] == [mentioned.uri, direct.uri]
    note = obj(creates[-1])
    assert note["to"] == [dora] and note["cc"] == []
    assert note["tag"] == [{"type": "Mention", "href": dora, "name": "@dora@delta.test:8443"}]
    for inst in (net.beta, net.gamma):
        assert direct.uri not in {obj(c)["id"] for c in await received(inst, "Create")}


async def test_edit_arrives_as_update_and_delete_as_tombstone(
    net: Net, client: aiohttp.ClientSession
) -> None:
    status = await post(net.alpha, "news", Draft(text="Termin am Montag"))
    await settle(*net.all)
    svc = net.alpha.services
    async with net.alpha.sessionmaker() as session:
        row = await session.get(Status, status.id)
        assert row is not None
        await posts.edit(
            session,
            PublishContext(uris=LocalUris(net.alpha.base_url), clock=svc.clock),
            status=row,
            actor=await get_actor(session, "news"),
            draft=Draft(text="Termin am **Dienstag**"),
            mentions={},
        )
        await session.commit()
    await settle(*net.all)
    for inst in (net.beta, net.gamma):
        [create] = await received(inst, "Create")
        [update] = await received(inst, "Update")
        note = obj(update)
        assert note["id"] == status.uri and "<strong>Dienstag</strong>" in str(note["content"])
        assert str(note["updated"]) > str(obj(create)["published"])
    doc = await get_json(client, status.uri)
    assert "Dienstag" in str(doc["content"]) and "updated" in doc

    async with net.alpha.sessionmaker() as session:
        row = await session.get(Status, status.id)
        assert row is not None
        await posts.delete(
            session,
            PublishContext(uris=LocalUris(net.alpha.base_url), clock=svc.clock),
            status=row,
            actor=await get_actor(session, "news"),
        )
        await session.commit()
    await settle(*net.all)
    for inst in (net.beta, net.gamma):
        [delete] = await received(inst, "Delete")
        assert obj(delete)["id"] == status.uri and obj(delete)["type"] == "Tombstone"
    tombstone = await get_json(client, status.uri, status=410)
    assert tombstone["type"] == "Tombstone" and tombstone["id"] == status.uri
    assert "deleted" in await get_html(client, str(status.url), status=410)
    await get_json(client, f"{status.uri}/activity", status=410)


async def test_article_object_json_and_html_page(net: Net, client: aiohttp.ClientSession) -> None:
    article = await post(
        net.alpha,
        "news",
        Draft(
            text="Der **Vorstand** hat beschlossen. " + "Mehr Text folgt hier. " * 40,
            title="Beschluss <des> Vorstands",
            language="de",
            tags=("Vorstand",),
        ),
    )
    await settle(*net.all)
    [create] = await received(net.beta, "Create")
    wire = obj(create)
    assert wire["type"] == "Article" and wire["name"] == "Beschluss <des> Vorstands"
    assert str(wire["summary"]).startswith("Der Vorstand hat beschlossen.")
    assert wire["url"] == f"{net.alpha.base_url}/@news/{article.id}"

    doc = await get_json(client, article.uri)
    assert doc["@context"] == documents.NOTE_CONTEXT
    assert {k: v for k, v in doc.items() if k != "@context"} == wire
    assert await get_json(client, str(article.url)) == doc
    activity = await get_json(client, f"{article.uri}/activity")
    assert activity["type"] == "Create" and obj(activity) == wire

    page = await get_html(client, str(article.url))
    assert page == await get_html(client, article.uri)
    assert '<article class="h-entry post" lang="de">' in page
    assert '<h1 class="p-name">Beschluss &lt;des&gt; Vorstands</h1>' in page
    assert 'class="e-content"' in page and "<strong>Vorstand</strong>" in page
    assert f'class="u-url u-uid" href="{article.url}"' in page
    assert re.search(r'<time class="dt-published" datetime="\d{4}-\d\d-\d\dT', page)
    assert 'class="p-author h-card" href="http://alpha.test/@news">Alpha News</a>' in page
    assert f'<link rel="alternate" type="application/activity+json" href="{article.uri}">' in page
    assert 'href="http://alpha.test/tags/vorstand"' in page

    tag_page = await get_html(client, f"{net.alpha.base_url}/tags/vorstand")
    assert "Beschluss &lt;des&gt; Vorstands" in tag_page


async def test_private_unknown_and_foreign_posts_are_not_served(
    net: Net, client: aiohttp.ClientSession
) -> None:
    private = await post(net.alpha, "news", Draft(text="intern", visibility=Visibility.PRIVATE))
    unlisted = await post(net.alpha, "news", Draft(text="leise", visibility=Visibility.UNLISTED))
    await get_json(client, private.uri, status=404)
    await get_html(client, str(private.url), status=404)
    await get_json(client, unlisted.uri)
    base = net.alpha.base_url
    await get_json(client, f"{base}/users/kv/statuses/{unlisted.id}", status=404)
    await get_json(client, f"{base}/users/news/statuses/123", status=404)
    await get_html(client, f"{base}/@news/not-a-number", status=404)


async def test_outbox_pages_creates_and_announces_newest_first(
    net: Net, client: aiohttp.ClientSession
) -> None:
    posted = [await post(net.alpha, "news", Draft(text=f"Meldung {i}")) for i in range(22)]
    await post(net.alpha, "news", Draft(text="nur Follower", visibility=Visibility.PRIVATE))
    async with net.alpha.sessionmaker() as session:
        target = await session.get(Status, posted[0].id)
        assert target is not None
        boost = await posts.boost(
            session,
            PublishContext(uris=LocalUris(net.alpha.base_url), clock=net.alpha.services.clock),
            actor=await get_actor(session, "news"),
            target=target,
        )
        await session.commit()
    outbox = net.alpha.actor_uri("news") + "/outbox"
    head = await get_json(client, outbox)
    assert head["type"] == "OrderedCollection" and head["totalItems"] == 23
    first = await get_json(client, str(head["first"]))
    assert first["type"] == "OrderedCollectionPage" and first["partOf"] == outbox
    items = first["orderedItems"]
    assert isinstance(items, list) and len(items) == 20
    assert items[0]["type"] == "Announce" and items[0]["object"] == posted[0].uri
    assert items[0]["id"] == f"{boost.uri}/activity"
    assert [i["object"]["id"] for i in items[1:]] == [p.uri for p in reversed(posted)][:19]
    assert all("@context" not in i for i in items)
    second = await get_json(client, str(first["next"]))
    rest = second["orderedItems"]
    assert isinstance(rest, list)
    assert [i["object"]["id"] for i in rest] == [p.uri for p in reversed(posted)][19:]
    back = await get_json(client, str(second["prev"]))
    assert back["orderedItems"] == items
    # The boost's own URL answers with the Announce.
    assert (await get_json(client, boost.uri))["type"] == "Announce"


async def test_parent_organisation_relays_branch_news_by_boost(net: Net) -> None:
    branch_post = await post(net.alpha, "news", Draft(text="Bericht aus dem Ortsverband"))
    async with net.alpha.sessionmaker() as session:
        target = await session.get(Status, branch_post.id)
        assert target is not None
        await posts.boost(
            session,
            PublishContext(uris=LocalUris(net.alpha.base_url), clock=net.alpha.services.clock),
            actor=await get_actor(session, "kv"),
            target=target,
        )
        await session.commit()
    await settle(*net.all)
    # max follows kv: the relay reaches him; beta follows only news and has the post already.
    [announce] = await received(net.gamma, "Announce")
    assert announce["actor"] == net.alpha.actor_uri("kv")
    assert announce["object"] == branch_post.uri
    assert announce["to"] == [PUBLIC]
    assert announce["cc"] == [
        net.alpha.actor_uri("kv") + "/followers",
        net.alpha.actor_uri("news"),
    ]
    assert await received(net.beta, "Announce") == []
    async with net.alpha.sessionmaker() as session:
        counted = await session.get(Status, branch_post.id)
    assert counted is not None and counted.reblogs_count == 1


async def test_feeds_and_profile_list_public_posts(net: Net, client: aiohttp.ClientSession) -> None:
    note = await post(net.alpha, "news", Draft(text="Kurze Meldung mit *Betonung* und mehr Worten"))
    article = await post(
        net.alpha, "news", Draft(text="Langer Text", title="Ein Artikel", summary="Kurzfassung")
    )
    await post(net.alpha, "news", Draft(text="leise", visibility=Visibility.UNLISTED))
    await post(net.alpha, "news", Draft(text="intern", visibility=Visibility.PRIVATE))
    base = net.alpha.base_url
    for url, kind in [
        (f"{base}/users/news/feed.rss", "rss"),
        (f"{base}/users/news/feed.atom", "atom"),
        (f"{base}/@news.rss", "rss"),
        (f"{base}/@news.atom", "atom"),
    ]:
        async with client.get(url) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith(f"application/{kind}+xml")
            body = await resp.read()
        feed = feedparser.parse(body)
        assert not feed.bozo, feed.bozo_exception
        assert feed.version.startswith(kind)
        assert feed.feed.title == "Alpha News"
        assert [e.link for e in feed.entries] == [article.url, note.url]
        assert [e.title for e in feed.entries] == [
            "Ein Artikel",
            "Kurze Meldung mit Betonung und mehr Worten",
        ]
        # RSS carries a Note's HTML in <description>, Atom in <content type="html">.
        entry = feed.entries[1]
        assert "<em>Betonung</em>" in (
            entry.content[0].value if "content" in entry else entry.summary
        )
        assert "<p>Langer Text</p>" in feed.entries[0].content[0].value
        assert feed.entries[0].summary == "Kurzfassung"
        assert feed.entries[1].published_parsed is not None
    profile = await get_html(client, f"{base}/@news")
    assert (
        f'type="application/rss+xml" title="Alpha News (RSS)" href="{base}/users/news/feed.rss"'
        in profile
    )
    assert 'type="application/atom+xml"' in profile
    assert profile.count('class="h-entry post"') == 2
    assert "Kurzfassung" in profile and "leise" not in profile and "intern" not in profile
    # Actor documents for servers are untouched by the profile's posts.
    actor = await get_json(client, net.alpha.actor_uri("news"))
    assert actor["type"] == "Organization"


# Anything a reader parsing a title as HTML would take for a tag, comment or declaration.
MARKUP = re.compile(r"<[A-Za-z/!?]")


async def test_feed_titles_are_text_without_markup(
    start_instance: StartInstance, client: aiohttp.ClientSession
) -> None:
    alpha = await start_instance("alpha")
    await alpha.add_actor("news", display_name="<b>Alpha</b> & Co")
    drafts = [
        # Markdown with raw HTML disabled keeps these as visible text in the post.
        Draft(text="<script>alert(1)</script> Meldung beginnt hier"),
        Draft(text="&lt;img src=x onerror=alert(2)&gt; per Entity"),
        Draft(text="Text", summary="<i>Achtung</i> Inhalt"),
        Draft(text="Langer Text", title="Tom & Jerry <!-- x --> <em>kursiv</em>"),
        Draft(text="Langer Text", title="Tom & Jerry"),
        Draft(text="1 < 2 & 3 > 2"),
        Draft(text="<<b>>script>alert(3)<</b>/script>"),
        Draft(text="<script></script>"),
    ]
    posts = [await post(alpha, "news", d) for d in drafts]
    expected = [
        "alert(1) Meldung beginnt hier",
        "per Entity",
        "Achtung Inhalt",
        "Tom & Jerry kursiv",
        "Tom & Jerry",
        "1 < 2 & 3 > 2",
        "<>script>alert(3)",  # `<>` is text to an HTML parser
        posts[-1].url,  # nothing left: the post's address
    ]
    for url in (f"{alpha.base_url}/users/news/feed.rss", f"{alpha.base_url}/@news.atom"):
        async with client.get(url) as resp:
            assert resp.status == 200
            body = await resp.read()
        raw_titles = re.findall(r"<title>(.*?)</title>", body.decode(), re.S)
        assert len(raw_titles) == 1 + len(drafts)
        for raw in raw_titles:
            assert not MARKUP.search(raw), raw
            assert not MARKUP.search(raw.replace("&lt;", "<")), raw
        feed = feedparser.parse(body)
        assert not feed.bozo, feed.bozo_exception
        assert feed.feed.title == "Alpha & Co"
        assert [e.title for e in feed.entries] == expected[::-1]


async def test_feed_summaries_are_text_that_readers_show_as_typed(
    start_instance: StartInstance, client: aiohttp.ClientSession
) -> None:
    alpha = await start_instance("alpha")
    await alpha.add_actor("news", summary="Wir <b>melden</b>")
    await post(alpha, "news", Draft(text="Text", summary="<script>alert(1)</script> Tom & Jerry"))
    async with client.get(f"{alpha.base_url}/users/news/feed.rss") as resp:
        assert resp.status == 200
        rss = (await resp.read()).decode()
    async with client.get(f"{alpha.base_url}/users/news/feed.atom") as resp:
        assert resp.status == 200
        atom = (await resp.read()).decode()
    # RSS descriptions are HTML to readers: once the XML is read, what is left shows the
    # typed text (entities) and holds no tag.
    [channel, item] = re.findall(r"<description>(.*?)</description>", rss, re.S)
    assert html.unescape(channel) == "Wir melden"
    assert html.unescape(item) == "&lt;script&gt;alert(1)&lt;/script&gt; Tom &amp; Jerry"
    [summary] = re.findall(r'<summary type="html">(.*?)</summary>', atom, re.S)
    assert summary == item
    for body in (rss, atom):
        entry = feedparser.parse(body).entries[0]
        assert html.unescape(entry.summary) == "<script>alert(1)</script> Tom & Jerry"


async def test_parent_on_another_instance_relays_a_branch_post(net: Net) -> None:
    """The parent organisation (on gamma) follows its branch (news on alpha), receives its
    post, and boosts it to its own followers (dora on delta) and the branch."""
    await net.gamma.add_actor("lv", display_name="Landesverband")
    await actions.follow(net.gamma.services, "lv", "news@alpha.test")
    await actions.follow(net.delta.services, "dora", "lv@gamma.test")
    await settle(*net.all)
    branch_post = await post(net.alpha, "news", Draft(text="Neues aus dem Ortsverband"))
    await settle(*net.all)
    async with net.gamma.sessionmaker() as session:
        known = await session.scalar(select(Status).where(Status.uri == branch_post.uri))
        assert known is not None, "gamma received the branch's post"
        wrapper = await posts.boost(
            session,
            PublishContext(uris=LocalUris(net.gamma.base_url), clock=net.gamma.services.clock),
            actor=await get_actor(session, "lv"),
            target=known,
        )
        await session.commit()
    await settle(*net.all)
    [announce] = await received(net.delta, "Announce")
    assert announce["id"] == f"{wrapper.uri}/activity"
    assert announce["actor"] == net.gamma.actor_uri("lv")
    assert announce["object"] == branch_post.uri
    assert announce["cc"] == [net.gamma.actor_uri("lv") + "/followers", net.alpha.actor_uri("news")]
    # The branch hears of the boost too (Mastodon counts it there).
    assert [a["id"] for a in await received(net.alpha, "Announce")] == [announce["id"]]
