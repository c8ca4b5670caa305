"""Rate limits over real HTTP: 429 with `Retry-After`, nothing left behind, room again later.

Each instance runs with small `[limits]` and a manual monotonic clock for its
limiters, so a test exhausts a limit in a few requests and refills it by
advancing the clock instead of sleeping.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from multidict import CIMultiDictProxy
from sqlalchemy import func, select, update

from actors import accounts
from actors.local import get_actor
from actors.models import ApiToken, Follow, FollowState, OAuthApp, RoleName
from federation.keys import generate_rsa_private_key_pem
from federation.signatures import sign_request
from inbox.models import InboxActivity
from outbox.models import Delivery, DeliveryState, Status
from server import actions, keys
from tests.clock import ManualClock
from tests.conftest import Instance, LoopbackResolver, StartInstance
from tests.fakes import FakeRemote, shared_key
from tests.helpers import settle
from tests.webpages import browser_client, sign_in_fields

PASSWORD = "a long and secret passphrase"
StartLimited = Callable[..., Awaitable[Instance]]


@pytest.fixture
def start_limited(start_instance: StartInstance) -> StartLimited:
    """`await start_limited("alpha", clock, inbox_per_host=3)`: an instance with these
    `[limits]`, whose limiters read `clock`."""

    async def start(name: str, clock: ManualClock, **limits: Any) -> Instance:
        return await start_instance(name, limits=limits, monotonic=clock)

    return start


async def count(inst: Instance, model: type[Any], *where: Any) -> int:
    async with inst.sessionmaker() as session:
        query = select(func.count()).select_from(model).where(*where)
        return int(await session.scalar(query) or 0)


# --- inbox ---------------------------------------------------------------------------------


@pytest.fixture
async def remotes(resolver: LoopbackResolver) -> AsyncIterator[tuple[FakeRemote, FakeRemote]]:
    first, second = (
        FakeRemote("social.example", shared_key()),
        FakeRemote("other.example", shared_key()),
    )
    for fake in (first, second):
        fake.add_person("bob")
        fake.add_person("mallory")
        await fake.start(resolver)
    yield first, second
    for fake in (first, second):
        await fake.stop()


class Answer:
    def __init__(self, status: int, headers: CIMultiDictProxy[str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def error(self) -> str:
        doc = json.loads(self.body)
        assert isinstance(doc, dict) and isinstance(doc["error"], str), doc
        return doc["error"]


_sent = 0


async def deliver(
    client: aiohttp.ClientSession,
    inst: Instance,
    actor: str,
    type_: str = "Like",
    *,
    forged: bool = False,
) -> Answer:
    """POST a distinct activity by `actor` to `inst`'s shared inbox, signed with the
    actor's key (or, `forged`, with some other key)."""
    global _sent
    _sent += 1
    activity = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{actor}#activities/{_sent}",
        "type": type_,
        "actor": actor,
        "object": inst.actor_uri("news") if type_ == "Follow" else f"{inst.base_url}/notes/1",
    }
    body = json.dumps(activity).encode()
    url = inst.base_url + "/inbox"
    headers = sign_request(
        method="POST",
        url=url,
        headers={"Content-Type": "application/activity+json"},
        body=body,
        key_id=f"{actor}#main-key",
        private_key_pem=_FORGER[0] if forged else shared_key(),
        now=datetime.now(UTC),
    )
    async with client.post(url, data=body, headers=headers) as resp:
        return Answer(resp.status, resp.headers, await resp.read())


_FORGER = [generate_rsa_private_key_pem()]


async def test_inbox_limit_per_host_counts_only_verified_requests(
    start_limited: StartLimited,
    remotes: tuple[FakeRemote, FakeRemote],
    client: aiohttp.ClientSession,
) -> None:
    clock = ManualClock()
    alpha = await start_limited("alpha", clock, inbox_per_host=3, inbox_per_host_seconds=60)
    await alpha.add_actor("news")
    social, other = remotes
    bob, mallory = f"{social.base}/users/bob", f"{social.base}/users/mallory"
    # Forged requests in social.example's name are refused and spend nothing of its budget.
    for _ in range(5):
        assert (await deliver(client, alpha, bob, forged=True)).status == 401
    for actor in (bob, mallory, bob):
        assert (await deliver(client, alpha, actor)).status == 202
    refused = await deliver(client, alpha, mallory)
    assert refused.status == 429
    assert refused.headers["Retry-After"] == "20"  # 60 s / 3: one more every 20 s
    assert "too many activities from social.example" in refused.error()
    assert refused.headers["Content-Type"].startswith("application/json")
    assert (await deliver(client, alpha, f"{other.base}/users/bob")).status == 202
    assert await count(alpha, InboxActivity) == 4
    assert await count(alpha, InboxActivity, InboxActivity.actor_uri == mallory) == 1

    clock.advance(19)
    assert (await deliver(client, alpha, bob)).status == 429
    clock.advance(1)
    assert (await deliver(client, alpha, bob)).status == 202
    assert (await deliver(client, alpha, bob)).status == 429
    assert await count(alpha, InboxActivity) == 5


async def test_inbox_limit_per_actor_leaves_the_host_its_other_actors(
    start_limited: StartLimited,
    remotes: tuple[FakeRemote, FakeRemote],
    client: aiohttp.ClientSession,
) -> None:
    clock = ManualClock()
    alpha = await start_limited("alpha", clock, inbox_per_actor=2, inbox_per_actor_seconds=10)
    await alpha.add_actor("news")
    social, _ = remotes
    bob, mallory = f"{social.base}/users/bob", f"{social.base}/users/mallory"
    assert [(await deliver(client, alpha, bob)).status for _ in range(3)] == [202, 202, 429]
    assert (await deliver(client, alpha, mallory)).status == 202
    refused = await deliver(client, alpha, bob)
    assert (refused.status, refused.headers["Retry-After"]) == (429, "5")
    assert "this actor" in refused.error()
    assert await count(alpha, InboxActivity, InboxActivity.actor_uri == bob) == 2
    clock.advance(5)
    assert (await deliver(client, alpha, bob)).status == 202


async def test_limit_of_zero_switches_the_inbox_limits_off(
    start_limited: StartLimited,
    remotes: tuple[FakeRemote, FakeRemote],
    client: aiohttp.ClientSession,
) -> None:
    alpha = await start_limited(
        "alpha", ManualClock(), inbox_per_host=0, inbox_per_actor=0, follows_per_host=0
    )
    await alpha.add_actor("news")
    bob = f"{remotes[0].base}/users/bob"
    assert [(await deliver(client, alpha, bob, "Follow")).status for _ in range(20)] == [202] * 20
    assert len(alpha.app[keys.LIMITS].inbox.per_host) == 0  # nothing tracked either


async def test_follows_per_host_refused_with_retry_after_that_the_sender_honours(
    start_limited: StartLimited, client: aiohttp.ClientSession
) -> None:
    """beta's second Follow gets 429 at alpha: no follow row, no Accept queued; beta's
    delivery waits out the Retry-After and then gets through."""
    clock = ManualClock()
    alpha = await start_limited("alpha", clock, follows_per_host=1, follows_per_host_seconds=600)
    beta = await start_limited("beta", ManualClock())
    await alpha.add_actor("news")
    await beta.add_actor("erika")
    await beta.add_actor("max")
    news = alpha.actor_uri("news")
    erika, max_ = beta.actor_uri("erika"), beta.actor_uri("max")
    # One after the other: requests verified concurrently may all pass the check and are
    # charged afterwards (the limit then holds on average, not to the request).
    await actions.follow(beta.services, "erika", "news@alpha.test")
    await settle(alpha, beta)
    await actions.follow(beta.services, "max", "news@alpha.test")
    await settle(alpha, beta)

    assert await count(alpha, Follow, Follow.follower_uri == erika) == 1
    assert await count(alpha, Follow, Follow.follower_uri == max_) == 0
    assert await count(alpha, InboxActivity, InboxActivity.actor_uri == max_) == 0
    assert await count(alpha, Delivery) == 1  # erika's Accept, nothing for max
    async with beta.sessionmaker() as session:
        waiting = (
            await session.scalars(select(Delivery).where(Delivery.state == DeliveryState.PENDING))
        ).all()
    assert [(d.last_status, d.attempts) for d in waiting] == [(429, 1)]
    assert waiting[0].next_attempt_at - waiting[0].updated_at >= timedelta(seconds=600)

    # Ten minutes later (alpha's limiter clock, and beta's retry made due).
    clock.advance(600)
    async with beta.sessionmaker() as session:
        await session.execute(
            update(Delivery)
            .where(Delivery.id == waiting[0].id)
            .values(next_attempt_at=datetime.now(UTC))
        )
        await session.commit()
    await settle(alpha, beta)
    async with alpha.sessionmaker() as session:
        row = await session.scalar(select(Follow).where(Follow.follower_uri == max_))
    assert row is not None and row.state == FollowState.ACCEPTED and row.followed_uri == news


# --- API writes ----------------------------------------------------------------------------


async def add_person(inst: Instance, username: str, actor: str) -> str:
    """A person with an editor role on `actor`; returns a read-write token."""
    async with inst.sessionmaker() as session:
        now = datetime.now(UTC)
        org = await get_actor(session, actor)
        user = await accounts.create_user(session, username=username, password=PASSWORD, now=now)
        await accounts.grant_role(session, user=user, actor=org, role=RoleName.EDITOR, now=now)
        issued = await accounts.create_token(
            session, user=user, actor=org, scopes=["read", "write"], now=now
        )
        await session.commit()
    return issued.token


async def call(
    client: aiohttp.ClientSession,
    inst: Instance,
    method: str,
    path: str,
    token: str | None = None,
    **kw: Any,
) -> Answer:
    headers = dict(kw.pop("headers", {}))
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with client.request(
        method, inst.base_url + path, headers=headers, allow_redirects=False, **kw
    ) as resp:
        return Answer(resp.status, resp.headers, await resp.read())


async def test_api_writes_are_limited_per_token_and_reads_are_not(
    start_limited: StartLimited, client: aiohttp.ClientSession
) -> None:
    clock = ManualClock()
    alpha = await start_limited(
        "alpha", clock, api_writes_per_token=2, api_writes_per_token_seconds=60
    )
    await alpha.add_actor("kv")
    anna, ben = await add_person(alpha, "anna", "kv"), await add_person(alpha, "ben", "kv")

    def post(token: str, text: str) -> Awaitable[Answer]:
        return call(client, alpha, "POST", "/api/v1/statuses", token, data={"status": text})

    assert [(await post(anna, f"news {n}")).status for n in range(2)] == [200, 200]
    refused = await post(anna, "one too many")
    assert refused.status == 429
    assert refused.error() == "Too many requests"
    assert refused.headers["Retry-After"] == "30"
    assert refused.headers["X-RateLimit-Limit"] == "2"
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    reset = datetime.strptime(refused.headers["X-RateLimit-Reset"], "%Y-%m-%dT%H:%M:%S.%f%z")
    assert timedelta(seconds=25) < reset - datetime.now(UTC) <= timedelta(seconds=31)
    assert refused.headers["Access-Control-Allow-Origin"] == "*"
    assert "Retry-After" in refused.headers["Access-Control-Expose-Headers"]
    assert await count(alpha, Status) == 2
    # Another token has its own budget; reading is not limited.
    assert (await post(ben, "ben's news")).status == 200
    for _ in range(5):
        assert (await call(client, alpha, "GET", "/api/v1/timelines/home", anna)).status == 200
    assert (await call(client, alpha, "DELETE", "/api/v1/statuses/1", anna)).status == 429

    clock.advance(30)
    assert (await post(anna, "later")).status == 200
    assert (await post(anna, "too soon")).status == 429
    assert await count(alpha, Status) == 4


async def test_api_writes_without_token_are_limited_per_address(
    start_limited: StartLimited, client: aiohttp.ClientSession
) -> None:
    alpha = await start_limited(
        "alpha", ManualClock(), api_writes_per_token=2, api_writes_per_token_seconds=60
    )
    form = {"client_name": "App", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob"}
    answers = [(await call(client, alpha, "POST", "/api/v1/apps", data=form)) for _ in range(3)]
    assert [a.status for a in answers] == [200, 200, 429]
    assert await count(alpha, OAuthApp) == 2


# --- sign-in -------------------------------------------------------------------------------


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts argon2 verifications (the one thing a refused sign-in must not cost)."""
    calls: list[str] = []
    real = accounts._verify

    def counting(stored: str, password: str) -> bool:
        calls.append(password)
        return real(stored, password)

    monkeypatch.setattr(accounts, "_verify", counting)
    return calls


async def register(client: aiohttp.ClientSession, inst: Instance) -> dict[str, str]:
    form = {"client_name": "Script", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob"}
    doc = json.loads((await call(client, inst, "POST", "/api/v1/apps", data=form)).body)
    return {"client_id": doc["client_id"], "client_secret": doc["client_secret"]}


async def password_grant(
    client: aiohttp.ClientSession,
    inst: Instance,
    app: dict[str, str],
    username: str,
    password: str,
    **headers: str,
) -> Answer:
    data = {**app, "grant_type": "password", "username": username, "password": password}
    return await call(client, inst, "POST", "/oauth/token", data=data, headers=headers)


async def test_wrong_passwords_lock_the_account_before_any_hash(
    start_limited: StartLimited, client: aiohttp.ClientSession, hashes: list[str]
) -> None:
    clock = ManualClock()
    alpha = await start_limited(
        "alpha", clock, sign_in_per_account=3, sign_in_per_account_seconds=1800
    )
    await alpha.add_actor("kv")
    await add_person(alpha, "anna", "kv")
    await add_person(alpha, "ben", "kv")
    app = await register(client, alpha)
    tokens = await count(alpha, ApiToken)

    wrong = [await password_grant(client, alpha, app, "anna", f"guess {n}") for n in range(3)]
    assert [a.status for a in wrong] == [400, 400, 400]
    assert len(hashes) == 3
    for password in ("guess 4", PASSWORD):  # even the right password waits
        refused = await password_grant(client, alpha, app, "Anna", password)
        assert refused.status == 429
        assert refused.headers["Retry-After"] == "600"  # 1800 s / 3
        assert refused.error() == "Too many requests"
    assert len(hashes) == 3
    assert await count(alpha, ApiToken) == tokens
    # Unknown names are limited alike, so a 429 says nothing about which names exist.
    for n in range(3):
        assert (await password_grant(client, alpha, app, "nobody", f"x{n}")).status == 400
    assert (await password_grant(client, alpha, app, "nobody", "x")).status == 429
    # Other accounts sign in; successful sign-ins never count.
    for _ in range(5):
        assert (await password_grant(client, alpha, app, "ben", PASSWORD)).status == 200
    assert len(hashes) == 3 + 3 + 5

    clock.advance(600)
    assert (await password_grant(client, alpha, app, "anna", PASSWORD)).status == 200
    assert await count(alpha, ApiToken) == tokens + 6


async def test_failed_sign_ins_per_address_cover_the_form_and_the_token_endpoint(
    start_limited: StartLimited,
    client: aiohttp.ClientSession,
    resolver: LoopbackResolver,
    hashes: list[str],
) -> None:
    clock = ManualClock()
    alpha = await start_limited(
        "alpha",
        clock,
        sign_in_per_address=3,
        sign_in_per_address_seconds=300,
        client_address_header="X-Forwarded-For",
    )
    await alpha.add_actor("kv")
    await add_person(alpha, "anna", "kv")
    app = await register(client, alpha)
    proxy = {"X-Forwarded-For": "198.51.100.20, 203.0.113.7"}  # our proxy added the last
    for name in ("anna", "ben", "carl"):
        answer = await password_grant(client, alpha, app, name, "wrong", **proxy)
        assert answer.status == 400
    assert (await password_grant(client, alpha, app, "dora", "x", **proxy)).status == 429
    # Every token request from this address waits now, whatever credentials it carries.
    bad_client = {**app, "client_secret": "guess"}
    assert (await password_grant(client, alpha, bad_client, "anna", "x", **proxy)).status == 429
    # The site's sign-in, where the authorize page sends a person: its page again, with
    # the wait.
    oob = {
        "response_type": "code",
        "client_id": app["client_id"],
        "redirect_uri": "urn:ietf:wg:oauth:2.0:oob",
    }
    async with browser_client(resolver) as browser:
        async with browser.get(f"{alpha.base_url}/oauth/authorize?{urlencode(oob)}") as resp:
            assert resp.url.path == "/auth/sign_in"
            fields = sign_in_fields(await resp.text(), "anna", PASSWORD)
        sign_in = f"{alpha.base_url}/auth/sign_in"
        async with browser.post(sign_in, data=fields, headers=proxy) as resp:
            page = await resp.text()
            assert resp.status == 429 and resp.headers["Retry-After"] == "100"
            assert resp.headers["Content-Type"].startswith("text/html")
            assert "Too many attempts. Please wait 2 minutes and try again." in page
        assert len(hashes) == 3
        # Another client address (the last X-Forwarded-For entry) has its own budget.
        other = {"X-Forwarded-For": "203.0.113.7, 203.0.113.8"}
        assert (await password_grant(client, alpha, app, "anna", PASSWORD, **other)).status == 200

        clock.advance(100)
        async with browser.post(sign_in, data=fields, headers=proxy) as resp:
            page = await resp.text()
            assert resp.url.path == "/oauth/authorize"  # signed in: the consent page
        consent = dict(re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', page))
        async with browser.post(f"{alpha.base_url}/oauth/authorize", data=consent) as resp:
            assert '<code id="code">' in await resp.text()
    assert len(hashes) == 5
