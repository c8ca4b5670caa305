"""What hostile or careless peers send must neither stall the inbox nor cost an activity.

A validly signed peer can still send text no database stores (lone surrogates, NUL),
actor documents we cannot use, dates before 1970 and local ids in another letter case.
Each case goes over real HTTP to a real instance, then through processing, the API
and the pages.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError

from actors.models import ActorType, Follow, FollowState, RemoteActor
from federation.signatures import sign_request
from inbox.models import InboxActivity
from inbox.process import MAX_ATTEMPTS, retry_delay
from outbox.models import Status
from server import keys
from tests.conftest import Instance, LoopbackResolver, StartInstance
from tests.fakes import FakeRemote, shared_key
from tests.helpers import settle
from tests.inbox.test_news_handlers import Peer, follow_remote

LONE = "\ud800"
AS = "https://www.w3.org/ns/activitystreams"
PUBLIC = f"{AS}#Public"


@pytest.fixture
async def alpha(start_instance: StartInstance) -> Instance:
    inst = await start_instance("alpha")
    await inst.add_actor("news")
    await inst.add_actor("erika", ActorType.PERSON)
    return inst


@pytest.fixture
async def remote(resolver: LoopbackResolver) -> AsyncIterator[FakeRemote]:
    fake = FakeRemote("remote.example:8443", shared_key())
    for name in ("pill", "bob", "carol", "odd"):
        fake.add_person(name)
    await fake.start(resolver)
    yield fake
    await fake.stop()


def follow(actor: str, target: str, n: int = 1) -> dict[str, object]:
    return {
        "@context": AS,
        "id": f"{actor}#follows/{n}",
        "type": "Follow",
        "actor": actor,
        "object": target,
    }


async def send(
    fake: FakeRemote, client: aiohttp.ClientSession, inst: Instance, act: dict[str, object]
) -> int:
    return await fake.post(client, inst.base_url + "/inbox", act)


async def follow_states(inst: Instance, followed: str) -> dict[str, str]:
    async with inst.sessionmaker() as session:
        rows = await session.scalars(select(Follow).where(Follow.followed_uri == followed))
        return {r.follower_uri: r.state for r in rows}


async def inbox_rows(inst: Instance) -> list[InboxActivity]:
    async with inst.sessionmaker() as session:
        return list(await session.scalars(select(InboxActivity).order_by(InboxActivity.id)))


# --- defect 1: one actor document must not stop processing for everyone ---------------------


@pytest.mark.parametrize("poison", [{"name": f"pill {LONE}"}, {"summary": "pill\x00 NUL"}])
async def test_poison_actor_document_does_not_stall_other_senders(
    alpha: Instance, remote: FakeRemote, client: aiohttp.ClientSession, poison: dict[str, str]
) -> None:
    news = alpha.actor_uri("news")
    pill = f"{remote.base}/users/pill"
    # pill's key is known (first follow), then pill's actor row is gone (Delete of the actor):
    # the next Follow verifies from the cached key and its prefetch fetches the document anew.
    assert await send(remote, client, alpha, follow(pill, news)) == 202
    delete = {"id": f"{pill}#delete", "type": "Delete", "actor": pill, "object": pill}
    assert await send(remote, client, alpha, {"@context": AS, **delete}) == 202
    await settle(alpha)
    assert pill not in await follow_states(alpha, news)
    doc = remote.docs["/users/pill"]
    assert isinstance(doc, dict)
    doc.update(poison)
    assert await send(remote, client, alpha, follow(pill, news, 2)) == 202
    for name in ("bob", "carol"):
        assert await send(remote, client, alpha, follow(f"{remote.base}/users/{name}", news)) == 202

    await alpha.app[keys.PROCESSOR].run_once()

    states = await follow_states(alpha, news)
    assert states[f"{remote.base}/users/bob"] == FollowState.ACCEPTED.value
    assert states[f"{remote.base}/users/carol"] == FollowState.ACCEPTED.value
    assert states[pill] == FollowState.ACCEPTED.value  # its text was made storable
    async with alpha.sessionmaker() as session:
        actor = await session.scalar(select(RemoteActor).where(RemoteActor.uri == pill))
    assert actor is not None
    assert LONE not in actor.display_name and "\x00" not in actor.summary
    assert "\ufffd" in actor.display_name or actor.summary == "pill NUL"
    assert all(r.processed_at is not None and r.error == "" for r in await inbox_rows(alpha))


async def test_a_claimed_record_waits_for_its_lease_and_a_lapsed_one_is_taken_up(
    alpha: Instance, remote: FakeRemote, client: aiohttp.ClientSession
) -> None:
    """What a processor that crashed while holding a batch leaves: its claim. Another
    processor leaves the records alone until the claim lapses, then handles them."""
    news = alpha.actor_uri("news")
    bob, carol = f"{remote.base}/users/bob", f"{remote.base}/users/carol"
    assert await send(remote, client, alpha, follow(bob, news)) == 202
    assert await send(remote, client, alpha, follow(carol, news)) == 202
    held, lapsed = await inbox_rows(alpha)
    now = datetime.now(UTC)
    async with alpha.sessionmaker() as session:
        claims = ((held, now + timedelta(minutes=4)), (lapsed, now - timedelta(seconds=1)))
        for row, until in claims:
            await session.execute(
                update(InboxActivity).where(InboxActivity.id == row.id).values(claimed_until=until)
            )
        await session.commit()
    processor = alpha.app[keys.PROCESSOR]
    assert await processor.run_once() == 1
    assert await follow_states(alpha, news) == {carol: FollowState.ACCEPTED.value}
    first, second = await inbox_rows(alpha)
    assert first.processed_at is None and first.claimed_until is not None
    assert second.processed_at is not None and second.claimed_until is None


async def test_failing_record_is_retried_with_backoff_then_given_up(
    alpha: Instance,
    remote: FakeRemote,
    client: aiohttp.ClientSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    news = alpha.actor_uri("news")
    pill, bob = f"{remote.base}/users/pill", f"{remote.base}/users/bob"
    directory = alpha.app[keys.DIRECTORY]
    real_get_actor = directory.get_actor

    async def get_actor(uri: str, **kw: Any) -> RemoteActor:
        if uri == pill:
            raise RuntimeError("boom in prefetch")
        return await real_get_actor(uri, **kw)

    real_stored_actors = directory.stored_actors

    async def stored_actors(uris: Iterable[str], **kw: Any) -> dict[str, RemoteActor]:
        """pill is not among the senders read at once, so its own prefetch runs."""
        return {u: a for u, a in (await real_stored_actors(uris, **kw)).items() if u != pill}

    monkeypatch.setattr(directory, "get_actor", get_actor)
    monkeypatch.setattr(directory, "stored_actors", stored_actors)
    assert await send(remote, client, alpha, follow(pill, news)) == 202
    assert await send(remote, client, alpha, follow(bob, news)) == 202
    processor = alpha.app[keys.PROCESSOR]
    await processor.run_once()
    assert (await follow_states(alpha, news)) == {bob: FollowState.ACCEPTED.value}
    poisoned = (await inbox_rows(alpha))[0]
    assert poisoned.actor_uri == pill and poisoned.processed_at is None
    assert poisoned.attempts == 1 and "prefetch: RuntimeError: boom in prefetch" in poisoned.error
    assert poisoned.retry_at is not None and poisoned.retry_at > datetime.now(UTC)

    # Waiting records are not picked up again before their time; later senders pass.
    carol = f"{remote.base}/users/carol"
    assert await send(remote, client, alpha, follow(carol, news)) == 202
    await processor.run_once()
    assert (await inbox_rows(alpha))[0].attempts == 1
    assert carol in await follow_states(alpha, news)

    for attempt in range(2, MAX_ATTEMPTS + 1):
        async with alpha.sessionmaker() as session:
            await session.execute(
                update(InboxActivity)
                .where(InboxActivity.id == poisoned.id)
                .values(retry_at=datetime.now(UTC) - timedelta(seconds=1))
            )
            await session.commit()
        await processor.run_once()
        row = (await inbox_rows(alpha))[0]
        assert row.attempts == attempt
        assert (row.processed_at is not None) == (attempt == MAX_ATTEMPTS)
    assert pill not in await follow_states(alpha, news)


async def test_failing_handler_in_a_batch_defers_only_its_record(
    alpha: Instance,
    remote: FakeRemote,
    client: aiohttp.ClientSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from inbox import handlers

    async def broken_like(*args: object) -> None:
        raise OperationalError("INSERT", {}, Exception("disk I/O error"))

    monkeypatch.setitem(
        handlers.HANDLERS, "Like", replace(handlers.HANDLERS["Like"], handler=broken_like)
    )
    news, bob = alpha.actor_uri("news"), f"{remote.base}/users/bob"
    like = {"id": f"{bob}#likes/1", "type": "Like", "actor": bob, "object": f"{news}/statuses/1"}
    assert await send(remote, client, alpha, {"@context": AS, **like}) == 202
    assert await send(remote, client, alpha, follow(bob, news)) == 202
    await alpha.app[keys.PROCESSOR].run_once()
    like_row, follow_row = await inbox_rows(alpha)
    assert follow_row.processed_at is not None and follow_row.error == ""
    assert like_row.processed_at is None and like_row.attempts == 1
    assert like_row.error.startswith("handler: OperationalError")
    assert (await follow_states(alpha, news))[bob] == FollowState.ACCEPTED.value


def test_retry_delays_grow_and_end() -> None:
    delays = [retry_delay(n) for n in range(1, MAX_ATTEMPTS + 1)]
    assert delays[-1] is None
    steps = [d for d in delays if d is not None]
    assert steps == sorted(steps) and steps[0] >= timedelta(seconds=10)
    assert sum(steps, timedelta()) < timedelta(hours=2)


# --- defect 3: a key we cannot obtain or store is 401, never 500 -----------------------------


async def test_actor_document_with_lone_surrogate_and_nul_is_accepted(
    start_instance: StartInstance, remote: FakeRemote, client: aiohttp.ClientSession
) -> None:
    beta = await start_instance("beta", authorized_fetch=True)
    await beta.add_actor("news")
    odd = f"{remote.base}/users/odd"
    doc = remote.docs["/users/odd"]
    assert isinstance(doc, dict)
    doc.update({"name": f"odd {LONE}", "summary": f"\x00{LONE}\x00"})
    # A signed GET under authorized fetch resolves the key from that very document.
    url = beta.actor_uri("news")
    headers = sign_request(
        method="GET",
        url=url,
        headers={"Accept": "application/activity+json"},
        body=None,
        key_id=f"{odd}#main-key",
        private_key_pem=remote.private_key_pem,
        now=datetime.now(UTC),
    )
    async with client.get(url, headers=headers) as resp:
        assert resp.status == 200
    assert await send(remote, client, beta, follow(odd, beta.actor_uri("news"))) == 202
    async with beta.sessionmaker() as session:
        actor = await session.scalar(select(RemoteActor).where(RemoteActor.uri == odd))
    assert actor is not None
    assert (actor.display_name, actor.summary) == ("odd \ufffd", "\ufffd")


async def test_key_that_cannot_be_stored_is_key_unavailable_and_not_asked_again(
    alpha: Instance,
    remote: FakeRemote,
    client: aiohttp.ClientSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    directory = alpha.app[keys.DIRECTORY]

    async def refuse(*args: object) -> RemoteActor:
        raise ValueError("A string literal cannot contain NUL (0x00) characters.")

    monkeypatch.setattr(directory, "_upsert_actor", refuse)
    fetched: list[str] = []
    real_get = remote.docs.get

    class Recording(dict[str, object]):
        def get(self, key: str, default: object = None) -> object:
            fetched.append(key)
            return real_get(key, default)

    remote.docs = Recording(remote.docs)
    odd = f"{remote.base}/users/odd"
    news = alpha.actor_uri("news")
    async with client.post(
        alpha.base_url + "/inbox",
        data=json.dumps(follow(odd, news)).encode(),
        headers=sign_request(
            method="POST",
            url=alpha.base_url + "/inbox",
            headers={"Content-Type": "application/activity+json"},
            body=json.dumps(follow(odd, news)).encode(),
            key_id=f"{odd}#main-key",
            private_key_pem=remote.private_key_pem,
            now=datetime.now(UTC),
        ),
    ) as resp:
        assert resp.status == 401
        assert "key_unavailable" in (await resp.json())["error"]
    # A second request with the same key within the failure window costs no GET.
    asked = len(fetched)
    assert asked >= 1
    assert await send(remote, client, alpha, follow(odd, news, 2)) == 401
    assert len(fetched) == asked
    assert await inbox_rows(alpha) == []


# --- defect 4: remote text in posts is normalised on ingest ----------------------------------


@pytest.fixture
async def bob(alpha: Instance, remote: FakeRemote, client: aiohttp.ClientSession) -> Peer:
    peer = Peer(remote, "bob", alpha, client)
    await follow_remote(alpha, remote, client, "erika", peer.uri)
    return peer


def article(peer: Peer, n: int, **fields: object) -> dict[str, object]:
    obj: dict[str, object] = {
        "id": peer.status_uri(n),
        "type": "Article",
        "attributedTo": peer.uri,
        "to": [PUBLIC],
        "cc": [f"{peer.uri}/followers"],
        "published": "2025-03-01T12:00:00Z",
        "content": "<p>plain</p>",
        **fields,
    }
    return {
        "@context": AS,
        "id": f"{peer.status_uri(n)}/activity",
        "type": "Create",
        "actor": peer.uri,
        "to": [PUBLIC],
        "object": obj,
    }


async def status_of(inst: Instance, uri: str) -> Status | None:
    async with inst.sessionmaker() as session:
        return await session.scalar(select(Status).where(Status.uri == uri))


async def test_lone_surrogates_and_nul_in_post_text_are_replaced_on_ingest(
    alpha: Instance, bob: Peer, client: aiohttp.ClientSession
) -> None:
    await bob.send(
        article(
            bob,
            1,
            content=f"<p>a{LONE}b\x00c</p>",
            summary=f"cw {LONE}",
            name=f"Title {LONE}\x00",
            tag=[{"type": "Hashtag", "name": f"#verein{LONE}", "href": f"{bob.fake.base}/t/x"}],
        )
    )
    status = await status_of(alpha, bob.status_uri(1))
    assert status is not None
    assert status.content == "<p>a\ufffdbc</p>"
    assert (status.summary, status.name) == ("cw \ufffd", "Title \ufffd")
    async with client.get(f"{alpha.base_url}/api/v1/statuses/{status.id}") as resp:
        assert resp.status == 200
        raw = await resp.text()
    assert "<p>a\ufffdbc</p>" in json.loads(raw)["content"]
    assert "\\ud800" not in raw.lower() and "\\u0000" not in raw
    async with client.get(f"{alpha.base_url}/api/v1/timelines/public") as resp:
        assert resp.status == 200
        assert [s["uri"] for s in await resp.json()] == [bob.status_uri(1)]
    assert all(r.error == "" for r in await inbox_rows(alpha))


# --- defect 5: dates before 1970 give ids the API can look up --------------------------------


async def test_published_before_1970_gives_a_positive_id_that_pages(
    alpha: Instance, bob: Peer, client: aiohttp.ClientSession
) -> None:
    await bob.send(article(bob, 1, published="0001-01-01T00:00:00Z"))
    await bob.send(article(bob, 2, published="1969-12-31T23:59:59Z"))
    await bob.send(article(bob, 3))
    ids = {}
    for n in (1, 2, 3):
        status = await status_of(alpha, bob.status_uri(n))
        assert status is not None and status.id > 0
        ids[n] = status.id
    async with client.get(f"{alpha.base_url}/api/v1/statuses/{ids[1]}") as resp:
        assert resp.status == 200
        assert (await resp.json())["uri"] == bob.status_uri(1)
    async with client.get(
        f"{alpha.base_url}/api/v1/timelines/public", params={"max_id": str(ids[3])}
    ) as resp:
        assert resp.status == 200
        older = [s["uri"] for s in await resp.json()]
    assert sorted(older) == [bob.status_uri(1), bob.status_uri(2)]


# --- defect 6: a Follow of a local actor in another letter case counts ----------------------


async def test_follow_naming_local_actor_in_other_case_is_one_follower(
    alpha: Instance, remote: FakeRemote, client: aiohttp.ClientSession
) -> None:
    bob = f"{remote.base}/users/bob"
    assert await send(remote, client, alpha, follow(bob, f"{alpha.base_url}/users/NEWS")) == 202
    assert await send(remote, client, alpha, follow(bob, f"{alpha.base_url}/users/News", 2)) == 202
    await settle(alpha)
    assert await follow_states(alpha, alpha.actor_uri("news")) == {bob: FollowState.ACCEPTED.value}
    async with alpha.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Follow)) == 1
    async with client.get(
        f"{alpha.actor_uri('news')}/followers?page=1",
        headers={"Accept": "application/activity+json"},
    ) as resp:
        assert (await resp.json())["orderedItems"] == [bob]
    # Undo naming the other spelling ends it.
    undo: dict[str, object] = {
        "@context": AS,
        "id": f"{bob}#follows/2/undo",
        "type": "Undo",
        "actor": bob,
        "object": {"type": "Follow", "actor": bob, "object": f"{alpha.base_url}/users/nEwS"},
    }
    assert await send(remote, client, alpha, undo) == 202
    await settle(alpha)
    assert await follow_states(alpha, alpha.actor_uri("news")) == {}
