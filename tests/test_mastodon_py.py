"""Mastodon.py, a real Mastodon client, against complete Verbund instances.

Mastodon.py is synchronous (requests), so each call runs in a thread while the
instances keep serving on the event loop. It connects to `http://127.0.0.1:PORT`
(requests resolves names with the system resolver): every URL the API emits must
come from the configuration, not from the `Host` header. URLs it learns from
the API itself (OAuth discovery, `http://alpha.test/oauth/token`) go through a
transport adapter that sends them to the same loopback ports, as the aiohttp
LoopbackResolver does for the instances.
"""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from mastodon import (
    Mastodon,
    MastodonAPIError,
    MastodonIllegalArgumentError,
    MastodonNotFoundError,
    MastodonUnauthorizedError,
)
from requests.adapters import HTTPAdapter
from sqlalchemy import select

from actors import accounts
from actors.local import get_actor
from actors.models import ActorType, FollowState, RoleName
from outbox.models import Status
from server import actions
from tests.conftest import Instance, LoopbackResolver, StartInstance
from tests.helpers import settle
from tests.server.test_api import PASSWORD, make_people
from tests.test_follows import follow_state
from tests.webpages import sign_in_fields

T = TypeVar("T")


class LoopbackAdapter(HTTPAdapter):
    """Sends requests for the test host names to their loopback ports, keeping `Host`."""

    def __init__(self, resolver: LoopbackResolver) -> None:
        super().__init__()
        self.resolver = resolver

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        parts = urlsplit(request.url or "")
        port = self.resolver.hosts.get(parts.hostname or "")
        if port is not None:
            request.headers["Host"] = parts.netloc
            request.url = urlunsplit(parts._replace(netloc=f"127.0.0.1:{port}"))
        return super().send(request, *args, **kwargs)


@dataclass
class World:
    alpha: Instance
    beta: Instance
    resolver: LoopbackResolver
    tokens: dict[str, str]

    def session(self) -> requests.Session:
        session = requests.Session()
        session.trust_env = False  # no proxies: loopback only
        session.mount("http://", LoopbackAdapter(self.resolver))
        return session

    def base(self, inst: Instance) -> str:
        return f"http://127.0.0.1:{inst.port}"

    def client(self, inst: Instance, token: str) -> Mastodon:
        return Mastodon(access_token=token, api_base_url=self.base(inst), session=self.session())


async def in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await asyncio.to_thread(fn, *args, **kwargs)


@pytest.fixture
async def world(start_instance: StartInstance, resolver: LoopbackResolver) -> World:
    alpha = await start_instance("alpha")
    beta = await start_instance("beta")
    await alpha.add_actor("kv", display_name="Kreisverband", manually_approves=True)
    await alpha.add_actor("ov", display_name="Ortsverein")
    await beta.add_actor("erika", ActorType.PERSON, display_name="Erika")
    await beta.add_actor("max", ActorType.PERSON)
    tokens = await make_people(alpha)
    async with beta.sessionmaker() as session:
        clock = beta.services.clock
        user = await accounts.create_user(session, username="erika", password=PASSWORD, now=clock())
        erika = await get_actor(session, "erika")
        await accounts.grant_role(session, user=user, actor=erika, role=RoleName.OWNER, now=clock())
        issued = await accounts.create_token(
            session, user=user, actor=erika, scopes=["read", "write", "follow"], now=clock()
        )
        await session.commit()
    tokens["erika@beta"] = issued.token
    return World(alpha, beta, resolver, tokens)


async def test_token_posts_edits_deletes_and_reads_timelines_as_the_organisation(
    world: World,
) -> None:
    anna = world.client(world.alpha, world.tokens["anna"])
    me = await in_thread(anna.account_verify_credentials)
    assert me.acct == "kv" and me.display_name == "Kreisverband"

    status = await in_thread(
        anna.status_post, "Hello from the **Kreisverband** #Verbund", language="de"
    )
    assert status.account.acct == "kv"
    assert status.uri == f"http://alpha.test/users/kv/statuses/{status.id}"
    assert "<strong>Kreisverband</strong>" in status.content
    assert [t.name for t in status.tags] == ["verbund"]

    edited = await in_thread(anna.status_update, status.id, "Hello again, edited")
    assert edited.id == status.id and edited.edited_at is not None
    assert "edited" in edited.content
    source = await in_thread(anna.status_source, status.id)
    assert source.text == "Hello again, edited"

    second = await in_thread(anna.status_post, "A second post", visibility="unlisted")
    home = await in_thread(anna.timeline_home)
    assert [s.id for s in home] == [second.id, status.id]
    public = await in_thread(anna.timeline_public)
    assert [s.id for s in public] == [status.id]  # unlisted stays off the public timeline
    local = await in_thread(anna.timeline_local)
    assert [s.id for s in local] == [status.id]

    # Paging by the Link headers, as Mastodon.py's fetch_next reads them.
    first_page = await in_thread(anna.timeline_home, limit=1)
    assert [s.id for s in first_page] == [second.id]
    next_page = await in_thread(anna.fetch_next, first_page)
    assert next_page is not None and [s.id for s in next_page] == [status.id]

    kv_statuses = await in_thread(anna.account_statuses, me.id)
    assert {s.id for s in kv_statuses} == {status.id, second.id}

    deleted = await in_thread(anna.status_delete, status.id)
    assert deleted.text == "Hello again, edited"
    with pytest.raises(MastodonNotFoundError):
        await in_thread(anna.status, status.id)
    assert [s.id for s in await in_thread(anna.timeline_home)] == [second.id]

    # Who wrote it stays with the staff: the extension answers, the status does not tell.
    async with world.alpha.sessionmaker() as session:
        row = await session.get(Status, int(second.id))
        assert row is not None and row.author_user_id is not None


async def test_permissions_through_mastodon_py(world: World) -> None:
    ben = world.client(world.alpha, world.tokens["ben"])  # editor of kv
    mia = world.client(world.alpha, world.tokens["mia"])  # moderator of kv
    otto = world.client(world.alpha, world.tokens["otto"])  # owner of ov
    post = await in_thread(ben.status_post, "Editor post")
    with pytest.raises(MastodonAPIError, match="This action is not allowed"):
        await in_thread(mia.status_post, "Moderator post")
    with pytest.raises(MastodonNotFoundError):
        await in_thread(otto.status_delete, post.id)
    with pytest.raises(MastodonNotFoundError):
        await in_thread(otto.status_update, post.id, "changed by ov")
    await in_thread(mia.status_delete, post.id)
    with pytest.raises(MastodonNotFoundError):
        await in_thread(ben.status, post.id)


async def test_follow_requests_listed_and_authorized(world: World) -> None:
    alpha, beta = world.alpha, world.beta
    await actions.follow(beta.services, "erika", "kv@alpha.test")
    await actions.follow(beta.services, "max", "kv@alpha.test")
    await settle(alpha, beta)
    erika_uri, kv_uri = beta.actor_uri("erika"), alpha.actor_uri("kv")
    assert await follow_state(beta, erika_uri, kv_uri) == FollowState.PENDING

    anna = world.client(alpha, world.tokens["anna"])
    requests_ = await in_thread(anna.follow_requests)
    assert sorted(a.acct for a in requests_) == ["erika@beta.test", "max@beta.test"]
    erika = next(a for a in requests_ if a.acct == "erika@beta.test")
    relationship = await in_thread(anna.follow_request_authorize, erika)
    assert relationship.followed_by is True
    max_ = next(a for a in requests_ if a.acct == "max@beta.test")
    await in_thread(anna.follow_request_reject, max_.id)
    await settle(alpha, beta)
    assert await follow_state(beta, erika_uri, kv_uri) == FollowState.ACCEPTED
    assert await follow_state(beta, beta.actor_uri("max"), kv_uri) is None
    assert await in_thread(anna.follow_requests) == []
    with pytest.raises(MastodonNotFoundError):
        await in_thread(anna.follow_request_authorize, max_.id)


async def test_received_remote_posts_appear_in_the_public_timeline(world: World) -> None:
    alpha, beta = world.alpha, world.beta
    anna = world.client(alpha, world.tokens["anna"])
    erika_on_beta = world.client(beta, world.tokens["erika@beta"])
    # kv follows erika through the API; erika does not approve manually.
    await actions.resolve_remote(alpha.services, "erika@beta.test")
    erika = await in_thread(anna.account_lookup, "erika@beta.test")
    assert int(erika.id) > 10**15
    await in_thread(anna.account_follow, erika.id)
    await settle(alpha, beta)
    relationship = (await in_thread(anna.account_relationships, erika.id))[0]
    assert relationship.following is True

    post = await in_thread(erika_on_beta.status_post, "News from beta #Verbund")
    assert post.uri == f"http://beta.test/users/erika/statuses/{post.id}"
    await settle(alpha, beta)

    public = await in_thread(anna.timeline_public)
    assert [s.uri for s in public] == [post.uri]
    received = public[0]
    assert received.account.acct == "erika@beta.test"
    assert received.account.id == erika.id
    assert "News from beta" in received.content
    remote_only = await in_thread(anna.timeline_public, remote=True)
    assert [s.uri for s in remote_only] == [post.uri]
    assert await in_thread(anna.timeline_public, local=True) == []
    home = await in_thread(anna.timeline_home)
    assert [s.uri for s in home] == [post.uri]
    async with alpha.sessionmaker() as session:
        stored = await session.scalar(select(Status).where(Status.uri == post.uri))
        assert stored is not None and stored.local_actor_id is None


async def test_app_registration_password_and_code_login_and_revocation(world: World) -> None:
    base = world.base(world.alpha)
    session = world.session()
    client_id, client_secret = await in_thread(
        Mastodon.create_app, "Verbund test", api_base_url=base, session=session
    )
    app = Mastodon(client_id, client_secret, api_base_url=base, session=world.session())
    token = await in_thread(app.log_in, "ben", PASSWORD, allow_http=True)
    assert token
    assert (await in_thread(app.account_verify_credentials)).acct == "kv"
    assert (await in_thread(app.app_verify_credentials)).name == "Verbund test"
    version = await in_thread(app.retrieve_mastodon_version)
    assert version == "4.3.0"

    with pytest.raises(MastodonIllegalArgumentError, match="invalid_grant"):
        await in_thread(
            Mastodon(client_id, client_secret, api_base_url=base, session=world.session()).log_in,
            "ben",
            "wrong password",
            allow_http=True,
        )

    # Authorization code: the person signs in on the site in a browser, comes back to the
    # consent page, picks the actor and copies the code.
    coder = Mastodon(client_id, client_secret, api_base_url=base, session=world.session())
    url = await in_thread(coder.auth_request_url, allow_http=True)
    assert url.startswith("http://alpha.test/oauth/authorize?")
    browser = world.session()
    form = await in_thread(browser.get, url)
    assert form.status_code == 200 and urlsplit(form.url).path == "/auth/sign_in"
    step = await in_thread(
        browser.post,
        "http://alpha.test/auth/sign_in",
        data=sign_in_fields(form.text, "anna", PASSWORD),
    )
    assert urlsplit(step.url).path == "/oauth/authorize"
    assert 'name="actor"' in step.text  # anna holds roles on kv and ov
    fields = {
        name: html.unescape(value)
        for name, value in re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', step.text)
    }
    done = await in_thread(
        browser.post, "http://alpha.test/oauth/authorize", data={**fields, "actor": "ov"}
    )
    match = re.search(r'<code id="code">([^<]+)</code>', done.text)
    assert match is not None
    await in_thread(coder.log_in, code=match.group(1), allow_http=True)
    me = await in_thread(coder.account_verify_credentials)
    assert me.acct == "ov"
    assert (await in_thread(coder.status_post, "Signed in with a code")).account.acct == "ov"

    # A revoked token is refused.
    await in_thread(coder.revoke_access_token, allow_http=True)
    with pytest.raises(MastodonUnauthorizedError):
        await in_thread(coder.account_verify_credentials)
