"""Backlog benchmark: a large stored inbox backlog drains while the site keeps answering.

After an outage, or when a busy peer floods us, `verbund serve` starts with many stored
activities unprocessed. It must work through them without making its own pages and API
slow for the people using them meanwhile. The world of bench/inbox_e2e.py (local
actors with posts, followed remote actors with stored keys) is seeded, BENCH_BACKLOG
(default 100,000) of its Create{Note} activities are stored as the inbox stores what it
accepted, and `verbund serve` starts; its processor begins at once. While it drains,
BENCH_BACKLOG_READERS (default 4) keep-alive connections read what visitors and apps
read: an actor document, a profile page, the public timeline through the Mastodon API
and a post's page.

Prints one JSON line: backlog, drain_seconds and processed_per_s (until no record is
left unprocessed), cpu_us_per_processed (server CPU over the drain), statuses and
timeline_rows stored, web_p50_ms / web_p99_ms / web_per_s of the reads during the drain
and idle_p50_ms / idle_p99_ms / idle_per_s of the same reads after it, errors, engine.
SQLite by default; BENCH_DATABASE_URL=postgresql+asyncpg://... as for inbox_e2e.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select  # noqa: E402

from actors.uris import LocalUris  # noqa: E402
from bench.inbox import process_cpu  # noqa: E402
from bench.inbox_e2e import KEYS, _new_key, creates, on_fresh_database, seed  # noqa: E402
from bench.loadgen import LoadResult, get_request, run_load  # noqa: E402
from bench.read import free_port, init_instance, serve, wait_for  # noqa: E402
from inbox.models import InboxActivity  # noqa: E402
from outbox.models import Status, TimelineEntry  # noqa: E402
from server import db  # noqa: E402
from server.config import DatabaseConfig  # noqa: E402

BACKLOG = int(os.environ.get("BENCH_BACKLOG", "100000"))
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "")
READERS = int(os.environ.get("BENCH_BACKLOG_READERS", "4"))
SLICE = 2.0  # seconds per measured slice of reads
DRAIN_TIMEOUT = 1800.0


async def store_backlog(database_url: str, bodies: list[tuple[str, bytes]]) -> None:
    """The records as `inbox.store` writes them: verified, unprocessed."""
    engine = db.create_engine(DatabaseConfig(url=database_url))
    now = datetime.now(UTC)
    try:
        async with engine.begin() as conn:
            for start in range(0, len(bodies), 5000):
                rows = []
                for actor, body in bodies[start : start + 5000]:
                    doc = json.loads(body)
                    rows.append(
                        {
                            "uri": doc["id"],
                            "actor_uri": actor,
                            "type": "Create",
                            "recipient_uri": None,
                            "body": body.decode(),
                            "received_at": now,
                            "processed_at": None,
                            "error": "",
                            "attempts": 0,
                        }
                    )
                await conn.execute(insert(InboxActivity), rows)
    finally:
        await engine.dispose()


async def count(database_url: str, query: object) -> int:
    engine = db.create_engine(DatabaseConfig(url=database_url))
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(query)).scalar() or 0)  # type: ignore[call-overload]
    finally:
        await engine.dispose()


async def drain_with_reads(
    port: int, pid: int, reads: list[bytes], database_url: str
) -> tuple[float, float, LoadResult]:
    """Read in slices until the backlog is gone; (drain seconds, server CPU, the reads)."""
    unprocessed = select(func.count()).where(InboxActivity.processed_at.is_(None))
    start, cpu = time.perf_counter(), process_cpu(pid)
    during = LoadResult(0, 0.0, [], 0)
    while await count(database_url, unprocessed):
        if time.perf_counter() - start > DRAIN_TIMEOUT:
            raise SystemExit("the backlog did not drain")
        during = during.merge(
            await run_load(port, reads, connections=READERS, warmup=0.0, duration=SLICE)
        )
    return time.perf_counter() - start, process_cpu(pid) - cpu, during


def run(tmp: Path, database_url: str) -> dict[str, object]:
    import multiprocessing

    port = free_port()
    host = f"localhost:{port}"
    config = tmp / "verbund.toml"
    init_instance(config, port, database_url, inbox_limits=False)
    with multiprocessing.Pool(os.cpu_count() or 2) as pool:
        keys = pool.map(_new_key, range(KEYS))
    world = asyncio.run(seed(database_url, LocalUris(f"http://{host}"), host, keys))
    jobs, _ = creates(world, BACKLOG, random.Random(5))
    bodies = [(json.loads(body)["actor"], body) for _, _, body in jobs]
    asyncio.run(store_backlog(database_url, bodies))
    name, post = world.posts[0]
    post_id = post.rsplit("/", 1)[1]
    reads = [
        get_request(f"/users/{name}", host, "application/activity+json"),
        get_request(f"/@{name}", host, "text/html"),
        get_request("/api/v1/timelines/public?limit=20", host, "application/json"),
        get_request(f"/@{name}/{post_id}", host, "text/html"),
    ]
    server = serve(config)
    try:
        wait_for(port, "/nodeinfo/2.1")
        seconds, cpu, during = asyncio.run(drain_with_reads(port, server.pid, reads, database_url))
        idle = asyncio.run(run_load(port, reads, connections=READERS, warmup=0.5, duration=SLICE))
        statuses = asyncio.run(count(database_url, select(func.count()).select_from(Status)))
        timeline = asyncio.run(count(database_url, select(func.count()).select_from(TimelineEntry)))
    finally:
        server.terminate()
        server.wait()
    return {
        "backlog": BACKLOG,
        "drain_seconds": round(seconds, 1),
        "processed_per_s": round(BACKLOG / seconds) if seconds else 0,
        "cpu_us_per_processed": round(cpu / BACKLOG * 1e6),
        "statuses": statuses,
        "timeline_rows": timeline,
        "web_p50_ms": round(during.p50, 2),
        "web_p99_ms": round(during.pct(99), 2),
        "web_per_s": round(during.per_s),
        "idle_p50_ms": round(idle.p50, 2),
        "idle_p99_ms": round(idle.pct(99), 2),
        "idle_per_s": round(idle.per_s),
        "errors": during.errors + idle.errors,
    }


def main() -> None:
    result = on_fresh_database(run, "bench_backlog")
    engine = "postgresql" if DATABASE_URL else "sqlite"
    print(json.dumps({**result, "engine": engine, "readers": READERS}))


if __name__ == "__main__":
    main()
