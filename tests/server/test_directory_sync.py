"""Syncing peers' directories between complete instances over real HTTP (issue 13).

Three instances: alpha reads the directories of beta and gamma (whose domain carries a
port). Each peer's `/directory` is served by the `serve_directory` fixture: the peer's own
route when the app has one (H2's), else the spec-faithful stand-in of
`tests/directory_standin.py` in front of the instance, reading the instance's actors. The
assertions are the same either way.

Also here: claims keep two processes off one peer, the schedule loop, and the CLI
(`verbund directory peers`, `verbund directory sync [PEER]`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from actors.models import (
    Actor,
    ActorType,
    DirectoryEntry,
    DirectoryEntryInterest,
    DirectoryPeer,
)
from actors.peers import DirectorySync, SyncSettings
from server import keys
from server.config import DatabaseConfig
from server.worker import sync_directories_forever
from tests.conftest import Instance, LoopbackResolver, MigratedDatabase, StartInstance
from tests.directory_standin import DirectoryStandIn, Listed, actor_item
from tests.helpers import run_cli


class Clock:
    """A wall clock that tests move by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Served:
    """A peer whose directory is readable at its domain; `standin` is None when the
    instance serves `/directory` itself."""

    instance: Instance
    standin: DirectoryStandIn | None

    @property
    def domain(self) -> str:
        return self.instance.config.instance.domain


ServeDirectory = Callable[[Instance], Awaitable[Served]]


def has_directory_route(inst: Instance) -> bool:
    return any(
        getattr(route.resource, "canonical", None) == "/directory"
        for route in inst.app.router.routes()
    )


def standin_source(inst: Instance) -> Callable[[], Awaitable[list[Listed]]]:
    """The instance's actors as its directory would list them (spec: discoverable,
    non-instance actors; the rest only as Tombstones to `?since=`)."""

    async def source() -> list[Listed]:
        async with inst.sessionmaker() as session:
            actors = (
                await session.scalars(
                    select(Actor).where(
                        Actor.is_instance.is_(False), Actor.profile_changed_at.is_not(None)
                    )
                )
            ).all()
        listed = []
        for a in actors:
            assert a.profile_changed_at is not None
            uri = inst.actor_uri(a.username)
            item = None
            if a.discoverable:
                item = actor_item(
                    uri,
                    type_=ActorType(a.type).value,
                    username=a.username,
                    name=a.display_name,
                    summary=a.summary,
                    region=a.region_code,
                    locality=a.locality,
                    postal_prefix=a.postal_prefix,
                    interests=tuple(a.interests),
                    indexable=a.indexable,
                )
            listed.append(Listed(uri, ActorType(a.type).value, a.profile_changed_at, item))
        return listed

    return source


@pytest.fixture
async def serve_directory(resolver: LoopbackResolver) -> AsyncIterator[ServeDirectory]:
    """The one place that decides who serves a peer's `/directory` (swap it here)."""
    standins: list[DirectoryStandIn] = []

    async def serve(inst: Instance) -> Served:
        if has_directory_route(inst):
            return Served(inst, None)
        standin = DirectoryStandIn(inst.base_url, standin_source(inst), upstream=inst.port)
        await standin.start()
        standins.append(standin)
        resolver.hosts[inst.config.instance.hostname] = standin.port
        return Served(inst, standin)

    yield serve
    for standin in standins:
        await standin.stop()


def make_sync(
    inst: Instance, peers: list[str], clock: Callable[[], datetime], **settings: Any
) -> DirectorySync:
    return DirectorySync(
        inst.sessionmaker,
        lambda: inst.app[keys.HTTP_CLIENT],
        peers=peers,
        settings=SyncSettings(scheme="http", **settings),
        signer=inst.services.instance_signer,
        policy=inst.app[keys.POLICY],
        allow_private=True,
        clock=clock,
    )


async def set_profile(inst: Instance, username: str, **values: object) -> None:
    async with inst.sessionmaker() as session:
        await session.execute(
            update(Actor).where(Actor.username_key == username.lower()).values(**values)
        )
        await session.commit()


async def entries(inst: Instance) -> dict[str, DirectoryEntry]:
    async with inst.sessionmaker() as session:
        rows = (await session.scalars(select(DirectoryEntry))).all()
    return {row.actor_uri: row for row in rows}


async def interest_keys(inst: Instance, actor_uri: str) -> set[str]:
    async with inst.sessionmaker() as session:
        keys_ = await session.scalars(
            select(DirectoryEntryInterest.tag_key)
            .join(DirectoryEntry, DirectoryEntry.id == DirectoryEntryInterest.entry_id)
            .where(DirectoryEntry.actor_uri == actor_uri)
        )
        return set(keys_)


@dataclass
class World:
    alpha: Instance
    beta: Served
    gamma: Served
    clock: Clock
    sync: DirectorySync


@pytest.fixture
async def world(start_instance: StartInstance, serve_directory: ServeDirectory) -> World:
    alpha = await start_instance("alpha")
    beta = await start_instance("beta")
    gamma = await start_instance("gamma", domain="gamma.test:8443")
    t0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    await beta.add_actor("klima", display_name="Klimabündnis Pankow", summary="Für Radwege & Bäume")
    await set_profile(
        beta,
        "klima",
        region_code="DE-BE",
        locality="Pankow",
        postal_prefix="10",
        interests=["Klima", "Verkehrswende"],
        profile_changed_at=t0,
    )
    await beta.add_actor("privat", ActorType.PERSON)  # people are not listed until they opt in
    await set_profile(beta, "privat", profile_changed_at=t0)
    await gamma.add_actor("radclub", ActorType.GROUP, display_name="Radclub Altona")
    await set_profile(
        gamma,
        "radclub",
        region_code="DE-HH",
        interests=["Fahrrad", "Straße"],
        profile_changed_at=t0 + timedelta(minutes=1),
    )
    await gamma.add_actor("fern", display_name="Far away")
    await set_profile(gamma, "fern", region_code="XX-YY", profile_changed_at=t0)
    served_beta, served_gamma = await serve_directory(beta), await serve_directory(gamma)
    clock = Clock(t0 + timedelta(hours=1))
    sync = make_sync(alpha, [served_beta.domain, served_gamma.domain], clock)
    return World(alpha, served_beta, served_gamma, clock, sync)


async def test_three_instances_read_each_others_directories(world: World) -> None:
    reports = await world.sync.sync_due()
    assert [(r.peer, r.full, r.complete, r.error) for r in reports] == [
        ("beta.test", True, True, ""),
        ("gamma.test:8443", True, True, ""),
    ]
    assert [r.added for r in reports] == [1, 2]
    cached = await entries(world.alpha)
    klima = cached["http://beta.test/users/klima"]
    assert (klima.type, klima.username, klima.domain) == ("Organization", "klima", "beta.test")
    assert (klima.region_code, klima.locality, klima.postal_prefix) == ("DE-BE", "Pankow", "10")
    assert klima.summary == "Für Radwege & Bäume"
    assert klima.search_text == "klimabündnis pankow klima für radwege & bäume"
    assert klima.interests == ["Klima", "Verkehrswende"]
    assert await interest_keys(world.alpha, klima.actor_uri) == {"klima", "verkehrswende"}
    radclub = cached["http://gamma.test:8443/users/radclub"]
    assert (radclub.type, radclub.domain, radclub.region_code) == (
        "Group",
        "gamma.test:8443",
        "DE-HH",
    )
    assert await interest_keys(world.alpha, radclub.actor_uri) == {"fahrrad", "strasse"}
    assert cached["http://gamma.test:8443/users/fern"].region_code is None  # not an ISO code
    assert "http://beta.test/users/privat" not in cached
    statuses = {s.domain: s for s in await world.sync.statuses()}
    assert statuses["beta.test"].entry_count == 1
    assert statuses["gamma.test:8443"].entry_count == 2
    assert statuses["beta.test"].last_success_at == world.clock.now
    if world.beta.standin is not None:  # signed by alpha's instance actor
        first = world.beta.standin.requests[0]
        assert 'keyId="http://alpha.test/actor#main-key"' in first.headers["Signature"]
        assert first.headers["Accept"].startswith("application/activity+json")

    assert await world.sync.sync_due() == []  # nobody is due again yet


async def test_incremental_sync_removes_what_a_peer_stopped_listing(world: World) -> None:
    await world.sync.sync_due()
    world.clock.advance(60)
    await set_profile(
        world.beta.instance, "klima", discoverable=False, profile_changed_at=world.clock.now
    )
    world.clock.advance(60)
    report = await world.sync.sync_peer("beta.test")
    assert (report.full, report.removed, report.complete) == (False, 1, True)
    assert "http://beta.test/users/klima" not in await entries(world.alpha)
    # Nothing changed since: one request (304, or the same ETag).
    again = await world.sync.sync_peer("beta.test")
    assert (again.requests, again.complete, again.error) == (1, True, "")
    again = await world.sync.sync_peer("beta.test")
    assert (again.requests, again.not_modified) == (1, True)
    if world.beta.standin is not None:
        assert world.beta.standin.directory_requests()[-1].startswith("/directory?since=")


async def test_full_sync_drops_entries_no_longer_listed(world: World) -> None:
    await world.sync.sync_due()
    async with world.gamma.instance.sessionmaker() as session:
        # A full listing holds no Tombstones: the actor is simply not there any more.
        await session.execute(
            update(Actor).where(Actor.username == "fern").values(discoverable=False)
        )
        await session.commit()
    world.clock.advance(3600)
    report = await world.sync.sync_peer("gamma.test:8443", full=True)
    assert (report.full, report.removed) == (True, 1)
    assert set(await entries(world.alpha)) == {
        "http://beta.test/users/klima",
        "http://gamma.test:8443/users/radclub",
    }


async def test_peers_taken_off_the_list_lose_their_entries(world: World) -> None:
    await world.sync.sync_due()
    fewer = make_sync(world.alpha, ["beta.test"], world.clock)
    await fewer.sync_due()
    assert set(await entries(world.alpha)) == {"http://beta.test/users/klima"}
    async with world.alpha.sessionmaker() as session:
        assert list(await session.scalars(select(DirectoryPeer.domain))) == ["beta.test"]


async def test_two_processes_never_sync_one_peer_at_once(
    world: World, resolver: LoopbackResolver
) -> None:
    # The stand-in in front of beta holds its answer until the second sync has tried.
    beta = world.beta.instance
    standin = world.beta.standin
    if standin is None:
        standin = DirectoryStandIn(beta.base_url, standin_source(beta), upstream=beta.port)
        await standin.start()
        resolver.hosts[beta.config.instance.hostname] = standin.port
    try:
        await _hold_one_sync(world, standin)
    finally:
        if world.beta.standin is None:
            resolver.hosts[beta.config.instance.hostname] = beta.port
            await standin.stop()


async def _hold_one_sync(world: World, standin: DirectoryStandIn) -> None:
    gate, asked = asyncio.Event(), asyncio.Event()
    source = standin.source

    async def held() -> list[Listed]:
        asked.set()
        await gate.wait()
        return await source()

    standin.source = held
    other = make_sync(world.alpha, ["beta.test"], world.clock)
    first = asyncio.create_task(make_sync(world.alpha, ["beta.test"], world.clock).sync_due())
    await asyncio.wait_for(asked.wait(), 10)
    assert await other.sync_due() == []  # claimed by the first
    busy = await other.sync_peer("beta.test")
    assert busy.error == "another process is syncing it"
    statuses = await other.statuses()
    assert statuses[0].syncing
    gate.set()
    (report,) = await first
    assert report.complete
    assert len(standin.directory_requests()) == 2  # collection and page, once
    assert not (await other.statuses())[0].syncing


async def test_the_schedule_syncs_due_peers_until_stopped(world: World) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(sync_directories_forever(world.sync, stop, interval=0.05))
    for _ in range(200):
        statuses = await world.sync.statuses()
        if all(s.last_success_at is not None for s in statuses):
            break
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert [s.entry_count for s in await world.sync.statuses()] == [1, 2]


# --- the CLI ----------------------------------------------------------------------------------


def write_config(path: Path, database: DatabaseConfig, peers: list[str]) -> None:
    schema = f'schema = "{database.schema}"\n' if database.schema else ""
    listed = ", ".join(f'"{p}"' for p in peers)
    path.write_text(
        f"""[instance]
domain = "localhost:8080"
scheme = "http"
[database]
url = "{database.url}"
{schema}[federation]
allow_private_addresses = true
[directory]
peers = [{listed}]
""",
        encoding="utf-8",
    )


async def test_cli_lists_peers_and_syncs_them(
    tmp_path: Path, migrated_database: MigratedDatabase
) -> None:
    changed = datetime(2026, 12, 1, tzinfo=UTC)
    listed: list[Listed] = []

    async def source() -> list[Listed]:
        return listed

    standin = DirectoryStandIn("", source)
    await standin.start()
    try:
        standin.base = f"http://127.0.0.1:{standin.port}"
        peer = f"127.0.0.1:{standin.port}"
        for name in ("one", "two"):
            uri = f"{standin.base}/users/{name}"
            item = actor_item(uri, username=name, region="AT-9")
            listed.append(Listed(uri, "Organization", changed, item))
        database = await migrated_database("cli")
        config = tmp_path / "verbund.toml"
        write_config(config, database, [peer, "127.0.0.1:1"])  # nothing listens on port 1

        def cli(*args: str) -> tuple[int, str, str]:
            done = run_cli("--config", str(config), *args)
            return done.returncode, done.stdout, done.stderr

        code, out, _ = await asyncio.to_thread(cli, "directory", "peers")
        assert code == 0
        assert out.splitlines()[0].split() == [
            "PEER",
            "LAST",
            "SYNC",
            "LAST",
            "SUCCESS",
            "ENTRIES",
            "ERROR",
        ]
        assert out.splitlines()[1].split() == [peer, "-", "-", "0", "-"]

        code, out, err = await asyncio.to_thread(cli, "directory", "sync", peer)
        assert code == 0, err
        assert f"{peer}: full sync, 2 requests, 1 pages, 2 added, 0 updated, 0 removed" in out

        code, out, err = await asyncio.to_thread(cli, "directory", "sync")
        assert code == 1
        assert f"{peer}: incremental sync" in out
        assert "127.0.0.1:1: full sync, 1 requests" in out and "error:" in out
        assert "did not complete" in err

        code, out, _ = await asyncio.to_thread(cli, "directory", "peers")
        lines = {line.split()[0]: line for line in out.splitlines()[1:]}
        assert lines[peer].split()[-2:] == ["2", "-"]
        assert lines["127.0.0.1:1"].split()[3:5] == ["-", "0"]  # never answered, no entries

        code, _, err = await asyncio.to_thread(cli, "directory", "sync", "nobody.example")
        assert code == 1
        assert "nobody.example is not a directory peer" in err
    finally:
        await standin.stop()
