"""`actors.peers.DirectorySync` against odd and hostile peers (fake remotes on loopback).

Every hostile peer is bounded by a limit of `SyncSettings`, has its trouble recorded in
`last_error`, and does not keep the well-behaved peer beside it from being synced.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import func, select

from actors.models import DirectoryEntry, DirectoryEntryInterest, DirectoryPeer
from actors.peers import DirectorySync, SyncReport, SyncSettings, UnknownPeerError
from federation.directory_pages import MAX_INTERESTS, format_timestamp
from server import keys
from tests.conftest import Instance, LoopbackResolver, StartInstance
from tests.fakes import FakeRemote, Reply

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
JSON = "application/activity+json"


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def item(base: str, name: str, *, updated: datetime = T0, **extra: object) -> dict[str, object]:
    return {
        "id": f"{base}/users/{name}",
        "type": "Organization",
        "preferredUsername": name,
        "name": name.title(),
        "summary": f"<p>{name}</p>",
        "updated": format_timestamp(updated),
        "discoverable": True,
        **extra,
    }


def collection(base: str, total: int | None = None, first: object = None) -> dict[str, object]:
    doc: dict[str, object] = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{base}/directory",
        "type": "OrderedCollection",
        "first": first if first is not None else f"{base}/directory?page=true",
    }
    if total is not None:
        doc["totalItems"] = total
    return doc


def page(base: str, items: Sequence[object], next_: str | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": f"{base}/directory?page=true",
        "type": "OrderedCollectionPage",
        "orderedItems": list(items),
    }
    if next_ is not None:
        doc["next"] = next_
    return doc


def serve_listing(fake: FakeRemote, items: Sequence[object]) -> None:
    fake.docs["/directory"] = collection(fake.base, len(items))
    fake.docs["/directory?page=true"] = page(fake.base, items)


@dataclass
class Peers:
    alpha: Instance
    resolver: LoopbackResolver
    good: FakeRemote
    bad: FakeRemote
    clock: Clock

    def sync(self, **settings: Any) -> DirectorySync:
        return DirectorySync(
            self.alpha.sessionmaker,
            lambda: self.alpha.app[keys.HTTP_CLIENT],
            peers=[self.bad.host, self.good.host],
            settings=SyncSettings(scheme="http", **settings),
            signer=self.alpha.services.instance_signer,
            policy=self.alpha.app[keys.POLICY],
            allow_private=True,
            clock=self.clock,
        )

    async def sync_both(self, **settings: Any) -> tuple[SyncReport, SyncReport]:
        """Sync the bad peer, then the good one; the good one must come through."""
        reports = {r.peer: r for r in await self.sync(**settings).sync_due()}
        good = reports["good.example"]
        assert (good.complete, good.added, good.error) == (True, 2, "")
        return reports["bad.example"], good

    async def entries(self, peer: str) -> list[str]:
        async with self.alpha.sessionmaker() as session:
            return sorted(
                await session.scalars(
                    select(DirectoryEntry.actor_uri)
                    .join(DirectoryPeer, DirectoryPeer.id == DirectoryEntry.peer_id)
                    .where(DirectoryPeer.domain == peer)
                )
            )

    async def peer(self, domain: str) -> DirectoryPeer:
        async with self.alpha.sessionmaker() as session:
            row = await session.scalar(select(DirectoryPeer).where(DirectoryPeer.domain == domain))
        assert row is not None
        return row


@pytest.fixture
async def peers(start_instance: StartInstance, resolver: LoopbackResolver) -> AsyncIterator[Peers]:
    alpha = await start_instance("alpha")
    good, bad = FakeRemote("good.example"), FakeRemote("bad.example")
    for fake in (good, bad):
        await fake.start(resolver)
    serve_listing(good, [item(good.base, "one"), item(good.base, "two")])
    yield Peers(alpha, resolver, good, bad, Clock(T0 + timedelta(hours=1)))
    for fake in (good, bad):
        await fake.stop()


async def test_a_body_that_is_not_json_is_an_error(peers: Peers) -> None:
    peers.bad.reply("/directory", Reply(body=b"<html>hello</html>", content_type=JSON))
    bad, _ = await peers.sync_both()
    assert not bad.complete
    assert "not JSON" in bad.error
    row = await peers.peer("bad.example")
    assert row.last_error == bad.error and row.last_success_at is None


async def test_a_500_is_an_error(peers: Peers) -> None:
    peers.bad.reply("/directory", Reply(500))
    bad, _ = await peers.sync_both()
    assert "HTTP 500" in bad.error and bad.requests == 1


async def test_wrong_types_are_errors(peers: Peers) -> None:
    peers.bad.docs["/directory"] = collection(peers.bad.base, first=42)
    bad, _ = await peers.sync_both()
    assert "page link" in bad.error
    peers.bad.docs["/directory"] = collection(peers.bad.base)
    peers.bad.docs["/directory?page=true"] = {"type": "OrderedCollectionPage", "orderedItems": 7}
    peers.clock.advance(7200)
    bad = await peers.sync().sync_peer("bad.example", full=True)
    assert "orderedItems" in bad.error


async def test_malformed_items_are_skipped_and_counted(peers: Peers) -> None:
    good_item = item(peers.bad.base, "fine")
    broken: list[object] = [
        "x",
        {**good_item, "id": 5},
        {**good_item, "updated": "yesterday"},
        {**good_item, "type": "Note"},
    ]
    serve_listing(peers.bad, [*broken, good_item])
    bad, _ = await peers.sync_both()
    assert (bad.complete, bad.added, bad.skipped) == (True, 1, 4)
    assert bad.error == "skipped 4 malformed items"


async def test_a_5_mb_page_is_cut_off(peers: Peers) -> None:
    peers.bad.docs["/directory"] = collection(peers.bad.base)
    # Chunked, without a Content-Length: the limit must hold while reading.
    piece = b" " * 65_536
    peers.bad.reply(
        "/directory?page=true", Reply(stream=(b"{", *([piece] * 80)), content_type=JSON)
    )
    bad, _ = await peers.sync_both(max_page_bytes=1_048_576)
    assert "exceeds 1048576 bytes (directory.max_page_bytes)" in bad.error
    assert not bad.complete


async def test_an_endless_next_chain_stops_at_max_pages(peers: Peers) -> None:
    base = peers.bad.base

    def nth(request: web.Request) -> Reply:
        n = int(request.path.rsplit("/", 1)[1])
        return Reply(json=page(base, [item(base, f"p{n}")], f"{base}/directory/p/{n + 1}"))

    peers.bad.docs["/directory"] = collection(base, first=f"{base}/directory/p/1")
    peers.bad.replies["/directory/p/*"] = nth
    bad, _ = await peers.sync_both(max_pages=5)
    assert bad.error == "stopped after 5 pages (directory.max_pages)"
    assert (bad.pages, bad.requests, bad.added) == (5, 6, 5)
    assert len(await peers.entries("bad.example")) == 5  # what was read is kept
    row = await peers.peer("bad.example")
    assert row.last_success_at is not None and row.cursor is None  # not read to the end


async def test_a_next_loop_stops_at_the_page_seen(peers: Peers) -> None:
    base = peers.bad.base
    peers.bad.docs["/directory"] = collection(base, first=f"{base}/directory/a")
    peers.bad.docs["/directory/a"] = page(base, [item(base, "a")], f"{base}/directory/b")
    peers.bad.docs["/directory/b"] = page(base, [item(base, "b")], f"{base}/directory/a")
    bad, _ = await peers.sync_both()
    assert bad.error == "stopped after 2 pages: next leads back to a page read"
    assert bad.requests == 3
    assert await peers.entries("bad.example") == [f"{base}/users/a", f"{base}/users/b"]


async def test_a_next_on_another_host_is_not_followed(peers: Peers) -> None:
    base = peers.bad.base
    elsewhere = f"{peers.good.base}/directory?page=true"
    serve_listing(peers.bad, [item(base, "a")])
    peers.bad.docs["/directory?page=true"] = page(base, [item(base, "a")], elsewhere)
    before = len(peers.good.requests)
    bad, _ = await peers.sync_both()
    assert bad.error == "stopped at a next page on another host (good.example)"
    assert bad.added == 1
    assert len(peers.good.requests) - before == 2  # only good's own sync


async def test_a_slow_trickle_is_cut_off_by_the_sync_timeout(
    peers: Peers, resolver: LoopbackResolver
) -> None:
    async def trickle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": JSON})
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):
            await response.write(b"{")
            for _ in range(600):  # a byte every 0.2 s: never idle long enough for sock_read
                await asyncio.sleep(0.2)
                await response.write(b" ")
        return response

    app = web.Application()
    app.router.add_get("/directory", trickle)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    peers.bad.host = "slow.example"  # the fake goes unused: this server plays bad
    resolver.hosts["slow.example"] = runner.addresses[-1][1]
    try:
        reports = {r.peer: r for r in await peers.sync(sync_timeout=1.5).sync_due()}
    finally:
        await runner.cleanup()
    slow = reports["slow.example"]
    assert slow.error == "stopped after 1.5 s (directory.sync_timeout)"
    assert slow.seconds < 4
    assert reports["good.example"].complete


async def test_items_with_foreign_ids_are_skipped(peers: Peers) -> None:
    base = peers.bad.base
    serve_listing(
        peers.bad,
        [
            item(base, "own"),
            item("http://good.example", "impostor"),
            item("https://bad.example", "other-scheme"),
            item("http://bad.example:8080", "other-port"),
        ],
    )
    bad, _ = await peers.sync_both()
    assert (bad.complete, bad.added, bad.skipped) == (True, 1, 3)
    assert bad.error == "skipped 3 items not on bad.example"
    assert await peers.entries("bad.example") == [f"{base}/users/own"]
    assert "http://good.example/users/impostor" not in await peers.entries("good.example")


async def test_ten_thousand_interests_on_one_item_are_capped(peers: Peers) -> None:
    base = peers.bad.base
    serve_listing(peers.bad, [item(base, "greedy", interests=[f"tag{n}" for n in range(10_000)])])
    bad, _ = await peers.sync_both()
    assert bad.complete
    async with peers.alpha.sessionmaker() as session:
        entry = await session.scalar(
            select(DirectoryEntry).where(DirectoryEntry.actor_uri == f"{base}/users/greedy")
        )
        assert entry is not None and len(entry.interests) == MAX_INTERESTS
        keys_ = await session.scalar(
            select(func.count())
            .select_from(DirectoryEntryInterest)
            .where(DirectoryEntryInterest.entry_id == entry.id)
        )
    assert keys_ == MAX_INTERESTS


async def test_entries_stop_at_max_entries_per_peer(peers: Peers) -> None:
    base = peers.bad.base
    serve_listing(peers.bad, [item(base, f"n{n}") for n in range(5)])
    bad, _ = await peers.sync_both(max_entries_per_peer=3)
    assert bad.error == "stopped at 3 entries (directory.max_entries_per_peer)"
    assert len(await peers.entries("bad.example")) == 3


async def test_an_unchanged_directory_costs_one_request(peers: Peers) -> None:
    base = peers.bad.base

    def conditional(request: web.Request) -> Reply:
        if "page" in request.query:
            return Reply(json=page(base, [item(base, "a")]))
        if request.headers.get("If-None-Match") == '"v1"':
            return Reply(304, headers={"ETag": '"v1"'})
        return Reply(json=collection(base, 1), headers={"ETag": '"v1"'})

    peers.bad.replies["/directory"] = conditional
    first, _ = await peers.sync_both()
    assert (first.full, first.requests) == (True, 2)
    peers.clock.advance(7200)
    before = len(peers.bad.requests)
    again = await peers.sync().sync_peer("bad.example")
    assert (again.full, again.requests, again.not_modified, again.error) == (False, 1, True, "")
    assert len(peers.bad.requests) - before == 1
    (request,) = peers.bad.requests[before:]
    assert request.path_qs == f"/directory?since={format_timestamp(T0)}"
    assert request.headers["If-None-Match"] == '"v1"'
    assert "Signature" in request.headers


async def test_a_tombstone_removes_the_entry(peers: Peers) -> None:
    base = peers.bad.base
    serve_listing(peers.bad, [item(base, "a"), item(base, "b")])
    await peers.sync_both()
    later = T0 + timedelta(minutes=5)
    since = f"/directory?since={format_timestamp(T0)}"
    peers.bad.docs[since] = collection(base, 2, first=f"{base}/changes")
    peers.bad.docs["/changes"] = page(
        base,
        [
            {"id": f"{base}/users/a", "type": "Tombstone", "formerType": "Organization"},
            item(base, "b", updated=later, discoverable=False),
        ],
    )
    peers.clock.advance(120)
    report = await peers.sync().sync_peer("bad.example")
    assert (report.full, report.removed, report.complete) == (False, 2, True)
    assert await peers.entries("bad.example") == []
    assert (await peers.peer("bad.example")).cursor == later


async def test_a_peer_failing_longer_than_drop_after_loses_its_entries(peers: Peers) -> None:
    serve_listing(peers.bad, [item(peers.bad.base, "a")])
    await peers.sync_both()
    peers.bad.replies["/directory"] = Reply(503)
    peers.clock.advance(86_400 - 60)
    report = await peers.sync(drop_after=86_400).sync_peer("bad.example")
    assert "HTTP 503" in report.error and report.removed == 0
    assert len(await peers.entries("bad.example")) == 1  # kept while it may come back
    peers.clock.advance(120)
    report = await peers.sync(drop_after=86_400).sync_peer("bad.example")
    assert report.removed == 1
    assert await peers.entries("bad.example") == []
    assert (await peers.peer("bad.example")).entry_count == 0


async def test_sync_due_drops_entries_of_peers_silent_too_long(peers: Peers) -> None:
    serve_listing(peers.bad, [item(peers.bad.base, "a")])
    await peers.sync_both()
    peers.clock.advance(2 * 86_400)
    sync = peers.sync(drop_after=86_400, sync_interval=10 * 86_400)  # nobody is due
    peers.bad.replies["/directory"] = Reply(503)
    await sync.sync_peer("good.example")  # good answers; bad has not for two days
    assert await sync.sync_due() == []
    assert await peers.entries("bad.example") == []
    assert len(await peers.entries("good.example")) == 2


async def test_an_unknown_peer_is_refused(peers: Peers) -> None:
    with pytest.raises(UnknownPeerError):
        await peers.sync().sync_peer("nobody.example")
