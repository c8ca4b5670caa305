"""`verbund worker` as real processes: killed mid-fan-out, and two side by side.

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

import pytest
from sqlalchemy import func, select

from outbox.models import Delivery
from server.config import DatabaseConfig
from tests.outbox import test_delivery as td

ROOT = Path(__file__).parents[2]
ORIGIN = "http://localhost:8080"

env = td.env
start_sink = td.start_sink
Env = td.Env
Sink = td.Sink
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
        sink.gate_after = 20
    inboxes = [s.inbox("gated", f"u{i}") for s in sinks for i in range(75)]
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
        f"{s.address}{h.path}" for s in sinks for h in s.hits
    }
    assert len(in_flight) == held
    for sink in sinks:
        sink.gate.set()

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
    assert all(s.bad == [] for s in sinks)


def delivered_by(log: str) -> list[int]:
    return [int(m) for m in re.findall(r"delivery (\d+) to \S+: success", log)]


async def test_two_worker_processes_deliver_each_job_exactly_once(
    env: Env, start_sink: StartSink, spawn: Spawn, tmp_path: Path
) -> None:
    """Many jobs, two workers claiming in small batches at the same time (PostgreSQL:
    FOR UPDATE SKIP LOCKED; SQLite: claims serialised by its write lock)."""
    sinks = [await start_sink(f"127.0.0.{i}") for i in range(2, 22)]
    inboxes = [s.inbox("ok", f"u{i}") for s in sinks for i in range(60)]
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
