"""Two `verbund serve` processes on one database process each stored activity once;
so do a `serve` that only accepts (`server.process_inbox = false`) and a `verbund worker`.

Scale-out is several `serve` processes on one PostgreSQL (DESIGN.md): each stores what
it receives and runs an inbox processor over the shared `inbox_activities` table. A
Follow shows whether a record was handled twice: each handling queues an Accept. The
senders' actors and keys are stored beforehand, so neither process fetches anything.
Both processes start on one backlog (what a restart after an outage finds), so both
processors want the same records at once, and more arrive at both meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from actors.local import create_actor
from actors.models import ActorType, Follow, FollowState, RemoteActor, RemoteKey
from federation.keys import public_key_pem
from federation.signatures import sign_request
from inbox.models import InboxActivity
from outbox.models import Activity
from server import db
from server.config import DatabaseConfig
from tests.fakes import shared_key

ROOT = Path(__file__).parents[2]
REMOTE = "http://remote.example:8443"
SENDERS = 40
BACKLOG = 1500  # stored Follows waiting when both processes start
LIVE = 3  # then Follows from each sender, posted to both processes


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _write_config(
    path: Path, database: DatabaseConfig, *, domain: str, port: int, process_inbox: bool = True
) -> None:
    path.write_text(
        f"""[instance]
domain = "{domain}"
scheme = "http"
[server]
port = {port}
run_worker = false
process_inbox = {str(process_inbox).lower()}
[worker]
inbox_poll_seconds = 0.05
[database]
url = "{database.url}"
[federation]
allow_private_addresses = true
[limits]
inbox_per_host = 0
inbox_per_actor = 0
""",
        encoding="utf-8",
    )


async def _seed(database: DatabaseConfig, domain: str) -> None:
    """`news` here; SENDERS remote people whose actors and keys are stored and fresh;
    BACKLOG Follows from them stored as the inbox stores what it accepted."""
    engine = db.create_engine(database)
    now = datetime.now(UTC)
    try:
        async with db.create_sessionmaker(engine)() as session:
            await create_actor(session, username="news", type_=ActorType.ORGANIZATION)
            for n in range(SENDERS):
                uri = f"{REMOTE}/users/p{n}"
                session.add(
                    RemoteActor(
                        uri=uri,
                        type="Person",
                        username=f"p{n}",
                        domain="remote.example:8443",
                        inbox_uri=f"{uri}/inbox",
                        shared_inbox_uri=f"{REMOTE}/inbox",
                        outbox_uri=f"{uri}/outbox",
                        followers_uri=f"{uri}/followers",
                        following_uri=f"{uri}/following",
                        url=None,
                        icon_url=None,
                        fetched_at=now,
                    )
                )
                session.add(
                    RemoteKey(
                        key_uri=f"{uri}#main-key",
                        owner_uri=uri,
                        public_key_pem=public_key_pem(shared_key()),
                        fetched_at=now,
                    )
                )
            for n in range(BACKLOG):
                actor = f"{REMOTE}/users/p{n % SENDERS}"
                session.add(
                    InboxActivity(
                        uri=f"{actor}#follows/backlog-{n}",
                        actor_uri=actor,
                        type="Follow",
                        recipient_uri=None,
                        body=_follow_body(domain, actor, f"backlog-{n}").decode(),
                        received_at=now,
                        processed_at=None,
                        error="",
                    )
                )
            await session.commit()
    finally:
        await engine.dispose()


def _follow_body(domain: str, actor: str, n: str) -> bytes:
    return json.dumps(
        {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{actor}#follows/{n}",
            "type": "Follow",
            "actor": actor,
            "object": f"http://{domain}/users/news",
        }
    ).encode()


async def _wait_until_serving(port: int, host: str) -> None:
    deadline = time.monotonic() + 60  # a loaded machine can take long to start Python
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(
                    f"http://127.0.0.1:{port}/users/news",
                    headers={"Host": host, "Accept": "application/activity+json"},
                ) as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            assert time.monotonic() < deadline, f"serve on port {port} did not start"
            await asyncio.sleep(0.1)


@pytest.fixture(params=["two serves", "serve and worker"])
async def two_serves(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    migrated_database: Callable[[str], Awaitable[DatabaseConfig]],
) -> AsyncIterator[tuple[DatabaseConfig, str, list[int]]]:
    """Two processes of one instance (one domain) on one database: two `verbund serve`
    that both accept and process, or a `serve` that only accepts and a `verbund worker`
    that processes (the ports listed are the ones that accept)."""
    database = await migrated_database("procs")
    ports = [_free_port(), _free_port()]
    domain = f"localhost:{ports[0]}"
    await _seed(database, domain)
    with_worker = request.param == "serve and worker"
    commands = []
    for i, port in enumerate(ports):
        path = tmp_path / f"serve{i}.toml"
        _write_config(path, database, domain=domain, port=port, process_inbox=not with_worker)
        command = "worker" if with_worker and i == 1 else "serve"
        commands.append((sys.executable, "-m", "server.cli", command, "--config", str(path)))
    procs = [
        await asyncio.create_subprocess_exec(
            *command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        for command in commands
    ]
    serving = ports[:1] if with_worker else ports
    try:
        for port in serving:
            await _wait_until_serving(port, domain)
        yield database, domain, serving
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            _, err = await asyncio.wait_for(proc.communicate(), timeout=30)
            assert proc.returncode == 0, err.decode(errors="replace")[-3000:]


def _signed_follow(domain: str, sender: int, n: int) -> tuple[bytes, dict[str, str]]:
    actor = f"{REMOTE}/users/p{sender}"
    body = _follow_body(domain, actor, str(n))
    headers = sign_request(
        method="POST",
        url=f"http://{domain}/inbox",
        headers={"Content-Type": "application/activity+json"},
        body=body,
        key_id=f"{actor}#main-key",
        private_key_pem=shared_key(),
        now=datetime.now(UTC),
    )
    return body, headers


async def _count(database: DatabaseConfig, query: object) -> int:
    engine = db.create_engine(database)
    try:
        async with db.create_sessionmaker(engine)() as session:
            return int(await session.scalar(query) or 0)  # type: ignore[call-overload]
    finally:
        await engine.dispose()


async def test_two_serve_processes_handle_each_stored_activity_exactly_once(
    two_serves: tuple[DatabaseConfig, str, list[int]],
) -> None:
    database, domain, ports = two_serves
    requests = [_signed_follow(domain, sender, n) for n in range(LIVE) for sender in range(SENDERS)]
    async with aiohttp.ClientSession() as http:

        async def post(i: int, body: bytes, headers: dict[str, str]) -> int:
            # Alternate between the serving processes, so both store and both process.
            async with http.post(
                f"http://127.0.0.1:{ports[i % len(ports)]}/inbox", data=body, headers=headers
            ) as resp:
                return resp.status

        statuses = await asyncio.gather(*(post(i, *r) for i, r in enumerate(requests)))
    assert statuses == [202] * len(requests)
    unprocessed = select(func.count()).where(InboxActivity.processed_at.is_(None))
    deadline = time.monotonic() + 60
    while await _count(database, unprocessed):
        assert time.monotonic() < deadline, "the backlog was not processed"
        await asyncio.sleep(0.2)
    records = BACKLOG + len(requests)
    assert await _count(database, select(func.count()).select_from(InboxActivity)) == records
    accepted = select(func.count()).where(Follow.state == FollowState.ACCEPTED)
    assert await _count(database, accepted) == SENDERS
    # One Accept per Follow record: none was handled twice, none was left out.
    accepts = select(func.count()).where(Activity.type == "Accept")
    assert await _count(database, accepts) == records
    errors = select(func.count()).where(InboxActivity.error != "")
    assert await _count(database, errors) == 0
