"""Handles with a port (`news@beta.test:8443`), as every development instance and Mastodon
run with `LOCAL_DOMAIN=localhost:3000` have: WebFinger, follows, mentions, the client API
and the pages, between complete instances over real HTTP.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from actors.models import ActorType, Follow, FollowState
from inbox.models import InboxActivity
from outbox.models import Mention, Status
from server import actions
from tests.conftest import Instance, StartInstance
from tests.helpers import settle
from tests.server.test_api import Api, make_people
from tests.server.test_cli import ROOT, VERBUND, free_port

AP = "application/activity+json"
BETA = "beta.test:8443"


@pytest.fixture
async def net(start_instance: StartInstance) -> tuple[Instance, Instance]:
    alpha = await start_instance("alpha")
    beta = await start_instance("beta", domain=BETA)
    for name, display in (("kv", "Kreisverband"), ("ov", "Ortsverein")):
        await alpha.add_actor(name, display_name=display)
    await beta.add_actor("news", display_name="Beta News")
    await beta.add_actor("erika", ActorType.PERSON)
    return alpha, beta


async def webfinger(
    client: aiohttp.ClientSession, inst: Instance, resource: str
) -> tuple[int, dict[str, object]]:
    url = f"{inst.base_url}/.well-known/webfinger"
    async with client.get(url, params={"resource": resource}) as resp:
        return resp.status, await resp.json(content_type=None)


async def follow_state(inst: Instance, follower: str, followed: str) -> str | None:
    async with inst.sessionmaker() as session:
        row = await session.scalar(
            select(Follow).where(Follow.follower_uri == follower, Follow.followed_uri == followed)
        )
    return row.state if row else None


async def test_webfinger_answers_the_handle_with_its_port(
    net: tuple[Instance, Instance], client: aiohttp.ClientSession
) -> None:
    _, beta = net
    news = beta.actor_uri("news")
    assert news == "http://beta.test:8443/users/news"
    for resource in (
        f"acct:news@{BETA}",
        f"acct:News@{BETA.upper()}",
        f"news@{BETA}",
        "acct%3Anews%40beta.test%3A8443",
        # Lenient: the port-less form reaches us only if someone sent it here, and the
        # subject tells the asker the canonical handle.
        "acct:news@beta.test",
    ):
        status, jrd = await webfinger(client, beta, resource)
        assert status == 200, (resource, jrd)
        assert jrd["subject"] == f"acct:news@{BETA}"
        assert {"rel": "self", "type": AP, "href": news} in jrd["links"]  # type: ignore[operator]  # list
    # Another port is another instance.
    for resource in ("acct:news@beta.test:9443", "acct:news@beta.test:80"):
        assert (await webfinger(client, beta, resource))[0] == 404
    assert (await webfinger(client, beta, "acct:news@beta.test:99999"))[0] == 400
    # The instance actor is named after the domain, port included, as Mastodon's.
    for resource in (f"acct:{BETA}@{BETA}", f"acct:beta.test@{BETA}", f"{BETA}%40{BETA}"):
        status, jrd = await webfinger(client, beta, resource)
        assert status == 200 and jrd["subject"] == f"acct:{BETA}@{BETA}"
    assert (await webfinger(client, beta, f"acct:{BETA}@alpha.test"))[0] == 400


async def test_follow_by_handle_with_port_through_actions_and_api(
    net: tuple[Instance, Instance], client: aiohttp.ClientSession
) -> None:
    alpha, beta = net
    kv, news = alpha.actor_uri("kv"), beta.actor_uri("news")
    await actions.follow(alpha.services, "kv", f"news@{BETA}")
    await settle(alpha, beta)
    assert await follow_state(beta, kv, news) == FollowState.ACCEPTED
    assert await follow_state(alpha, kv, news) == FollowState.ACCEPTED
    # What `verbund following` prints is what `verbund unfollow` takes.
    [handle] = await actions.relations(alpha.services, "kv", followers=False)
    assert handle == f"news@{BETA}"
    assert await actions.relations(beta.services, "news", followers=True) == ["kv@alpha.test"]
    await actions.unfollow(alpha.services, "kv", handle)
    await settle(alpha, beta)
    assert await follow_state(beta, kv, news) is None

    # The client API: look the actor up by its handle with the port, follow it.
    api, token = Api(client, alpha), (await make_people(alpha))["anna"]
    for acct in (f"news@{BETA}", f"@news@{BETA}", f"News@{BETA.upper()}"):
        found = await api.call("GET", f"/api/v1/accounts/lookup?acct={acct}")
        assert found.status == 200, acct
        assert found.json["acct"] == f"news@{BETA}" and found.json["uri"] == news
    assert (await api.call("GET", "/api/v1/accounts/lookup?acct=news@beta.test")).status == 404
    searched = await api.call("GET", f"/api/v1/accounts/search?q=@news@{BETA}", token)
    assert [a["acct"] for a in searched.items] == [f"news@{BETA}"]
    account_id = found.json["id"]
    reply = await api.call("POST", f"/api/v1/accounts/{account_id}/follow", token)
    assert reply.status == 200, reply.body
    await settle(alpha, beta)
    assert await follow_state(beta, kv, news) == FollowState.ACCEPTED
    rel = await api.call("GET", f"/api/v1/accounts/relationships?id[]={account_id}", token)
    assert rel.items[0]["following"] is True

    # Beta shows its own accounts without a domain and alpha's with it.
    beta_api = Api(client, beta)
    local = await beta_api.call("GET", "/api/v1/accounts/lookup?acct=news")
    assert local.json["acct"] == "news"
    assert (await beta_api.call("GET", f"/api/v1/accounts/lookup?acct=news@{BETA}")).json == (
        local.json
    )
    remote = await beta_api.call("GET", "/api/v1/accounts/lookup?acct=kv@alpha.test")
    assert remote.json["acct"] == "kv@alpha.test"


async def test_mention_with_port_reaches_the_mentioned_actor(
    net: tuple[Instance, Instance], client: aiohttp.ClientSession
) -> None:
    alpha, beta = net
    api, token = Api(client, alpha), (await make_people(alpha))["anna"]
    reply = await api.call(
        "POST",
        "/api/v1/statuses",
        token,
        data={"status": f"Danke @news@{BETA} und @erika@{BETA}!", "visibility": "direct"},
    )
    assert reply.status == 200, reply.body
    news, erika = beta.actor_uri("news"), beta.actor_uri("erika")
    assert [(m["acct"], m["url"]) for m in reply.json["mentions"]] == [
        (f"news@{BETA}", f"{beta.base_url}/@news"),
        (f"erika@{BETA}", f"{beta.base_url}/@erika"),
    ]
    await settle(alpha, beta)
    async with beta.sessionmaker() as session:
        status = await session.scalar(select(Status).where(Status.uri == reply.json["uri"]))
        assert status is not None
        mentioned = await session.scalars(
            select(Mention.actor_uri).where(Mention.status_id == status.id)
        )
        assert set(mentioned) == {news, erika}
        assert status.visibility == "direct"
        # The Note names the mentions with the port, as Mastodon would.
        [body] = await session.scalars(
            select(InboxActivity.body).where(InboxActivity.type == "Create")
        )
    note = json.loads(body)["object"]
    assert note["to"] == [news, erika]
    assert note["tag"] == [
        {"type": "Mention", "href": news, "name": f"@news@{BETA}"},
        {"type": "Mention", "href": erika, "name": f"@erika@{BETA}"},
    ]


async def test_profile_page_shows_the_handle_with_its_port(
    net: tuple[Instance, Instance], client: aiohttp.ClientSession
) -> None:
    _, beta = net
    async with client.get(f"{beta.base_url}/@news", headers={"Accept": "text/html"}) as resp:
        assert resp.status == 200
        page = await resp.text()
    assert f"@news@{BETA}" in page
    assert f"search for <code>@news@{BETA}</code>" in page
    async with client.get(beta.base_url + "/") as resp:
        index = await resp.text()
    assert f"@news@{BETA}" in index


async def verbund(*args: str) -> tuple[int, str, str]:
    """The `verbund` command in its own process, as an operator runs it; asynchronous, so
    that the in-process instances keep answering it."""
    proc = await asyncio.create_subprocess_exec(
        *VERBUND,
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_cli_follows_and_mentions_between_localhost_ports(
    start_instance: StartInstance, tmp_path: Path
) -> None:
    """The development setup for real: `localhost:P` and `127.0.0.1:Q`, resolved by the
    system, with the CLI in its own process working on alpha's database."""
    p, q = free_port(), free_port()
    beta = await start_instance("beta", domain=f"localhost:{p}", server={"port": p})
    alpha = await start_instance("alpha", domain=f"127.0.0.1:{q}", server={"port": q})
    await beta.add_actor("news", display_name="Beta News")
    await alpha.add_actor("kv")
    database = alpha.config.database
    path = tmp_path / "alpha.toml"
    schema = f'schema = "{database.schema}"\n' if database.schema else ""
    path.write_text(
        f'[instance]\ndomain = "127.0.0.1:{q}"\nscheme = "http"\n[server]\nport = {q}\n'
        f'[database]\nurl = "{database.url}"\n{schema}'
        "[federation]\nallow_private_addresses = true\n",
        encoding="utf-8",
    )
    c = ("--config", str(path))
    handle = f"news@localhost:{p}"
    code, out, err = await verbund("follow", "kv", handle, *c)
    assert code == 0, err
    assert f"kv sent a follow request to {handle}" in out
    await settle(alpha, beta)
    kv, news = alpha.actor_uri("kv"), beta.actor_uri("news")
    assert kv == f"http://127.0.0.1:{q}/users/kv"
    assert await follow_state(beta, kv, news) == FollowState.ACCEPTED
    assert await actions.relations(beta.services, "news", followers=True) == [f"kv@127.0.0.1:{q}"]

    code, out, err = await verbund("following", "kv", *c)
    assert code == 0, err
    assert out.splitlines() == [handle, "(1 followed)"]
    code, out, err = await verbund("unfollow", "kv", out.splitlines()[0], *c)
    assert code == 0, err
    await settle(alpha, beta)
    assert await follow_state(beta, kv, news) is None

    text = tmp_path / "post.md"
    text.write_text(f"Hallo @{handle} und @nobody@localhost:{p}", encoding="utf-8")
    code, out, err = await verbund("post", "kv", "--file", str(text), *c)
    assert code == 0, err
    assert f"note: @nobody@localhost:{p} could not be resolved" in out
    assert f"@{handle} could not" not in out
    await settle(alpha, beta)
    async with beta.sessionmaker() as session:
        [mentioned] = await session.scalars(select(Mention.actor_uri))
    assert mentioned == news
