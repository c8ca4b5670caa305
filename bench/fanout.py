"""Fan-out benchmark: one activity to 10,000 followers on 1,000 hosts, over real HTTP.

Every follower host is its own loopback address (127.1.x.y: all of 127/8 is loopback on
Linux) with one listening socket, all served by one sink process; the ten followers of
a host share its `sharedInbox`, so the activity must go out as 1,000 signed POSTs, not
10,000. Recipients are chosen by `outbox.publish.follower_inboxes` and stored by
`enqueue`, on SQLite. The delivery worker runs in its own process as `verbund worker`
runs it (default options); `--workers N` starts N of them on the same database.

Prints one JSON line:
  followers, hosts      the fan-out;
  seconds               from waking the worker to the last job recorded done;
  deliveries_per_s      signed requests per second (requests / seconds);
  raw_sign_per_s        RSA-2048 PKCS#1 v1.5 SHA-256 signatures per second on one core,
                        measured in the same run: the mean of one second just before and
                        one just after the delivery (raw_sign_before_after);
  ratio                 deliveries_per_s / raw_sign_per_s;
  requests, signatures  POSTs and Signature headers the sinks counted (one each per
                        shared inbox), jobs (deliveries enqueued), bad (POSTs without a
                        signature or with a wrong Digest: must be 0);
  worker_cpu_ms_per_request, claims, commits   what the worker processes spent;
  enqueue_seconds, total_seconds               publishing, and publishing + delivery.

The sink is a minimal HTTP/1.1 responder rather than a full server, so that on a small
machine it takes as little as possible of the CPU the worker is measured on.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from federation.policy import OPEN

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# As `verbund worker` does on a machine with two cores or more, sign in a child process;
# BENCH_NO_SIGNER=1 measures signing in the worker's own process instead.
NO_SIGNER = os.environ.get("BENCH_NO_SIGNER") == "1"
FOLLOWERS = 10_000
HOSTS = 1_000
ACTOR_URI = "http://bench.test/users/news"


def host_address(i: int) -> str:
    return f"127.1.{i // 250}.{i % 250 + 1}"


# --- the sink process --------------------------------------------------------------------


class _SinkProtocol(asyncio.Protocol):
    """Parse the head, read Content-Length bytes, check Signature and Digest, answer
    202 and keep the connection open. `GET /stats` answers the counts as JSON."""

    counts: ClassVar[dict[str, float]] = {"requests": 0, "signatures": 0, "bad": 0}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            lines = self.buffer[:end].decode("latin-1").split("\r\n")
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            if lines[0].startswith("GET /stats"):
                payload = json.dumps(self.counts).encode()
                self.transport.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(payload), payload)
                )
                continue
            counts = self.counts
            if not counts["requests"]:
                counts["first_at"] = time.time()
            counts["last_at"] = time.time()
            counts["requests"] += 1
            digest = "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()
            if "signature" in headers:
                counts["signatures"] += 1
            if "signature" not in headers or headers.get("digest") != digest:
                counts["bad"] += 1
            self.transport.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")


def run_sink(hosts: int) -> None:
    """Listen on `hosts` loopback addresses and print their ports as one JSON line."""

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        ports = []
        for i in range(hosts):
            server = await loop.create_server(
                _SinkProtocol, host_address(i), 0, backlog=1024, reuse_address=True
            )
            ports.append(server.sockets[0].getsockname()[1])
        sys.stdout.write(json.dumps(ports) + "\n")
        sys.stdout.flush()
        await asyncio.Event().wait()

    asyncio.run(serve())


# --- a worker process --------------------------------------------------------------------


def run_worker(database_url: str) -> None:
    """One delivery worker, built as `verbund worker` builds it (default options).

    Prints "ready" once idle, looks for jobs when a line arrives on stdin (as `wake`
    does in `verbund serve`), stops at end of input (finishing what is in flight) and
    prints its CPU time and counters as one JSON line."""
    import aiohttp

    from federation.fetch import make_connector
    from outbox.delivery import DeliveryWorker
    from server import db
    from server.config import DatabaseConfig, WorkerConfig
    from server.runtime import settle_gc
    from server.services import USER_AGENT
    from server.worker import new_worker_id, start_signer

    async def work() -> dict[str, float]:
        engine = db.create_engine(DatabaseConfig(url=database_url))
        options = WorkerConfig(signer_process=not NO_SIGNER)
        signer = await start_signer(options)
        loop = asyncio.get_running_loop()
        async with aiohttp.ClientSession(
            connector=make_connector(allow_private=True),
            timeout=aiohttp.ClientTimeout(total=30, connect=5, sock_read=10),
            headers={"User-Agent": USER_AGENT},
        ) as http:
            worker = DeliveryWorker(
                db.create_sessionmaker(engine),
                http,
                base_url="http://bench.test",
                allow_private=True,
                clock=lambda: datetime.now(UTC),
                worker_id=new_worker_id("bench"),
                batch_size=options.batch_size,
                concurrency=options.concurrency,
                per_host_limit=options.per_host_limit,
                lock_seconds=options.lock_seconds,
                post_timeout=options.post_timeout,
                idle_seconds=60,  # only the go signal starts it
                sign_with=signer.sign if signer is not None else None,
                policy=OPEN,
            )
            settle_gc()  # as `verbund worker` does once started
            stop, wake = asyncio.Event(), asyncio.Event()
            task = asyncio.create_task(worker.run_forever(stop, wake))
            await asyncio.sleep(0.2)  # it finds nothing and goes idle
            sys.stdout.write("ready\n")
            sys.stdout.flush()
            await loop.run_in_executor(None, sys.stdin.readline)
            cpu = time.process_time()
            wake.set()
            await loop.run_in_executor(None, sys.stdin.read)
            stop.set()
            await task
            cpu = time.process_time() - cpu
        if signer is not None:
            await signer.close()
        await engine.dispose()
        return {
            "cpu_seconds": cpu,
            "claims": worker.stats.claims,
            "commits": worker.stats.commits,
        }

    sys.stdout.write(json.dumps(asyncio.run(work())) + "\n")


# --- the benchmark -----------------------------------------------------------------------


def raw_sign_rate(private_key_pem: str, seconds: float = 1.0) -> float:
    """RSA-2048 PKCS#1 v1.5 SHA-256 signatures per second on one core."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    from federation.keys import load_private_key

    key = load_private_key(private_key_pem)
    message = b"(request-target): post /inbox\nhost: 127.1.0.1:40000\ndate: x\ndigest: y"
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(50):
            key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        n += 50
    return n / elapsed


async def prepare(database_url: str, ports: list[int], followers: int) -> str:
    """Schema, the local actor, and `followers` remote followers spread over the sink
    hosts (RemoteActor rows with a shared inbox each, accepted Follow rows). Returns
    the actor's private key."""
    from sqlalchemy import insert

    from actors.local import create_actor
    from actors.models import ActorType, Follow, RemoteActor
    from server import db
    from server.config import DatabaseConfig

    database = DatabaseConfig(url=database_url)
    engine = db.create_engine(database)
    await db.upgrade(engine, database)
    now = datetime.now(UTC)
    remotes, follows = [], []
    for n in range(followers):
        i = n % len(ports)
        host = f"{host_address(i)}:{ports[i]}"
        uri = f"http://{host}/users/u{n}"
        remotes.append(
            {
                "uri": uri,
                "type": "Person",
                "username": f"u{n}",
                "domain": host,
                "inbox_uri": f"{uri}/inbox",
                "shared_inbox_uri": f"http://{host}/inbox",
                "outbox_uri": None,
                "followers_uri": None,
                "following_uri": None,
                "display_name": "",
                "summary": "",
                "url": None,
                "icon_url": None,
                "manually_approves": False,
                "discoverable": False,
                "fetched_at": now,
            }
        )
        follows.append(
            {
                "follower_uri": uri,
                "followed_uri": ACTOR_URI,
                "activity_uri": f"{uri}#follows/{uuid.uuid4().hex}",
                "state": "accepted",
                "message": "",
                "created_at": now,
                "updated_at": now,
            }
        )
    async with db.create_sessionmaker(engine)() as session:
        actor = await create_actor(session, username="news", type_=ActorType.ORGANIZATION)
        connection = await session.connection()
        await connection.execute(insert(RemoteActor), remotes)
        await connection.execute(insert(Follow), follows)
        await session.commit()
    await engine.dispose()
    return actor.private_key_pem


async def publish_and_wait(
    database_url: str, workers: list[subprocess.Popen[bytes]]
) -> tuple[int, float, float]:
    """Publish one Create to all followers, wake the workers, wait until every job is
    done. Returns the job count, enqueue seconds and delivery seconds."""
    from sqlalchemy import func, select

    from actors.local import get_actor
    from outbox.models import Delivery
    from outbox.publish import enqueue, follower_inboxes, new_activity_uri
    from server import db
    from server.config import DatabaseConfig

    engine = db.create_engine(DatabaseConfig(url=database_url))
    sessionmaker = db.create_sessionmaker(engine)
    activity: dict[str, object] = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": new_activity_uri(ACTOR_URI, "create"),
        "type": "Create",
        "actor": ACTOR_URI,
        "to": ["https://www.w3.org/ns/activitystreams#Public"],
        "cc": [f"{ACTOR_URI}/followers"],
        "object": {
            "id": f"{ACTOR_URI}/notes/1",
            "type": "Note",
            "attributedTo": ACTOR_URI,
            "content": "<p>Einladung zur Mitgliederversammlung am Freitag.</p>",
        },
    }
    async with sessionmaker() as session:
        actor = await get_actor(session, "news")
    t0 = time.perf_counter()
    async with sessionmaker() as session:
        inboxes = await follower_inboxes(session, ACTOR_URI)
        await enqueue(
            session,
            actor=actor,
            activity=activity,
            inboxes=inboxes,
            now=datetime.now(UTC),
            policy=OPEN,
        )
        await session.commit()
    t1 = time.perf_counter()
    WOKEN_AT[0] = time.time()
    for proc in workers:
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        proc.stdin.flush()
    waiting = select(func.count()).select_from(Delivery).where(Delivery.state != "done")
    while True:
        await asyncio.sleep(0.01)
        async with sessionmaker() as session:
            if not await session.scalar(waiting):
                break
    t2 = time.perf_counter()
    await engine.dispose()
    return len(inboxes), t1 - t0, t2 - t1


WOKEN_AT = [0.0]  # wall clock when the workers were woken (the sink's clock is the same)


async def sink_counts(port: int) -> dict[str, float]:
    import aiohttp

    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://{host_address(0)}:{port}/stats") as response,
    ):
        counts: dict[str, float] = await response.json()
        return counts


def bench(tmp: Path, ports: list[int], followers: int, workers: int) -> dict[str, object]:
    database_url = f"sqlite+aiosqlite:///{tmp / 'fanout.db'}"
    private_key_pem = asyncio.run(prepare(database_url, ports, followers))
    raw_before = raw_sign_rate(private_key_pem)
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--worker", database_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        for _ in range(workers)
    ]
    reports = []
    try:
        for proc in procs:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != b"ready":
                raise RuntimeError("a worker process did not start")
        jobs, enqueue_seconds, seconds = asyncio.run(publish_and_wait(database_url, procs))
    finally:
        for proc in procs:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.close()
            reports.append(json.loads(proc.stdout.read() or "{}"))
            proc.wait(60)
    # Measured again right after: this machine's speed drifts, and the mean of the two
    # brackets the delivery better than either alone.
    raw_after = raw_sign_rate(private_key_pem)
    raw = (raw_before + raw_after) / 2
    counts = asyncio.run(sink_counts(ports[0]))
    requests = int(counts["requests"])
    cpu = sum(r.get("cpu_seconds", 0.0) for r in reports)
    return {
        "followers": followers,
        "hosts": len(ports),
        "seconds": round(seconds, 3),
        "deliveries_per_s": round(requests / seconds, 1),
        "raw_sign_per_s": round(raw, 1),
        "raw_sign_before_after": [round(raw_before, 1), round(raw_after, 1)],
        "ratio": round(requests / seconds / raw, 3),
        "requests": requests,
        "signatures": counts["signatures"],
        "jobs": jobs,
        "bad": counts["bad"],
        "workers": workers,
        "worker_cpu_ms_per_request": round(cpu * 1000 / max(requests, 1), 3),
        "claims": sum(int(r.get("claims", 0)) for r in reports),
        "commits": sum(int(r.get("commits", 0)) for r in reports),
        "first_request_after_s": round(counts.get("first_at", 0.0) - WOKEN_AT[0], 3),
        "last_request_after_s": round(counts.get("last_at", 0.0) - WOKEN_AT[0], 3),
        "enqueue_seconds": round(enqueue_seconds, 3),
        "total_seconds": round(enqueue_seconds + seconds, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Fan-out benchmark (see module docstring)")
    parser.add_argument("--followers", type=int, default=FOLLOWERS)
    parser.add_argument("--hosts", type=int, default=HOSTS, help="at most 62,500")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--sink", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker", metavar="DATABASE_URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        run_sink(args.hosts)
        return
    if args.worker:
        run_worker(args.worker)
        return
    sink = subprocess.Popen(
        [sys.executable, __file__, "--sink", "--hosts", str(args.hosts)], stdout=subprocess.PIPE
    )
    try:
        assert sink.stdout is not None
        ports = json.loads(sink.stdout.readline())
        with tempfile.TemporaryDirectory() as tmp:
            result = bench(Path(tmp), ports, args.followers, args.workers)
    finally:
        sink.terminate()
        sink.wait()
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
