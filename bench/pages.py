"""Page benchmark (issue 16): how fast the web pages answer on a large instance.

An instance is seeded as a busy one looks: the directory cache of bench/directory.py
(BENCH_DIR_CACHE, default 100,000 entries from 1,000 peers, plus 1,000 local actors
with regions and interests), BENCH_PAGES_POSTS (default 100,000) public posts of those
local actors (with hashtags, some with a content warning), and a member whose person
follows them, with every one of those posts in their home timeline. `verbund serve`
then answers, over BENCH_PAGES_CONNECTIONS (default 4) keep-alive connections for
BENCH_PAGES_SECONDS (default 5) each:

- the front page (`/`), a profile with its newest posts (`/@local0`),
- the member's home timeline (`/home`, 40 posts, signed in with the real sign-in form),
- a directory search (`/directory?region=…&interest=…`).

Prints one JSON line: posts, and per page `<page>_p50_ms`, `<page>_p99_ms`,
`<page>_per_s`, `<page>_errors`; engine. SQLite by default;
BENCH_DATABASE_URL=postgresql+asyncpg://... as for bench/inbox_e2e.py. The issue's goal
is p99 under 50 ms for each page on SQLite on one core (`taskset -c 0` on the server).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import subprocess
import sys
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from http.cookiejar import CookieJar
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select  # noqa: E402

from actors.models import Actor, Role, RoleName, User  # noqa: E402
from actors.snowflake import snowflake  # noqa: E402
from actors.uris import LocalUris  # noqa: E402
from bench.directory import REGIONS, TAGS, _seed_cache  # noqa: E402
from bench.inbox_e2e import DATABASE_URL, on_fresh_database  # noqa: E402
from bench.loadgen import run_load  # noqa: E402
from bench.read import VERBUND, free_port, init_instance, serve, wait_for  # noqa: E402
from outbox.models import Status, TimelineEntry  # noqa: E402
from server import db  # noqa: E402
from server.config import DatabaseConfig  # noqa: E402

POSTS = int(os.environ.get("BENCH_PAGES_POSTS", "100000"))
CONNECTIONS = int(os.environ.get("BENCH_PAGES_CONNECTIONS", "4"))
SECONDS = float(os.environ.get("BENCH_PAGES_SECONDS", "5"))
PASSWORD = "a long bench passphrase"
PROFILE = "local0"  # the profile measured: it gets a share of every 50th post
MEMBER_ACTOR = "local999"


async def seed_posts(database_url: str, domain: str) -> None:
    """POSTS public posts of the local actors, and all of them in the member's home."""
    engine = db.create_engine(DatabaseConfig(url=database_url))
    sessionmaker = db.create_sessionmaker(engine)
    uris = LocalUris(f"http://{domain}")
    rng = random.Random(16)
    start = datetime.now(UTC) - timedelta(days=365)
    try:
        await _seed_cache(sessionmaker)
        async with sessionmaker() as session:
            actors = {
                a.username: a.id
                for a in await session.scalars(select(Actor).where(Actor.username.like("local%")))
            }
            names = sorted(actors)
            member = actors[MEMBER_ACTOR]
            statuses, timeline = [], []
            for n in range(POSTS):
                name = PROFILE if n % 50 == 0 else rng.choice(names)
                at = start + timedelta(seconds=n * 300)
                status_id = snowflake(at) + n % 1000
                actor_uri = uris.actor(name)
                tag = rng.choice(TAGS)
                uri = uris.status(actor_uri, status_id)
                statuses.append(
                    {
                        "id": status_id,
                        "uri": uri,
                        "url": uri,
                        "actor_uri": actor_uri,
                        "local_actor_id": actors[name],
                        "type": "Note",
                        "summary": "Wahlkampf" if n % 20 == 0 else "",
                        "content": f"<p>Neuigkeit Nummer {n} aus dem Verband: Treffen am "
                        f"Donnerstag, alle sind willkommen. "
                        f'<a href="http://{domain}/tags/{tag}" class="mention hashtag" '
                        f'rel="tag">#<span>{tag}</span></a></p>',
                        "language": "de",
                        "visibility": "public",
                        "recipients": {"to": ["https://www.w3.org/ns/activitystreams#Public"]},
                        "tags": [{"type": "Hashtag", "name": f"#{tag}"}],
                        "published_at": at,
                        "created_at": at,
                    }
                )
                timeline.append({"actor_id": member, "status_id": status_id})
                if len(statuses) >= 5000:
                    await session.execute(insert(Status), statuses)
                    await session.execute(insert(TimelineEntry), timeline)
                    statuses, timeline = [], []
            if statuses:
                await session.execute(insert(Status), statuses)
                await session.execute(insert(TimelineEntry), timeline)
            await session.commit()
    finally:
        await engine.dispose()


async def seed_member(database_url: str) -> None:
    """The member `anna`, owner of the person actor whose home timeline is measured."""
    engine = db.create_engine(DatabaseConfig(url=database_url))
    try:
        async with db.create_sessionmaker(engine)() as session:
            user = await session.scalar(select(User).where(User.username == "anna"))
            actor = await session.scalar(select(Actor).where(Actor.username == MEMBER_ACTOR))
            assert user is not None and actor is not None
            await session.execute(
                insert(Role),
                [
                    {
                        "user_id": user.id,
                        "actor_id": actor.id,
                        "role": RoleName.OWNER,
                        "created_at": datetime.now(UTC),
                    }
                ],
            )
            await session.commit()
    finally:
        await engine.dispose()


def session_cookie(port: int) -> str:
    """Sign in through the real form; the `verbund_session` cookie's value."""
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    base = f"http://localhost:{port}"
    page = opener.open(f"{base}/auth/sign_in", timeout=10).read().decode()
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no sign-in form"
    form = urllib.parse.urlencode(
        {"csrf_token": match.group(1), "username": "anna", "password": PASSWORD, "next": "/"}
    ).encode()
    opener.open(f"{base}/auth/sign_in", data=form, timeout=10).read()
    for cookie in jar:
        if cookie.name == "verbund_session" and cookie.value:
            return cookie.value
    raise RuntimeError("signing in gave no session cookie")


def page_request(path: str, host: str, cookie: str = "") -> bytes:
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}",
        "Accept: text/html,application/xhtml+xml",
        "Accept-Language: de-DE,de;q=0.9,en;q=0.8",
        "User-Agent: verbund-bench",
    ]
    if cookie:
        lines.append(f"Cookie: verbund_session={cookie}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def run(tmp: Path, database_url: str) -> dict[str, object]:
    port = free_port()
    domain = f"localhost:{port}"
    config = tmp / "verbund.toml"
    init_instance(config, port, database_url)
    subprocess.run(
        [VERBUND, "user", "create", "anna", "--password-stdin", "--config", str(config)],
        input=PASSWORD.encode(),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    asyncio.run(seed_posts(database_url, domain))
    asyncio.run(seed_member(database_url))
    server = serve(config)
    try:
        wait_for(port, "/")
        cookie = session_cookie(port)
        region = REGIONS[0]
        interest = TAGS[0]
        pages = {
            "front": page_request("/", domain),
            "profile": page_request(f"/@{PROFILE}", domain),
            "home": page_request("/home", domain, cookie),
            "directory": page_request(f"/directory?region={region}&interest={interest}", domain),
        }
        figures: dict[str, object] = {"posts": POSTS}
        for name, request in pages.items():
            result = asyncio.run(
                run_load(port, [request], connections=CONNECTIONS, duration=SECONDS)
            )
            figures[f"{name}_p50_ms"] = round(result.pct(50), 2)
            figures[f"{name}_p99_ms"] = round(result.pct(99), 2)
            figures[f"{name}_per_s"] = round(result.per_s, 1)
            figures[f"{name}_errors"] = result.errors
        return figures
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    figures = on_fresh_database(run, "bench_pages")
    engine = "postgresql" if DATABASE_URL else "sqlite"
    print(json.dumps({**figures, "engine": engine}))


if __name__ == "__main__":
    main()
