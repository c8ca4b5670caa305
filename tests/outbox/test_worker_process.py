"""Where the worker runs: `verbund worker` processes (killed mid-fan-out, two side by
side) and the worker inside `verbund serve` (`server.worker.start_worker`).

The workers are subprocesses on the database under test (SQLite file, or a PostgreSQL
schema when TEST_DATABASE_URL is set); the fake inboxes run in the test's event loop on
distinct loopback addresses, which subprocesses reach without a test resolver.
"""

from __future__ import annotations

import asyncio
import collections
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import func, select

from federation.fetch import make_connector
from outbox.models import Delivery
from server import keys
from server.config import Config, DatabaseConfig, FederationConfig, InstanceConfig, ServerConfig
from server.worker import start_worker
from tests.outbox import test_delivery as td

ROOT = Path(__file__).parents[2]
ORIGIN = "http://localhost:8080"

env = td.env
start_sink = td.start_sink
Env = td.Env
StartSink = td.StartSink


def write_config(path: Path, database: DatabaseConfig) -> None:
    schema = f'schema = "{database.schema}"\n' if database.schema else ""
    path.write_text(
        f"""[instance]
domain = "localhost:8080"
scheme = "http"
[server]
run_worker = false
[database]
url = "{database.url}"
{schema}[federation]
allow_private_addresses = true
[logging]
level = "debug"
""",
        encoding="utf-8",
    )


Spawn = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def config_path(tmp_path: Path, env: Env) -> Path:
    path = tmp_path / "verbund.toml"
    write_config(path, env.database)
    return path


@pytest.fixture
async def spawn(tmp_path: Path, config_path: Path) -> AsyncIterator[Spawn]:
    """Start `verbund worker` processes; logs go to files (a full pipe would stall them).
    Any still running at the end are killed."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(name: str, *options: str) -> subprocess.Popen[bytes]:
        log = (tmp_path / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "worker", "--config", str(config_path), *options],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        log.close()
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def count_done(env: Env) -> int:
    async with env.sessionmaker() as session:
        n = await session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.state == "done")
        )
        return int(n or 0)


async def stop_worker(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    return await asyncio.to_thread(proc.wait, 30)


async def test_a_killed_worker_repeats_only_what_was_in_flight(
    env: Env, start_sink: StartSink, spawn: Spawn, tmp_path: Path
) -> None:
    """SIGKILL during a fan-out to 300 inboxes, then restart: every inbox gets the
    activity, and the only repeats are requests that were in flight at the kill.

    Each fake inbox answers its first 20 requests and holds the rest until `gate` is
    set, so that the moment of the kill has a known set of requests in flight. Before
    killing, the test waits until the database shows every answered request as done:
    a request answered in the instant before a crash, but not yet recorded, is the
    one other case that is sent again (at-least-once delivery).
    """
    sinks = [await start_sink(f"127.0.0.{i}") for i in range(2, 6)]
    for sink in sinks:
        sink.replies["/gated/*"] = td.gated(after=20)
    inboxes = [td.inbox(s, "gated", f"u{i}") for s in sinks for i in range(75)]
    await td.publish(env, inboxes, datetime.now(UTC))
    options = ["--concurrency", "16", "--per-host-limit", "4", "--batch-size", "16"]
    lapse = ["--lock-seconds", "8", "--timeout", "3"]

    first = spawn("first", *options, *lapse)
    answered = 4 * 20
    held = 4 * 4  # per-host limit on every sink, and the concurrency

    async def at_kill_point() -> bool:
        started = sum(len(s.started) for s in sinks)
        return started == answered + held and await count_done(env) == answered

    await td.eventually(at_kill_point, seconds=30)
    first.kill()  # SIGKILL: no chance to clean up
    assert await asyncio.to_thread(first.wait, 10) == -signal.SIGKILL
    in_flight = {f"{s.address}{p}" for s in sinks for p in s.started} - {
        f"{s.address}{h.path}" for s in sinks for h in s.requests
    }
    assert len(in_flight) == held
    for sink in sinks:
        sink.release.set()

    second = spawn("second", *options, *lapse)

    async def all_done() -> bool:
        return await count_done(env) == len(inboxes)

    await td.eventually(all_done, seconds=60)
    assert await stop_worker(second) == 0

    arrivals = collections.Counter(f"{s.address}{p}" for s in sinks for p in s.started)
    expected = {f"{s.address}/gated/u{i}" for s in sinks for i in range(75)}
    assert set(arrivals) == expected
    repeated = {path for path, n in arrivals.items() if n > 1}
    assert repeated <= in_flight
    assert all(n <= 2 for n in arrivals.values())
    assert all(td.bad(s) == [] for s in sinks)


def delivered_by(log: str) -> list[int]:
    return [
        int(m) for m in re.findall(r"delivery (\d+) of \S+ to \S+: 2\d\d, attempt \d+: done", log)
    ]


async def test_two_worker_processes_deliver_each_job_exactly_once(
    env: Env, start_sink: StartSink, spawn: Spawn, tmp_path: Path
) -> None:
    """Many jobs, two workers claiming in small batches at the same time (PostgreSQL:
    FOR UPDATE SKIP LOCKED; SQLite: claims serialised by its write lock)."""
    sinks = [await start_sink(f"127.0.0.{i}") for i in range(2, 22)]
    inboxes = [td.inbox(s, "ok", f"u{i}") for s in sinks for i in range(60)]
    await td.publish(env, inboxes, datetime.now(UTC))
    options = ["--concurrency", "8", "--per-host-limit", "2", "--batch-size", "4"]
    a = spawn("a", *options)
    b = spawn("b", *options)

    async def all_done() -> bool:
        return await count_done(env) == len(inboxes)

    await td.eventually(all_done, seconds=120)
    assert await stop_worker(a) == 0
    assert await stop_worker(b) == 0

    arrivals = collections.Counter(f"{s.address}{p}" for s in sinks for p in s.started)
    assert len(arrivals) == len(inboxes)
    assert set(arrivals.values()) == {1}
    by_a = delivered_by((tmp_path / "a.log").read_text(encoding="utf-8"))
    by_b = delivered_by((tmp_path / "b.log").read_text(encoding="utf-8"))
    assert len(by_a) + len(by_b) == len(inboxes)
    assert set(by_a).isdisjoint(by_b)
    assert min(len(by_a), len(by_b)) > len(inboxes) // 10, (len(by_a), len(by_b))


async def test_worker_refuses_claims_shorter_than_an_attempt(spawn: Spawn, tmp_path: Path) -> None:
    proc = spawn("bad", "--lock-seconds", "5", "--timeout", "10")
    assert await asyncio.to_thread(proc.wait, 30) == 2
    assert "error: --lock-seconds (5) must be at least" in (tmp_path / "bad.log").read_text()


async def serve_app(env: Env, run_worker: bool) -> web.AppRunner:
    """A bare app with what `start_worker` needs, as `verbund serve` sets it up."""
    config = Config(
        instance=InstanceConfig(domain="localhost:8080", scheme="http"),
        server=ServerConfig(run_worker=run_worker),
        database=env.database,
        federation=FederationConfig(allow_private_addresses=True),
    )
    app = web.Application()
    app[keys.CONFIG] = config
    app[keys.SESSIONMAKER] = env.sessionmaker
    app[keys.CLOCK] = lambda: datetime.now(UTC)
    app[keys.OUTBOX_WAKE] = asyncio.Event()

    async def http_client(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession(connector=make_connector(allow_private=True)) as http:
            app[keys.HTTP_CLIENT] = http
            yield

    app.cleanup_ctx.append(http_client)
    app.cleanup_ctx.append(start_worker)
    runner = web.AppRunner(app)
    await runner.setup()
    return runner


async def test_serve_runs_a_worker_that_publishers_wake(env: Env, start_sink: StartSink) -> None:
    sink = await start_sink("127.0.0.2")
    runner = await serve_app(env, run_worker=True)
    try:
        await asyncio.sleep(0.1)
        await td.publish(env, [td.inbox(sink, "ok", f"u{i}") for i in range(5)], datetime.now(UTC))
        runner.app[keys.OUTBOX_WAKE].set()  # what publishers do after committing
        await td.eventually(lambda: len(sink.requests) == 5, seconds=5)
    finally:
        await runner.cleanup()  # stops the worker cleanly
    assert await count_done(env) == 5


async def test_serve_without_worker_leaves_jobs_to_worker_processes(
    env: Env, start_sink: StartSink
) -> None:
    sink = await start_sink("127.0.0.2")
    runner = await serve_app(env, run_worker=False)
    try:
        await td.publish(env, [td.inbox(sink, "ok")], datetime.now(UTC))
        runner.app[keys.OUTBOX_WAKE].set()
        await asyncio.sleep(1.5)
    finally:
        await runner.cleanup()
    assert sink.requests == [] and await count_done(env) == 0
