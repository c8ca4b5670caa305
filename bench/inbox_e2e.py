"""End-to-end inbox benchmark: activities that peers really send, accepted and processed.

bench/inbox.py measures the receiving half (verify, store, 202) with one sender whose
posts concern nobody here. This one measures the inbox as production runs it: `verbund
serve` with its inbox processor (and delivery worker) running inside, receiving signed
activities from many remote actors, most of them followed here, so that processing does
the work it does in production (audience, visibility, timelines, tags, mentions, reply
and boost counters, follow acceptance) while requests keep arriving.

The world is seeded into the database before `serve` starts, so that nothing is fetched
during the run: BENCH_E2E_LOCAL (default 20) local actors with two posts each (published
through `outbox.posts.publish`); BENCH_E2E_REMOTES (default 200) remote actors on
http://remote.example:8443 (a domain with a port), each with its `remote_actors` row and
its own key id in `remote_keys` (8 RSA keys shared among them); accepted follows, each
local actor following a tenth of the remotes and every remote followed by at least one.

Traffic is signed beforehand in a process pool and goes to the shared inbox and to
personal inboxes (`/users/NAME/inbox`) over 50 keep-alive connections. No request is
sent twice, so every 202 stores a record. A turn sends until its list is used up or its
time is over, whichever comes first: BENCH_E2E_CREATES (default 5000) Creates per round,
BENCH_E2E_MIX (default 1000) activities per other mix. The processor is far slower than
the receiver, and every activity sent must be processed before the turn ends, so these
counts, not the clock, bound a run (about 2.5 minutes with the defaults). Mixes:
  create    Create{Note} from random remotes: ~60 % public, ~25 % followers-only, the
            rest unlisted; ~10 % mention a local actor (Mention tag, actor in cc, sent
            to its personal inbox), ~20 % carry hashtags, ~15 % reply to an earlier note
            of the run or to a local post; umlauts and emoji in `content`, `contentMap`
            on some, no `published` on some objects, a list `@context` on some;
  like      Like of a local post, to its author's inbox;
  announce  Announce of a local post, to the shared inbox;
  follow    Follow of a local actor, to its inbox (accepted: an Accept is queued, whose
            delivery fails fast as remote.example does not resolve);
  delete    Delete{Tombstone} of notes the create mix sent.
BENCH_E2E_MIXES (default "like,announce,follow,delete") picks the mixes after Create.

Prints one JSON line:
  accepted_per_s, accept_p50_ms, accept_p99_ms  202s per second and their latency for
      the create mix, over at most BENCH_E2E_SECONDS (default 5) per round after a
      0.25 s warm-up (accept_seconds: how long in all), while the processor works
      through what arrives;
  processed_per_s       records processed per second, from a turn's first request until
      no record is left unprocessed (`inbox_activities.processed_at`);
  cpu_us_per_processed  CPU of the server process (user + system) over that span, per
      record processed: a figure that other tenants' load hardly moves;
  baseline_per_s, baseline_p50_ms, baseline_p99_ms  the bare read + digest + verify +
      202 handler of bench/inbox.py on the same requests, the ceiling; the two take turns
      (baseline first) BENCH_E2E_ROUNDS (default 2) times each, so the machine's noise
      falls on both; ratio = accepted_per_s / baseline_per_s (round_ratios per round);
  create_sent, create_processed, statuses_stored, create_ignored, stored_fraction,
      timeline_rows  what the Creates left behind (sent = 202s including warm-ups);
  {mix}_accepted_per_s, {mix}_processed_per_s, {mix}_cpu_us_per_processed  for like,
      announce, follow and delete, one turn of at most BENCH_E2E_MIX_SECONDS (default 2)
      each after a 0.1 s warm-up, and {mix}_processed;
  errors (non-202 answers), failed (records whose processing raised), engine.

SQLite (a temporary file) by default; BENCH_DATABASE_URL=postgresql+asyncpg://... runs
it on PostgreSQL, in a database created for the run and dropped after it. The inbox
rate limits are off (a few hundred senders on one host).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import multiprocessing
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import ColumnElement, FromClause, func, insert, make_url, select  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from actors.models import Actor, ActorType, Follow, FollowState, RemoteActor, RemoteKey  # noqa: E402
from actors.uris import KEY_FRAGMENT, LocalUris  # noqa: E402
from bench.inbox import process_cpu, start_baseline  # noqa: E402
from bench.loadgen import LoadResult, run_load, signed_post  # noqa: E402
from bench.read import free_port, init_instance, serve, wait_for  # noqa: E402
from federation.keys import generate_rsa_private_key_pem, public_key_pem  # noqa: E402
from inbox.models import InboxActivity  # noqa: E402
from outbox import posts  # noqa: E402
from outbox.context import PublishContext  # noqa: E402
from outbox.models import Status, TimelineEntry  # noqa: E402
from server import db  # noqa: E402
from server.config import DatabaseConfig  # noqa: E402

LOCALS = int(os.environ.get("BENCH_E2E_LOCAL", "20"))
REMOTES = int(os.environ.get("BENCH_E2E_REMOTES", "200"))
SECONDS = float(os.environ.get("BENCH_E2E_SECONDS", "5"))
ROUNDS = int(os.environ.get("BENCH_E2E_ROUNDS", "2"))
MIX_SECONDS = float(os.environ.get("BENCH_E2E_MIX_SECONDS", "2"))
# Distinct activities per create round and per other mix: the processor is much slower
# than the receiver, so these, not the clock, usually end a turn (see the docstring).
CREATES = int(os.environ.get("BENCH_E2E_CREATES", "5000"))
MIX = int(os.environ.get("BENCH_E2E_MIX", "1000"))
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "")
KEYS = 8
POSTS_PER_LOCAL = 2
WARMUP = 0.25
MIX_WARMUP = 0.1
DRAIN_TIMEOUT = 120.0
ORIGIN = "http://remote.example:8443"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
AS_CONTEXT = "https://www.w3.org/ns/activitystreams"
# Mastodon's shape: a list with an extension object.
LIST_CONTEXT: list[object] = [AS_CONTEXT, {"Hashtag": "as:Hashtag", "sensitive": "as:sensitive"}]
CONTENTS = (
    "<p>Die Mitgliederversammlung ist am Donnerstag um 19 Uhr im Vereinsheim.</p>",
    "<p>Grüße aus Köln! Das Straßenfest war ein voller Erfolg 🎉🌻</p>",
    "<p>Übermorgen: Müllsammeln am Flussufer, Handschuhe gibt es vor Ort 🧤♻️</p>",
    "<p>Neue Öffnungszeiten der Geschäftsstelle ab März, schaut vorbei! ☕</p>",
    "<p>Thanks to everyone who helped at the food bank this weekend.</p>",
)
HASHTAGS = ("Ehrenamt", "Straßenfest", "Köln", "Umwelt", "Verein", "Fußball", "Bürgerhaus")
# BENCH_E2E_MIXES: which of the other mixes run, comma-separated (all by default; "" none).
MIXES = tuple(
    m for m in os.environ.get("BENCH_E2E_MIXES", "like,announce,follow,delete").split(",") if m
)

Job = tuple[str, int, bytes]
"""One request to sign: inbox path, sender (remote index), body."""


def remote_uri(n: int) -> str:
    return f"{ORIGIN}/users/r{n}"


# --- signing, in a process pool -------------------------------------------------------------

_KEYS: list[str] = []
_HOST = ""


def _pool_init(keys: list[str], host: str) -> None:
    global _HOST
    _KEYS[:] = keys
    _HOST = host


def _new_key(_: int) -> str:
    return generate_rsa_private_key_pem()


def _sign(job: Job) -> bytes:
    path, sender, body = job
    return signed_post(path, _HOST, body, remote_uri(sender) + KEY_FRAGMENT, _KEYS[sender % KEYS])


# --- the world ------------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    uris: LocalUris
    host: str  # this instance's host[:port], as in handles
    names: list[str]  # local actors
    followers: dict[int, list[int]]  # remote index → the local actors following it
    posts: list[tuple[str, str]]  # local posts: (author's name, post uri)


def _remote_actor(n: int, now: datetime) -> dict[str, object]:
    uri = remote_uri(n)
    return {
        "uri": uri,
        "type": "Person",
        "username": f"r{n}",
        "domain": ORIGIN.removeprefix("http://"),
        "inbox_uri": f"{uri}/inbox",
        "shared_inbox_uri": f"{ORIGIN}/inbox",
        "outbox_uri": f"{uri}/outbox",
        "followers_uri": f"{uri}/followers",
        "following_uri": f"{uri}/following",
        "display_name": f"Remote Verein {n}",
        "url": f"{ORIGIN}/@r{n}",
        "icon_url": None,
        "discoverable": True,
        "fetched_at": now,
    }


async def seed(database_url: str, uris: LocalUris, host: str, keys: Sequence[str]) -> World:
    """Local actors, remote actors and keys, follows (SQLAlchemy Core, so both engines
    take the same statements) and the local posts (as `verbund post` publishes them)."""
    rng = random.Random(7)
    now = datetime.now(UTC)
    public = [public_key_pem(k) for k in keys]
    names = [f"verein{i}" for i in range(LOCALS)]
    following: dict[int, set[int]] = {r: {r % LOCALS} for r in range(REMOTES)}
    for local in range(LOCALS):
        for r in rng.sample(range(REMOTES), max(1, REMOTES // 10)):
            following[r].add(local)
    actors = [
        {
            "username": name,
            "username_key": name,
            "type": ActorType.ORGANIZATION,
            "display_name": f"Verein {i}",
            "private_key_pem": keys[i % KEYS],
            "public_key_pem": public[i % KEYS],
            "created_at": now,
            "updated_at": now,
        }
        for i, name in enumerate(names)
    ]
    follows = [
        {
            "follower_uri": uris.actor(names[local]),
            "followed_uri": remote_uri(r),
            "activity_uri": uris.activity_under(uris.actor(names[local]), "follows", f"{r}"),
            "state": FollowState.ACCEPTED,
            "message": "",
            "created_at": now,
            "updated_at": now,
        }
        for r, locals_ in following.items()
        for local in sorted(locals_)
    ]
    remote_keys = [
        {
            "key_uri": remote_uri(r) + KEY_FRAGMENT,
            "owner_uri": remote_uri(r),
            "public_key_pem": public[r % KEYS],
            "fetched_at": now,
        }
        for r in range(REMOTES)
    ]
    engine = db.create_engine(DatabaseConfig(url=database_url))
    local_posts: list[tuple[str, str]] = []
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(Actor), actors)
            await conn.execute(insert(RemoteActor), [_remote_actor(r, now) for r in range(REMOTES)])
            await conn.execute(insert(RemoteKey), remote_keys)
            await conn.execute(insert(Follow), follows)
        ctx = PublishContext.create(base_url=uris.base_url, clock=lambda: datetime.now(UTC))
        async with db.create_sessionmaker(engine)() as session:
            local_actors = await session.scalars(
                select(Actor).where(Actor.is_instance.is_(False)).order_by(Actor.id)
            )
            for actor in local_actors.all():
                for k in range(POSTS_PER_LOCAL):
                    text = f"{CONTENTS[k % len(CONTENTS)][3:-4]} (Beitrag {k} von {actor.username})"
                    status = await posts.publish(
                        session, ctx, actor=actor, draft=posts.Draft(text=text), mentions={}
                    )
                    local_posts.append((actor.username, status.uri))
            await session.commit()
    finally:
        await engine.dispose()
    return World(uris, host, names, {r: sorted(ls) for r, ls in following.items()}, local_posts)


# --- traffic --------------------------------------------------------------------------------


def _inbox(world: World, local: int | None) -> str:
    return "/inbox" if local is None else f"/users/{world.names[local]}/inbox"


def _body(activity: dict[str, Any]) -> bytes:
    return json.dumps(activity, ensure_ascii=False).encode()


def _published(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def creates(
    world: World, count: int, rng: random.Random
) -> tuple[list[Job], list[tuple[int, str]]]:
    """`count` Creates and the (author, note id) of each, in sending order."""
    jobs: list[Job] = []
    notes: list[tuple[int, str]] = []
    start = datetime.now(UTC) - timedelta(seconds=count // 100 + 1)
    for n in range(count):
        sender = rng.randrange(REMOTES)
        actor = remote_uri(sender)
        note = f"{actor}/statuses/{n}"
        followers = f"{actor}/followers"
        roll = rng.random()
        if roll < 0.60:
            to, cc = [PUBLIC], [followers]
        elif roll < 0.85:
            to, cc = [followers], []
        else:
            to, cc = [followers], [PUBLIC]
        content = f"{CONTENTS[n % len(CONTENTS)]}<p>Nr. {n}</p>"
        tags: list[dict[str, str]] = []
        recipient: int | None = None
        if rng.random() < 0.10:
            recipient = rng.randrange(LOCALS)
            name = world.names[recipient]
            href = world.uris.actor(name)
            tags.append({"type": "Mention", "href": href, "name": f"@{name}@{world.host}"})
            cc.append(href)
            mention = f'<span class="h-card"><a href="{href}" class="u-url mention">@{name}</a>'
            content = f"<p>{mention}</span></p>{content}"
        if rng.random() < 0.20:
            for tag in rng.sample(HASHTAGS, rng.randint(1, 3)):
                tags.append({"type": "Hashtag", "href": f"{ORIGIN}/tags/{tag}", "name": f"#{tag}"})
                content += f' <a href="{ORIGIN}/tags/{tag}" class="mention hashtag">#{tag}</a>'
        published = _published(start + timedelta(milliseconds=10 * n))
        obj: dict[str, Any] = {
            "id": note,
            "type": "Note",
            "attributedTo": actor,
            "url": f"{ORIGIN}/@r{sender}/{n}",
            "to": to,
            "cc": cc,
            "content": content,
        }
        if n % 4 == 1:
            obj["contentMap"] = {"de": content}
        if n % 8 != 3:
            obj["published"] = published
        if tags:
            obj["tag"] = tags
        if rng.random() < 0.15:
            parent = notes[rng.randrange(n)][1] if n and rng.random() < 0.7 else None
            obj["inReplyTo"] = parent or rng.choice(world.posts)[1]
        if recipient is None and rng.random() < 0.15:
            recipient = rng.choice(world.followers[sender])
        activity = {
            "@context": LIST_CONTEXT if n % 3 == 0 else AS_CONTEXT,
            "id": f"{note}/activity",
            "type": "Create",
            "actor": actor,
            "published": published,
            "to": to,
            "cc": cc,
            "object": obj,
        }
        jobs.append((_inbox(world, recipient), sender, _body(activity)))
        notes.append((sender, note))
    return jobs, notes


def _pairs(count: int, sides: tuple[int, int], rng: random.Random) -> list[tuple[int, int]]:
    """`count` (remote, other) pairs, all distinct while there are enough."""
    pairs = list(itertools.product(range(sides[0]), range(sides[1])))
    rng.shuffle(pairs)
    return [pairs[i % len(pairs)] for i in range(count)]


def reactions(world: World, kind: str, count: int, rng: random.Random) -> list[Job]:
    """Likes (to the author's inbox) or Announces (shared inbox) of the local posts."""
    now = _published(datetime.now(UTC))
    jobs: list[Job] = []
    for j, (sender, p) in enumerate(_pairs(count, (REMOTES, len(world.posts)), rng)):
        actor = remote_uri(sender)
        author, post = world.posts[p]
        activity: dict[str, Any]
        if kind == "like":
            activity = {"id": f"{actor}#likes/{j}", "type": "Like", "object": post}
            path = _inbox(world, world.names.index(author))
        else:
            activity = {
                "id": f"{actor}/statuses/boost{j}/activity",
                "type": "Announce",
                "published": now,
                "to": [PUBLIC],
                "cc": [world.uris.actor(author), f"{actor}/followers"],
                "object": post,
            }
            path = "/inbox"
        jobs.append((path, sender, _body({"@context": AS_CONTEXT, "actor": actor, **activity})))
    return jobs


def follows(world: World, count: int, rng: random.Random) -> list[Job]:
    jobs: list[Job] = []
    for sender, local in _pairs(count, (REMOTES, LOCALS), rng):
        actor = remote_uri(sender)
        activity = {
            "@context": AS_CONTEXT,
            "id": f"{ORIGIN}/{uuid.UUID(int=rng.getrandbits(128))}",
            "type": "Follow",
            "actor": actor,
            "object": world.uris.actor(world.names[local]),
        }
        jobs.append((_inbox(world, local), sender, _body(activity)))
    return jobs


def deletes(notes: Sequence[tuple[int, str]], count: int, rng: random.Random) -> list[Job]:
    """Deletes of `count` of the `notes` (sent and processed before), in random order."""
    jobs: list[Job] = []
    for sender, note in rng.sample(list(notes), min(count, len(notes))):
        activity = {
            "@context": AS_CONTEXT,
            "id": f"{note}#delete",
            "type": "Delete",
            "actor": remote_uri(sender),
            "to": [PUBLIC],
            "object": {"id": note, "type": "Tombstone"},
        }
        jobs.append(("/inbox", sender, _body(activity)))
    return jobs


# --- measuring ------------------------------------------------------------------------------


@dataclass
class Turn:
    """One load turn against the server, until its backlog was processed."""

    load: LoadResult
    processed: int = 0
    seconds: float = 0.0
    cpu: float = 0.0

    def merge(self, other: Turn) -> Turn:
        return Turn(
            self.load.merge(other.load),
            self.processed + other.processed,
            self.seconds + other.seconds,
            self.cpu + other.cpu,
        )

    @property
    def processed_per_s(self) -> float:
        return self.processed / self.seconds if self.seconds else 0.0

    @property
    def cpu_us_per_processed(self) -> float:
        return self.cpu / max(self.processed, 1) * 1e6


def accepted_per_s(load: LoadResult) -> float:
    return (load.requests - load.errors) / load.seconds if load.seconds else 0.0


_UNPROCESSED = InboxActivity.processed_at.is_(None)


class Counts:
    """Row counts in the server's database, through SQLAlchemy on either engine."""

    def __init__(self, database_url: str) -> None:
        self.engine = db.create_engine(DatabaseConfig(url=database_url))

    async def rows(self, table: FromClause, *where: ColumnElement[bool]) -> int:
        async with self.engine.connect() as conn:
            query = select(func.count()).select_from(table).where(*where)
            return int((await conn.execute(query)).scalar_one())

    async def processed(self) -> int:
        return await self.rows(InboxActivity.__table__, InboxActivity.processed_at.is_not(None))

    async def received_statuses(self) -> int:
        return await self.rows(
            Status.__table__, Status.local_actor_id.is_(None), Status.reblog_of_id.is_(None)
        )

    async def drain(self) -> None:
        """Until no record waits for its first processing (failed ones wait for a retry
        long after the run: they count as `failed`), at most DRAIN_TIMEOUT seconds."""
        deadline = time.perf_counter() + DRAIN_TIMEOUT
        while time.perf_counter() < deadline:
            if not await self.rows(
                InboxActivity.__table__, _UNPROCESSED, InboxActivity.attempts == 0
            ):
                return
            await asyncio.sleep(0.02)
        raise RuntimeError(f"the inbox backlog was not processed within {DRAIN_TIMEOUT} s")


async def server_turn(
    port: int,
    pid: int,
    requests: list[bytes],
    counts: Counts,
    *,
    seconds: float,
    warmup: float,
) -> Turn:
    before = await counts.processed()
    start, cpu = time.perf_counter(), process_cpu(pid)
    load = await run_load(
        port,
        requests,
        expect=202,
        warmup=warmup,
        duration=seconds,
        wrap=False,
    )
    await counts.drain()
    turn = Turn(load, await counts.processed() - before)
    turn.seconds, turn.cpu = time.perf_counter() - start, process_cpu(pid) - cpu
    return turn


@dataclass
class Servers:
    port: int
    pid: int
    base_port: int
    base_pid: int


async def measure(
    servers: Servers,
    database_url: str,
    lists: dict[str, list[bytes]],
    notes: list[tuple[int, str]],
    pool: Pool,
) -> dict[str, object]:
    counts = Counts(database_url)
    try:
        return await _measure(servers, counts, lists, notes, pool)
    finally:
        await counts.engine.dispose()


async def _measure(
    servers: Servers,
    counts: Counts,
    lists: dict[str, list[bytes]],
    notes: list[tuple[int, str]],
    pool: Pool,
) -> dict[str, object]:
    create_list = lists["create"]
    statuses, timeline = (
        await counts.received_statuses(),
        await counts.rows(TimelineEntry.__table__),
    )
    ours = Turn(LoadResult(0, 0.0, [], 0))
    theirs = LoadResult(0, 0.0, [], 0)
    base_cpu = 0.0
    round_ratios: list[float] = []
    ours_sent: list[int] = []
    for n in range(ROUNDS):
        cpu = process_cpu(servers.base_pid)
        base = await run_load(servers.base_port, create_list, expect=202, duration=SECONDS)
        base_cpu += process_cpu(servers.base_pid) - cpu
        theirs = theirs.merge(base)
        turn = await server_turn(
            servers.port,
            servers.pid,
            create_list[n * CREATES : (n + 1) * CREATES],
            counts,
            seconds=SECONDS,
            warmup=WARMUP,
        )
        ours = ours.merge(turn)
        ours_sent.append(turn.load.answered)
        base_rate = accepted_per_s(base)
        round_ratios.append(round(accepted_per_s(turn.load) / base_rate, 3) if base_rate else 0.0)
    sent = [note for n in range(ROUNDS) for note in notes[n * CREATES :][: ours_sent[n]]]
    stored = await counts.received_statuses() - statuses
    timeline_rows = await counts.rows(TimelineEntry.__table__) - timeline
    lists["delete"] = pool.map(_sign, deletes(sent, MIX, random.Random(5)), chunksize=64)
    mixes: dict[str, Turn] = {}
    for mix in MIXES:
        mixes[mix] = await server_turn(
            servers.port,
            servers.pid,
            lists[mix],
            counts,
            seconds=MIX_SECONDS,
            warmup=MIX_WARMUP,
        )
    base_rate = accepted_per_s(theirs)
    result: dict[str, object] = {
        "accepted_per_s": round(accepted_per_s(ours.load)),
        "accept_p50_ms": round(ours.load.p50, 2),
        "accept_p99_ms": round(ours.load.pct(99), 2),
        "accept_seconds": round(ours.load.seconds, 2),
        "processed_per_s": round(ours.processed_per_s),
        "cpu_us_per_processed": round(ours.cpu_us_per_processed),
        "baseline_per_s": round(base_rate),
        "baseline_p50_ms": round(theirs.p50, 2),
        "baseline_p99_ms": round(theirs.pct(99), 2),
        "baseline_cpu_us_per_request": round(base_cpu / max(theirs.answered, 1) * 1e6),
        "ratio": round(accepted_per_s(ours.load) / base_rate, 3) if base_rate else 0,
        "round_ratios": round_ratios,
        "create_sent": ours.load.answered,
        "create_processed": ours.processed,
        "statuses_stored": stored,
        "create_ignored": ours.processed - stored,
        "stored_fraction": round(stored / ours.processed, 3) if ours.processed else 0,
        "timeline_rows": timeline_rows,
    }
    for mix, turn in mixes.items():
        result[f"{mix}_accepted_per_s"] = round(accepted_per_s(turn.load))
        result[f"{mix}_processed_per_s"] = round(turn.processed_per_s)
        result[f"{mix}_cpu_us_per_processed"] = round(turn.cpu_us_per_processed)
        result[f"{mix}_processed"] = turn.processed
    result["errors"] = ours.load.errors + theirs.errors + sum(t.load.errors for t in mixes.values())
    result["failed"] = await counts.rows(InboxActivity.__table__, InboxActivity.error != "")
    return result


# --- the run --------------------------------------------------------------------------------


async def _admin(url: str, statement: str) -> None:
    """CREATE/DROP DATABASE, which cannot run in a transaction."""
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql(statement)
    finally:
        await engine.dispose()


def run(tmp: Path, database_url: str) -> dict[str, object]:
    port, base_port = free_port(), free_port()
    host = f"localhost:{port}"
    config = tmp / "verbund.toml"
    init_instance(config, port, database_url, inbox_limits=False)
    rng = random.Random(11)
    with multiprocessing.Pool(os.cpu_count() or 2) as keygen:
        keys = keygen.map(_new_key, range(KEYS))
    with multiprocessing.Pool(os.cpu_count() or 2, _pool_init, (keys, host)) as pool:
        world = asyncio.run(seed(database_url, LocalUris(f"http://{host}"), host, keys))
        create_jobs, notes = creates(world, CREATES * ROUNDS, rng)
        jobs = {
            "create": create_jobs,
            "like": reactions(world, "like", MIX, rng),
            "announce": reactions(world, "announce", MIX, rng),
            "follow": follows(world, MIX, rng),
        }
        lists = {mix: pool.map(_sign, todo, chunksize=64) for mix, todo in jobs.items()}
        key_file = tmp / "keys.json"
        key_file.write_text(
            json.dumps(
                {
                    remote_uri(r) + KEY_FRAGMENT: public_key_pem(keys[r % KEYS])
                    for r in range(REMOTES)
                }
            )
        )
        server = serve(config)
        baseline = start_baseline(base_port, key_file)
        try:
            wait_for(port, "/nodeinfo/2.1")
            wait_for(base_port)
            servers = Servers(port, server.pid, base_port, baseline.pid)
            result = asyncio.run(measure(servers, database_url, lists, notes, pool))
        finally:
            for proc in (server, baseline):
                proc.terminate()
                proc.wait()
    return result


def on_fresh_database(
    run: Callable[[Path, str], dict[str, object]], prefix: str
) -> dict[str, object]:
    """`run(tmp, database_url)` on a new SQLite file, or on a PostgreSQL database created
    for it (BENCH_DATABASE_URL) and dropped after it."""
    with tempfile.TemporaryDirectory() as tmp:
        if not DATABASE_URL:
            return run(Path(tmp), f"sqlite+aiosqlite:///{tmp}/v.db")
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        asyncio.run(_admin(DATABASE_URL, f'CREATE DATABASE "{name}"'))
        url = make_url(DATABASE_URL).set(database=name).render_as_string(hide_password=False)
        try:
            return run(Path(tmp), url)
        finally:
            asyncio.run(_admin(DATABASE_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> None:
    result = on_fresh_database(run, "bench_e2e")
    engine = "postgresql" if DATABASE_URL else "sqlite"
    print(
        json.dumps(
            {
                **result,
                "engine": engine,
                "locals": LOCALS,
                "remotes": REMOTES,
                "connections": 50,
                "rounds": ROUNDS,
                "seconds": SECONDS,
            }
        )
    )


if __name__ == "__main__":
    main()
