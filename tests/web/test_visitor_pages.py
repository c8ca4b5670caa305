"""What visitors see (issue 16), over real HTTP: the front page (organisations, news,
network tree, feeds) in English and German, profiles with their follow button and a
group's members, tag feeds, and following from one's own server across two instances
(WebFinger's subscribe template, `/authorize_interaction`), with clear pages for unknown
handles, servers without a follow page and servers that do not answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from actors import accounts
from actors.local import find_actor, get_actor
from actors.models import ActorType, Follow, LinkTreeNode, RoleName
from outbox import posts
from outbox.posts import Draft
from server.web import remote_follow
from tests.conftest import Instance, LoopbackResolver, StartInstance
from tests.webpages import browser_client, create_person, csrf_of, sign_in

PASSWORD = "a long passphrase of hers"
SUBSCRIBE = "http://ostatus.org/schema/1.0/subscribe"


async def person_with_actor(inst: Instance, name: str) -> None:
    await create_person(inst, name, PASSWORD)
    await inst.add_actor(name, ActorType.PERSON, display_name=name.title())
    async with inst.sessionmaker() as session:
        user = await accounts.get_user(session, name)
        actor = await find_actor(session, name)
        assert actor is not None
        now = inst.services.clock()
        await accounts.grant_role(session, user=user, actor=actor, role=RoleName.OWNER, now=now)
        await session.commit()


async def post(inst: Instance, name: str, draft: Draft) -> None:
    async with inst.sessionmaker() as session:
        actor = await get_actor(session, name)
        await posts.publish(
            session, inst.services.publish_context(), actor=actor, draft=draft, mentions={}
        )
        await session.commit()


async def text_of(
    client: aiohttp.ClientSession, url: str, status: int = 200, language: str = ""
) -> str:
    headers = {"Accept-Language": language} if language else {}
    async with client.get(url, headers=headers) as resp:
        body = await resp.text()
        assert resp.status == status, body
        return body


async def test_front_page_lists_organisations_news_and_feeds_in_both_languages(
    start_instance: StartInstance, client: aiohttp.ClientSession
) -> None:
    alpha = await start_instance("alpha")
    await alpha.add_actor("bund", display_name="Bundesverband")
    await alpha.add_actor("chor", ActorType.GROUP, display_name="Chor")
    await post(alpha, "bund", Draft(text="Sommerfest am Samstag #fest"))
    # The network tree as the worker stores it (server.links.refresh_tree).
    async with alpha.sessionmaker() as session:
        now = alpha.services.clock()
        root = alpha.actor_uri("bund")
        for position, (uri, parent, depth, name) in enumerate(
            [
                ("https://land.example/users/by", root, 1, "Landesverband Bayern"),
                ("https://kreis.example/users/fue", "https://land.example/users/by", 2, "KV Fürth"),
            ]
        ):
            session.add(
                LinkTreeNode(
                    root_uri=root,
                    node_uri=uri,
                    parent_uri=parent,
                    depth=depth,
                    position=position,
                    display_name=name,
                    handle=uri.rsplit("/", 1)[1] + "@" + uri.split("/")[2],
                    url=uri,
                    refreshed_at=now,
                )
            )
        await session.commit()
    page = await text_of(client, f"{alpha.base_url}/")
    assert ">Network</h2>" in page and "Landesverband Bayern" in page and "KV Fürth" in page
    assert '<h2 id="actors-1">Organisations</h2>' in page and "Bundesverband" in page
    assert ">Groups</h2>" in page and "Chor" in page
    assert "Latest news" in page and "Sommerfest am Samstag" in page
    assert 'type="application/rss+xml"' in page and f"{alpha.base_url}/feed.rss" in page
    page = await text_of(client, f"{alpha.base_url}/", language="de")
    assert '<html lang="de">' in page
    assert "Organisationen" in page and "Gruppen" in page and "Neueste Nachrichten" in page
    assert "Feeds:" in page

    async with client.get(f"{alpha.base_url}/feed.rss") as resp:
        assert resp.content_type == "application/rss+xml"
        assert "Sommerfest am Samstag" in await resp.text()
    async with client.get(f"{alpha.base_url}/feed.atom") as resp:
        assert resp.content_type == "application/atom+xml"
    # The tag page links its own feed.
    page = await text_of(client, f"{alpha.base_url}/tags/fest")
    assert f'href="{alpha.base_url}/tags/fest.rss"' in page
    async with client.get(f"{alpha.base_url}/tags/fest.atom") as resp:
        assert resp.status == 200 and "Sommerfest" in await resp.text()
    async with client.get(f"{alpha.base_url}/tags/nothing.rss") as resp:
        assert resp.status == 200 and "Sommerfest" not in await resp.text()


async def test_profiles_show_follow_and_group_members(
    start_instance: StartInstance, client: aiohttp.ClientSession
) -> None:
    alpha = await start_instance("alpha")
    await alpha.add_actor("chor", ActorType.GROUP, display_name="Chor")
    await alpha.add_actor("bund", display_name="Bundesverband")
    page = await text_of(client, f"{alpha.base_url}/@bund")
    assert f'href="{alpha.base_url}/@bund/remote_follow"' in page and ">Follow</a>" in page
    assert "No public posts yet." in page and f"{alpha.base_url}/users/bund/feed.rss" in page
    page = await text_of(client, f"{alpha.base_url}/@chor")
    assert "0 members" in page and "Join from your server" in page and "Anyone may join." in page
    page = await text_of(client, f"{alpha.base_url}/@chor", language="de")
    assert "0 Mitglieder" in page and "Gruppe" in page
    await text_of(client, f"{alpha.base_url}/@nobody/remote_follow", status=404)


async def test_our_webfinger_names_the_subscribe_template(
    start_instance: StartInstance, client: aiohttp.ClientSession
) -> None:
    alpha = await start_instance("alpha")
    await alpha.add_actor("bund")
    async with client.get(
        f"{alpha.base_url}/.well-known/webfinger?resource=acct:bund@alpha.test"
    ) as resp:
        jrd = await resp.json(content_type=None)
    assert {
        "rel": SUBSCRIBE,
        "template": f"{alpha.base_url}/authorize_interaction?uri={{uri}}",
    } in jrd["links"]


async def remote_follow_form(browser: aiohttp.ClientSession, inst: Instance, name: str) -> str:
    return csrf_of(await text_of(browser, f"{inst.base_url}/@{name}/remote_follow"))


async def test_follow_from_your_own_server_across_two_instances(
    start_instance: StartInstance, resolver: LoopbackResolver
) -> None:
    alpha = await start_instance("alpha")
    beta = await start_instance("beta")
    await alpha.add_actor("bund", display_name="Bundesverband")
    await person_with_actor(beta, "berta")
    async with browser_client(resolver) as visitor:
        csrf = await remote_follow_form(visitor, alpha, "bund")
        async with visitor.post(
            f"{alpha.base_url}/@bund/remote_follow",
            data={"csrf_token": csrf, "handle": "@berta@beta.test"},
            allow_redirects=False,
        ) as resp:
            assert resp.status == 303
            location = resp.headers["Location"]
        target = urlsplit(location)
        assert f"{target.scheme}://{target.netloc}{target.path}" == (
            f"{beta.base_url}/authorize_interaction"
        )
        assert parse_qs(target.query) == {"uri": [alpha.actor_uri("bund")]}

        # On her own server, berta is asked to sign in first, then confirms.
        async with visitor.get(location, allow_redirects=False) as resp:
            assert resp.status == 303
            assert resp.headers["Location"].startswith("/auth/sign_in?next=")
            assert "authorize_interaction" in resp.headers["Location"]
        csrf = await sign_in(visitor, beta, "berta", PASSWORD)
        page = await text_of(visitor, location)
        assert "Bundesverband" in page and "bund@alpha.test" in page
        form = {"csrf_token": "forged", "uri": f"{alpha.base_url}/users/bund", "actor": "berta"}
        async with visitor.post(f"{beta.base_url}/authorize_interaction", data=form) as resp:
            assert resp.status == 403
        async with beta.sessionmaker() as session:
            assert list(await session.scalars(select(Follow))) == []
        async with visitor.post(
            f"{beta.base_url}/authorize_interaction", data={**form, "csrf_token": csrf}
        ) as resp:
            page = await resp.text()
            assert resp.status == 200 and "asked to follow" in page
        # Another person's actor is not hers to follow for.
        async with visitor.post(
            f"{beta.base_url}/authorize_interaction",
            data={**form, "csrf_token": csrf, "actor": "someone"},
        ) as resp:
            assert resp.status == 403
    async with beta.sessionmaker() as session:
        [row] = await session.scalars(select(Follow))
    assert row.follower_uri == beta.actor_uri("berta")
    assert row.followed_uri == alpha.actor_uri("bund")

    # A handle of this instance follows here (after signing in).
    async with browser_client(resolver) as visitor:
        csrf = await remote_follow_form(visitor, beta, "berta")
        async with visitor.post(
            f"{beta.base_url}/@berta/remote_follow",
            data={"csrf_token": csrf, "handle": "someone@beta.test"},
            allow_redirects=False,
        ) as resp:
            assert resp.status == 303
            assert resp.headers["Location"].startswith("/authorize_interaction?uri=")


@pytest.fixture
async def standin(
    resolver: LoopbackResolver,
) -> AsyncIterator[Callable[[str, web.Application], Awaitable[None]]]:
    """Serve an app under a host name of the loopback resolver (another fediverse server)."""
    runners: list[web.AppRunner] = []

    async def serve(host: str, app: web.Application) -> None:
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        resolver.hosts[host] = runner.addresses[-1][1]

    yield serve
    for runner in runners:
        await runner.cleanup()


def webfinger_app(*, links: list[dict[str, str]], delay: float = 0.0) -> web.Application:
    async def webfinger(request: web.Request) -> web.Response:
        await asyncio.sleep(delay)
        resource = request.query["resource"]
        if not resource.startswith("acct:known@"):
            return web.json_response({"error": "not found"}, status=404)
        return web.json_response({"subject": resource, "links": links})

    app = web.Application()
    app.router.add_get("/.well-known/webfinger", webfinger)
    return app


async def test_remote_follow_explains_what_went_wrong(
    start_instance: StartInstance,
    resolver: LoopbackResolver,
    standin: Callable[[str, web.Application], Awaitable[None]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    alpha = await start_instance("alpha")
    await alpha.add_actor("bund")
    self_link = {"rel": "self", "type": "application/activity+json", "href": "http://x/a"}
    await standin("plain.test", webfinger_app(links=[self_link]))
    await standin("slow.test", webfinger_app(links=[self_link], delay=3))
    monkeypatch.setattr(remote_follow, "LOOKUP_TIMEOUT", 0.5)
    url = f"{alpha.base_url}/@bund/remote_follow"
    async with browser_client(resolver) as visitor:

        async def attempt(handle: str, csrf: str | None = None) -> tuple[int, str]:
            token = csrf or await remote_follow_form(visitor, alpha, "bund")
            form = {"csrf_token": token, "handle": handle}
            async with visitor.post(url, data=form, allow_redirects=False) as resp:
                return resp.status, await resp.text()

        status, page = await attempt("known@plain.test", csrf="forged")
        assert status == 403
        status, page = await attempt("not a handle")
        assert status == 422 and "like user@example.org" in page
        status, page = await attempt("nobody@plain.test")
        assert status == 404 and "We could not find nobody@plain.test" in page
        # No subscribe template: the handle to copy instead.
        status, page = await attempt("known@plain.test")
        assert status == 422 and "offers no follow page" in page
        assert 'value="@bund@alpha.test"' in page
        status, page = await attempt("known@slow.test")
        assert status == 504 and "did not answer in time" in page
        status, page = await attempt("known@unknown-host.test")
        assert status == 404 and "Please check your address" in page
    async with browser_client(resolver) as visitor:
        csrf = await remote_follow_form(visitor, alpha, "bund")
        form = {"csrf_token": csrf, "handle": "nobody@plain.test"}
        async with visitor.post(url, data=form, headers={"Accept-Language": "de"}) as resp:
            page = await resp.text()
            assert resp.status == 404 and "Wir konnten nobody@plain.test nicht finden" in page


async def test_a_large_instance_front_page_links_the_directory_for_the_rest(
    start_instance: StartInstance, client: aiohttp.ClientSession
) -> None:
    """Twelve of each type by name, and a link to the directory for all of them."""
    alpha = await start_instance("alpha")
    for n in range(14):
        await alpha.add_actor(f"org{n:02d}", ActorType.ORGANIZATION, display_name=f"Org {n:02d}")
    await alpha.add_actor("group", ActorType.GROUP, display_name="The Group")
    page = await text_of(client, f"{alpha.base_url}/")
    assert "Org 11" in page and "Org 12" not in page and "The Group" in page
    assert 'href="/directory?local=1&amp;type=organization">All 14 in the directory' in page
    assert "type=group" not in page  # all of the one group are shown
    listing = await text_of(client, f"{alpha.base_url}/directory?local=1&type=organization")
    assert "Org 13" in listing
