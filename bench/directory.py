"""Directory benchmark (issue 13): syncing a peer's directory, and searching the cache.

1. Sync from scratch of one peer listing BENCH_DIR_ENTRIES (default 10,000) actors: the
   peer is a real Verbund instance (`verbund serve` in its own process, its actors
   seeded into its database) if its `GET /directory` answers as the spec says, else the
   spec-faithful stand-in of tests/directory_standin.py in its own process; `peer_server`
   says which. `full_sync_seconds` is wall time, `full_sync_cpu_seconds` the CPU of this
   (the syncing) process only, `fetch_only_seconds` the same pages merely fetched (the
   peer's and the network's share); then an incremental sync with nothing changed
   (`incremental_requests`, `incremental_seconds`). Goal: a full sync of 10k under 10 s.
2. Search latency over a cache of BENCH_DIR_CACHE (default 100,000) entries from
   BENCH_DIR_PEERS (default 1,000) peers plus BENCH_DIR_LOCAL (default 1,000) local
   actors, every entry with a region (a German state, or an Austrian or Swiss one) and
   three interests out of 300: BENCH_DIR_QUERIES (default 300) region + interest queries
   (a country or a state, one or two interests, any of them), newest first, 40 hits.
   `search_p50_ms`, `search_p99_ms`. `search_impl` says what ran: `actors.directory.search`
   when it exists, else raw SQL mirroring the spec's query (local actors UNION ALL cached
   entries, region as an indexed range `code = 'DE' OR code >= 'DE-' AND code < 'DE.'`,
   interests as `id IN (SELECT … WHERE tag_key IN (…))`, one ORDER BY/LIMIT). Goal: p99
   under 20 ms. The IN form matters on SQLite: with `EXISTS (… WHERE entry_id = e.id …)`
   its planner walks every entry of a country-wide region and probes each (p99 ~140-430 ms
   at 100k entries, against ~12 ms driving from the interest key's index).

Prints one JSON line. SQLite (a temporary file) by default; BENCH_DATABASE_URL=
postgresql+asyncpg://... runs it on PostgreSQL, in a database created for the run and
dropped after it (bench.inbox_e2e.on_fresh_database). The peer of part 1 always keeps its
own SQLite file.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import multiprocessing
import os
import random
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from sqlalchemy import Table, insert, text  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker  # noqa: E402

from actors.local import ensure_instance_actor  # noqa: E402
from actors.models import (  # noqa: E402
    Actor,
    ActorInterest,
    DirectoryEntry,
    DirectoryEntryInterest,
    DirectoryPeer,
)
from actors.peers import DirectorySync, SyncSettings  # noqa: E402
from actors.uris import LocalUris  # noqa: E402
from bench.inbox_e2e import DATABASE_URL, on_fresh_database  # noqa: E402
from bench.read import free_port, init_instance, serve, wait_for  # noqa: E402
from federation.fetch import ACTIVITY_ACCEPT, Signer, make_connector  # noqa: E402
from federation.keys import generate_rsa_private_key_pem, public_key_pem  # noqa: E402
from federation.policy import OPEN  # noqa: E402
from server import db  # noqa: E402
from server.config import DatabaseConfig  # noqa: E402

PEER_ENTRIES = int(os.environ.get("BENCH_DIR_ENTRIES", "10000"))
CACHE_ENTRIES = int(os.environ.get("BENCH_DIR_CACHE", "100000"))
CACHE_PEERS = int(os.environ.get("BENCH_DIR_PEERS", "1000"))
LOCAL_ACTORS = int(os.environ.get("BENCH_DIR_LOCAL", "1000"))
QUERIES = int(os.environ.get("BENCH_DIR_QUERIES", "300"))

REGIONS = [
    *(
        f"DE-{s}"
        for s in [
            "BW",
            "BY",
            "BE",
            "BB",
            "HB",
            "HH",
            "HE",
            "MV",
            "NI",
            "NW",
            "RP",
            "SL",
            "SN",
            "ST",
            "SH",
            "TH",
        ]
    ),
    *(f"AT-{n}" for n in range(1, 10)),
    *(f"CH-{s}" for s in ["ZH", "BE", "LU", "BS", "GE", "VD", "TI"]),
]
TAGS = [f"thema{n}" for n in range(300)]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _profile(n: int) -> tuple[str, list[str], datetime]:
    rng = random.Random(n)
    return rng.choice(REGIONS), rng.sample(TAGS, 3), T0 + timedelta(seconds=n * 7)


# --- the peer of part 1 ------------------------------------------------------------------------


def _standin_process(port: int, entries: int) -> None:
    """The spec-faithful stand-in, serving `entries` actors at http://localhost:PORT."""
    from tests.directory_standin import DirectoryStandIn, Listed, actor_item

    base = f"http://localhost:{port}"
    listed = []
    for n in range(entries):
        region, tags, changed = _profile(n)
        uri = f"{base}/users/org{n}"
        item = actor_item(
            uri,
            username=f"org{n}",
            name=f"Organisation {n}",
            summary=f"<p>Wir sind <b>Organisation {n}</b>: {' und '.join(tags)}.</p>",
            region=region,
            locality="Mitte",
            postal_prefix=str(10 + n % 80),
            interests=tuple(tags),
        )
        listed.append(Listed(uri, "Organization", changed, item))

    async def source() -> list[Listed]:
        return listed

    async def main() -> None:
        await DirectoryStandIn(base, source, static=True).start(port)
        await asyncio.Event().wait()

    asyncio.run(main())


async def _seed_peer_instance(url: str, entries: int) -> None:
    """`entries` discoverable organisations in a Verbund instance's own database."""
    engine = db.create_engine(DatabaseConfig(url=url))
    pem = generate_rsa_private_key_pem()
    now = datetime.now(UTC)
    rows, interests = [], []
    for n in range(entries):
        region, tags, changed = _profile(n)
        rows.append(
            {
                "id": 10 + n,
                "username": f"org{n}",
                "username_key": f"org{n}",
                "type": "Organization",
                "display_name": f"Organisation {n}",
                "summary": f"<p>Wir sind Organisation {n}.</p>",
                "discoverable": True,
                "is_instance": False,
                "private_key_pem": pem,
                "public_key_pem": public_key_pem(pem),
                "created_at": now,
                "updated_at": now,
                "region_code": region,
                "locality": "Mitte",
                "postal_prefix": str(10 + n % 80),
                "interests": tags,
                "indexable": True,
                "profile_changed_at": changed,
            }
        )
        interests += [{"actor_id": 10 + n, "tag_key": t} for t in tags]
    async with engine.begin() as conn:
        await conn.execute(insert(cast(Table, Actor.__table__)), rows)
        await conn.execute(insert(cast(Table, ActorInterest.__table__)), interests)
    await engine.dispose()


def _answers_directory(port: int) -> bool:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/directory", headers={"Accept": ACTIVITY_ACCEPT}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            doc = json.loads(resp.read())
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and doc.get("type") == "OrderedCollection"


def start_peer(tmp: Path) -> tuple[int, str, Callable[[], None]]:
    """(port, which server, stop): a Verbund instance if it serves /directory, else the
    stand-in."""
    port = free_port()
    config = tmp / "peer.toml"
    init_instance(config, port, f"sqlite+aiosqlite:///{tmp}/peer.db")
    asyncio.run(_seed_peer_instance(f"sqlite+aiosqlite:///{tmp}/peer.db", PEER_ENTRIES))
    server: subprocess.Popen[bytes] = serve(config)
    try:
        wait_for(port, "/.well-known/nodeinfo")
        if _answers_directory(port):
            return port, "verbund", server.terminate
    except RuntimeError:
        pass
    server.terminate()
    server.wait()
    port = free_port()
    process = multiprocessing.get_context("spawn").Process(
        target=_standin_process, args=(port, PEER_ENTRIES), daemon=True
    )
    process.start()
    wait_for(port, "/directory")
    return port, "standin (tests/directory_standin.py, aiohttp)", process.terminate


async def bench_sync(url: str, port: int) -> dict[str, object]:
    engine = db.create_engine(DatabaseConfig(url=url))
    sessionmaker = db.create_sessionmaker(engine)
    async with sessionmaker() as session:
        actor = await ensure_instance_actor(session)
        await session.commit()
    uris = LocalUris("http://bench.example")
    signer = Signer(
        key_id=uris.instance_key_id,
        private_key_pem=actor.private_key_pem,
        clock=lambda: datetime.now(UTC),
    )

    async def instance_signer() -> Signer:
        return signer

    peer = f"localhost:{port}"
    async with aiohttp.ClientSession(connector=make_connector(allow_private=True)) as http:
        sync = DirectorySync(
            sessionmaker,
            lambda: http,
            peers=[peer],
            settings=SyncSettings(scheme="http", max_entries_per_peer=max(20_000, PEER_ENTRIES)),
            signer=instance_signer,
            policy=OPEN,
            allow_private=True,
            clock=lambda: datetime.now(UTC),
        )
        # The peer's share: every page fetched and parsed as JSON, nothing written.
        wall = time.perf_counter()
        next_url: object = f"http://{peer}/directory?page=true"
        while isinstance(next_url, str):
            async with http.get(next_url, headers={"Accept": ACTIVITY_ACCEPT}) as resp:
                next_url = json.loads(await resp.read()).get("next")
        fetch_only = time.perf_counter() - wall
        cpu, wall = time.process_time(), time.perf_counter()
        full = await sync.sync_peer(peer, full=True)
        full_seconds, full_cpu = time.perf_counter() - wall, time.process_time() - cpu
        wall = time.perf_counter()
        again = await sync.sync_peer(peer, full=False)
        again_seconds = time.perf_counter() - wall
    await engine.dispose()
    if not full.complete or full.added != PEER_ENTRIES:
        raise RuntimeError(f"full sync incomplete: {full}")
    return {
        "full_sync_seconds": round(full_seconds, 3),
        "full_sync_cpu_seconds": round(full_cpu, 3),
        "full_sync_requests": full.requests,
        "fetch_only_seconds": round(fetch_only, 3),
        "full_sync_bytes": full.bytes,
        "incremental_requests": again.requests,
        "incremental_seconds": round(again_seconds, 4),
        "incremental_error": again.error,
    }


# --- part 2: search -------------------------------------------------------------------------


async def _seed_cache(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    pem = generate_rsa_private_key_pem()
    now = datetime.now(UTC)
    async with sessionmaker() as session:
        for table in ("directory_entry_interests", "directory_entries", "directory_peers"):
            await session.execute(text(f"DELETE FROM {table}"))
        await session.execute(
            insert(cast(Table, DirectoryPeer.__table__)),
            [
                {"id": 1000 + p, "domain": f"peer{p}.example", "last_error": "", "entry_count": 0}
                for p in range(CACHE_PEERS)
            ],
        )
        entries, interests = [], []
        for n in range(CACHE_ENTRIES):
            region, tags, changed = _profile(n)
            peer = n % CACHE_PEERS
            entries.append(
                {
                    "id": 1 + n,
                    "peer_id": 1000 + peer,
                    "actor_uri": f"https://peer{peer}.example/users/org{n}",
                    "type": ("Organization", "Group", "Person")[n % 3],
                    "username": f"org{n}",
                    "domain": f"peer{peer}.example",
                    "display_name": f"Organisation {n}",
                    "summary": f"Wir sind Organisation {n}.",
                    "url": None,
                    "icon_url": None,
                    "region_code": region,
                    "locality": "Mitte",
                    "postal_prefix": str(10 + n % 80),
                    "interests": tags,
                    "search_text": f"organisation {n} org{n} wir sind organisation {n}.",
                    "updated_at": changed,
                    "seen_at": now,
                }
            )
            interests += [{"entry_id": 1 + n, "tag_key": t} for t in tags]
            if len(entries) >= 10_000:
                await session.execute(insert(cast(Table, DirectoryEntry.__table__)), entries)
                await session.execute(
                    insert(cast(Table, DirectoryEntryInterest.__table__)), interests
                )
                entries, interests = [], []
        if entries:
            await session.execute(insert(cast(Table, DirectoryEntry.__table__)), entries)
            await session.execute(insert(cast(Table, DirectoryEntryInterest.__table__)), interests)
        locals_, local_interests = [], []
        for n in range(LOCAL_ACTORS):
            region, tags, changed = _profile(CACHE_ENTRIES + n)
            locals_.append(
                {
                    "id": 100 + n,
                    "username": f"local{n}",
                    "username_key": f"local{n}",
                    "type": "Organization",
                    "display_name": f"Lokal {n}",
                    "summary": "",
                    "discoverable": True,
                    "is_instance": False,
                    "private_key_pem": pem,
                    "public_key_pem": public_key_pem(pem),
                    "created_at": now,
                    "updated_at": now,
                    "region_code": region,
                    "locality": "",
                    "postal_prefix": "",
                    "interests": tags,
                    "indexable": True,
                    "profile_changed_at": changed,
                }
            )
            local_interests += [{"actor_id": 100 + n, "tag_key": t} for t in tags]
        await session.execute(insert(cast(Table, Actor.__table__)), locals_)
        await session.execute(insert(cast(Table, ActorInterest.__table__)), local_interests)
        await session.commit()
    # Statistics and (PostgreSQL) the visibility map, as autovacuum keeps them on a live
    # instance: without the map no index-only scan is used.
    engine = sessionmaker.kw["bind"]
    async with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await auto.exec_driver_sql("VACUUM ANALYZE")
        else:
            await conn.exec_driver_sql("ANALYZE")
            await conn.commit()


def _raw_search_sql(n_tags: int) -> str:
    """The spec's search as one statement (see the module docstring)."""
    tags = ", ".join(f":t{i}" for i in range(n_tags))
    region = "({col} = :code OR ({col} >= :low AND {col} < :high))"
    return f"""
SELECT * FROM (
  SELECT a.id AS local_id, NULL AS entry_id, a.username AS username, a.display_name AS name,
         a.type AS type, a.region_code AS region_code, a.profile_changed_at AS changed_at
  FROM actors a
  WHERE a.discoverable AND NOT a.is_instance AND {region.format(col="a.region_code")}
    AND a.id IN (SELECT ai.actor_id FROM actor_interests ai WHERE ai.tag_key IN ({tags}))
  UNION ALL
  SELECT NULL, e.id, e.username, e.display_name, e.type, e.region_code, e.updated_at
  FROM directory_entries e
  WHERE {region.format(col="e.region_code")}
    AND e.id IN (SELECT i.entry_id FROM directory_entry_interests i WHERE i.tag_key IN ({tags}))
) hits
ORDER BY changed_at DESC
LIMIT 40
"""


async def bench_search(url: str) -> dict[str, object]:
    engine = db.create_engine(DatabaseConfig(url=url))
    sessionmaker = db.create_sessionmaker(engine)
    await _seed_cache(sessionmaker)
    impl = "raw SQL mirroring the spec's query (actors.directory.search not on this branch)"
    try:
        directory: Any = importlib.import_module("actors.directory")
        search = directory.search
        impl = "actors.directory.search"
    except (ImportError, AttributeError):
        search = None
    rng = random.Random(13)
    queries = []
    for _ in range(QUERIES):
        region = rng.choice(REGIONS)
        code = region[:2] if rng.random() < 0.3 else region
        queries.append((code, tuple(rng.sample(TAGS, rng.choice((1, 2))))))
    timings: list[float] = []
    hits = 0
    async with sessionmaker() as session:
        for i, (code, tags) in enumerate([*queries[:20], *queries]):
            started = time.perf_counter()
            if search is not None:
                query = directory.DirectoryQuery(region=code, interests=tags)
                found = await search(
                    session,
                    query,
                    local_domain="bench.example",
                    uris=LocalUris("http://bench.example"),
                )
                count = len(found)
            else:
                params: dict[str, object] = {"code": code, "low": f"{code}-", "high": f"{code}."}
                params.update({f"t{n}": t for n, t in enumerate(tags)})
                rows = (await session.execute(text(_raw_search_sql(len(tags))), params)).all()
                count = len(rows)
            elapsed = time.perf_counter() - started
            if i >= 20:  # the first 20 warm the caches
                timings.append(elapsed)
                hits += count
    await engine.dispose()
    timings.sort()
    return {
        "search_impl": impl,
        "search_queries": len(timings),
        "search_p50_ms": round(timings[len(timings) // 2] * 1000, 2),
        "search_p99_ms": round(timings[min(len(timings) - 1, int(len(timings) * 0.99))] * 1000, 2),
        "search_mean_hits": round(hits / len(timings), 1),
        "cache_entries": CACHE_ENTRIES,
        "cache_peers": CACHE_PEERS,
        "local_actors": LOCAL_ACTORS,
    }


def run(tmp: Path, url: str) -> dict[str, object]:
    async def migrate() -> None:
        engine = db.create_engine(DatabaseConfig(url=url))
        await db.upgrade(engine, DatabaseConfig(url=url))
        await engine.dispose()

    asyncio.run(migrate())
    port, which, stop = start_peer(tmp)
    try:
        result: dict[str, object] = {"peer_server": which, "peer_entries": PEER_ENTRIES}
        result.update(asyncio.run(bench_sync(url, port)))
    finally:
        stop()
    result.update(asyncio.run(bench_search(url)))
    return result


def main() -> None:
    result = on_fresh_database(run, "bench_directory")
    print(json.dumps({**result, "engine": "postgresql" if DATABASE_URL else "sqlite"}))


if __name__ == "__main__":
    main()
