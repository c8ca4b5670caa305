"""The delivery worker against fake remote inboxes on loopback, stepped with run_once().

Every fake remote is a small aiohttp app on its own loopback address (127.0.0.2,
127.0.0.3, …: all of 127/8 is loopback on Linux), so each is a distinct host to the
worker without a custom resolver. The path picks the remote's behaviour
(`/ok/…`, `/gone/…`, `/flaky/…`, …). The clock is injected: retries come due by
moving it, never by sleeping.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import inspect
import itertools
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from actors.local import create_actor, ensure_instance_actor
from actors.models import Actor, ActorType
from federation.fetch import make_connector
from federation.policy import OPEN
from federation.signatures import (
    SignatureScheme,
    parse_signed_request,
    verify_signature,
)
from outbox.delivery import DeliveryWorker
from outbox.models import Activity, Delivery, DeliveryAttempt, DeliveryHost, DeliveryState
from outbox.publish import enqueue, new_activity_uri
from outbox.retry import PAUSE_AFTER_FAILURES
from server import db
from server.config import DatabaseConfig
from tests.fakes import Answer, FakeRemote, Reply

BASE_URL = "http://origin.test"
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


# --- fake remotes -----------------------------------------------------------------------


def rfc9421_only(request: web.Request) -> Reply:
    return Reply(202 if "Signature-Input" in request.headers else 401)


def gated(after: int = 0) -> Callable[[web.Request], Reply]:
    """202 at once to the first `after` requests (on any path), then 202 only once the
    sink's `release` is set."""
    count = itertools.count(1)
    return lambda request: Reply(202, held=next(count) > after)


def inbox_modes() -> dict[str, Answer]:
    """The first path segment picks a fake inbox's answer:

    ok → 202; gone → 410; notfound → 404; forbidden → 403; flaky → 500 to the first
    two requests on that path, then 202; busy → 429 with `Retry-After: 3600`;
    down → 503 (a test scripts 202 once it is healthy); slow → 202 after 0.2 s;
    rfc9421 → 401 unless signed with RFC 9421; gated → 202 once `release` is set
    (`gated(after=n)` answers the first n at once).
    """
    return {
        "/ok/*": Reply(202),
        "/gone/*": Reply(410),
        "/notfound/*": Reply(404),
        "/forbidden/*": Reply(403),
        "/flaky/*": [Reply(500), Reply(500), Reply(202)],
        "/busy/*": Reply(429, headers={"Retry-After": "3600"}),
        "/down/*": Reply(503),
        "/slow/*": Reply(202, delay=0.2),
        "/rfc9421/*": rfc9421_only,
        "/gated/*": gated(),
    }


def inbox(sink: FakeRemote, mode: str, name: str = "inbox") -> str:
    return f"{sink.base}/{mode}/{name}"


def bad(sink: FakeRemote) -> list[str]:
    """What is wrong with the requests a sink got: every one must carry a Signature
    and a correct Digest or Content-Digest."""
    problems: list[str] = []
    for hit in sink.requests:
        digest = base64.b64encode(hashlib.sha256(hit.body).digest()).decode()
        if "Signature" not in hit.headers:
            problems.append(f"{hit.path}: unsigned")
        if hit.headers.get("Digest") not in (None, f"SHA-256={digest}"):
            problems.append(f"{hit.path}: wrong Digest")
        if hit.headers.get("Content-Digest") not in (None, f"sha-256=:{digest}:"):
            problems.append(f"{hit.path}: wrong Content-Digest")
        if "Digest" not in hit.headers and "Content-Digest" not in hit.headers:
            problems.append(f"{hit.path}: no digest")
    return problems


StartSink = Callable[[str], Awaitable[FakeRemote]]


@pytest.fixture
async def start_sink() -> AsyncIterator[StartSink]:
    """Factory: `await start_sink("127.0.0.2")` serves fake inboxes on that address."""
    sinks: list[FakeRemote] = []

    async def start(address: str) -> FakeRemote:
        sink = FakeRemote(address, replies=inbox_modes())
        await sink.start()
        sinks.append(sink)
        return sink

    yield start
    for sink in reversed(sinks):
        await sink.stop()  # releases held requests first, or cleanup waits for them


# --- database, actor, clock, worker -----------------------------------------------------


class FakeClock:
    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@dataclass
class Env:
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    database: DatabaseConfig
    actor: Actor
    instance_actor: Actor


@pytest.fixture
async def env(make_database: Callable[[str], DatabaseConfig]) -> AsyncIterator[Env]:
    database = make_database("delivery")
    engine = db.create_engine(database)
    await db.upgrade(engine, database)
    sessionmaker = db.create_sessionmaker(engine)
    async with sessionmaker() as session:
        actor = await create_actor(session, username="news", type_=ActorType.ORGANIZATION)
        instance_actor = await ensure_instance_actor(session)
        await session.commit()
    yield Env(engine, sessionmaker, database, actor, instance_actor)
    await engine.dispose()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(connector=make_connector(allow_private=True)) as session:
        yield session


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


MakeWorker = Callable[..., DeliveryWorker]


@pytest.fixture
def make_worker(env: Env, http: aiohttp.ClientSession, clock: FakeClock) -> MakeWorker:
    def make(worker_id: str = "test-worker", **kwargs: object) -> DeliveryWorker:
        options: dict[str, object] = {
            "rng": random.Random(1),
            "post_timeout": 5.0,
            "policy": OPEN,
        }
        options.update(kwargs)
        return DeliveryWorker(
            env.sessionmaker,
            http,
            base_url=BASE_URL,
            allow_private=True,
            clock=clock,
            worker_id=worker_id,
            **options,  # type: ignore[arg-type]  # keyword options of DeliveryWorker
        )

    return make


def note_activity(actor_uri: str) -> dict[str, object]:
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": new_activity_uri(actor_uri, "create"),
        "type": "Create",
        "actor": actor_uri,
        "object": {"id": f"{actor_uri}/notes/1", "type": "Note", "content": "Grüße, Welt"},
    }


async def publish(
    env: Env, inboxes: Iterable[str], now: datetime, *, actor: Actor | None = None
) -> Activity:
    actor = actor or env.actor
    uri = f"{BASE_URL}/actor" if actor.is_instance else f"{BASE_URL}/users/{actor.username}"
    async with env.sessionmaker() as session:
        activity = await enqueue(
            session, actor=actor, activity=note_activity(uri), inboxes=inboxes, now=now, policy=OPEN
        )
        await session.commit()
    return activity


async def deliveries(env: Env) -> dict[str, Delivery]:
    async with env.sessionmaker() as session:
        rows = await session.scalars(select(Delivery))
        return {d.inbox_uri: d for d in rows}


async def host_row(env: Env, sink: FakeRemote) -> DeliveryHost | None:
    async with env.sessionmaker() as session:
        return await session.get(DeliveryHost, f"{sink.address}:{sink.port}")


async def eventually(check: Callable[[], bool | Awaitable[bool]], seconds: float = 10.0) -> None:
    """Wait until `check()` holds; fail after `seconds`."""
    async with asyncio.timeout(seconds):
        while True:
            result = check()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return
            await asyncio.sleep(0.01)


async def drain(worker: DeliveryWorker) -> int:
    total = 0
    while n := await worker.run_once():
        total += n
    return total


# --- tests ------------------------------------------------------------------------------


async def test_delivers_the_stored_body_signed_by_the_actor(
    env: Env, start_sink: StartSink, make_worker: MakeWorker, clock: FakeClock
) -> None:
    one, two = await start_sink("127.0.0.2"), await start_sink("127.0.0.3")
    inboxes = [inbox(one, "ok", "a"), inbox(one, "ok", "b"), inbox(two, "ok", "shared")]
    activity = await publish(env, inboxes, clock.now)
    worker = make_worker()

    assert await worker.run_once() == 3
    assert await worker.run_once() == 0

    hits = one.requests + two.requests
    assert sorted(h.path for h in hits) == ["/ok/a", "/ok/b", "/ok/shared"]
    assert bad(one) == bad(two) == []
    for hit in hits:
        assert hit.body == activity.body.encode("utf-8")  # the stored bytes, exactly
        assert f'keyId="{BASE_URL}/users/news#main-key"' in hit.headers["Signature"]
        assert hit.headers["Content-Type"] == "application/activity+json"
        signed = parse_signed_request(
            method="POST", target=hit.path, headers=hit.headers, body=hit.body, url_scheme="http"
        )
        assert signed.scheme is SignatureScheme.CAVAGE
        verify_signature(signed, env.actor.public_key_pem)
    rows = await deliveries(env)
    assert {d.state for d in rows.values()} == {DeliveryState.DONE.value}
    for d in rows.values():
        assert d.attempts == 1 and d.last_status == 202 and d.delivered_at == clock.now
        assert d.locked_by is None and d.locked_until is None
    host = await host_row(env, one)
    assert host is not None and host.last_success_at == clock.now
    assert host.consecutive_failures == 0 and host.signature_scheme == "draft-cavage-12"


async def test_each_attempt_is_signed_afresh(
    env: Env, start_sink: StartSink, make_worker: MakeWorker, clock: FakeClock
) -> None:
    sink = await start_sink("127.0.0.2")
    sink.reply("/flaky/*", Reply(500), Reply(500), Reply(202))  # both knocks of attempt 1 fail
    await publish(env, [inbox(sink, "flaky")], clock.now)
    worker = make_worker()
    await worker.run_once()
    clock.advance(hours=1)
    await worker.run_once()
    dates = [h.headers["Date"] for h in sink.requests]
    assert len(dates) == 3 and dates[0] != dates[2]
    signatures = {h.headers["Signature"] for h in sink.requests}
    assert len(signatures) == 3


async def test_instance_actor_signs_with_the_instance_key_id(
    env: Env, start_sink: StartSink, make_worker: MakeWorker, clock: FakeClock
) -> None:
    sink = await start_sink("127.0.0.2")
    await publish(env, [inbox(sink, "ok")], clock.now, actor=env.instance_actor)
    assert await make_worker().run_once() == 1
    (hit,) = sink.requests
    assert f'keyId="{BASE_URL}/actor#main-key"' in hit.headers["Signature"]
    signed = parse_signed_request(
        method="POST", target=hit.path, headers=hit.headers, body=hit.body, url_scheme="http"
    )
    verify_signature(signed, env.instance_actor.public_key_pem)


async def test_500_then_202_is_retried_with_backoff(
    env: Env, start_sink: StartSink, make_worker: MakeWorker, clock: FakeClock
) -> None:
    sink = await start_sink("127.0.0.2")
    await publish(env, [inbox(sink, "flaky")], clock.now)
    worker = make_worker()

    assert await worker.run_once() == 1
    # Cavage got 500, the RFC 9421 knock got 500 too: one failed attempt.
    assert len(sink.requests) == 2
    (job,) = (await deliveries(env)).values()
    assert job.state == "pending" and job.attempts == 1 and job.last_status == 500
    assert timedelta(seconds=45) <= job.next_attempt_at - clock.now <= timedelta(seconds=75)
    assert job.locked_by is None

    assert await worker.run_once() == 0  # not due yet
    clock.advance(seconds=80)
    assert await worker.run_once() == 1
    (job,) = (await deliveries(env)).values()
    assert job.state == "done" and job.attempts == 2 and job.last_status == 202
    assert len(sink.requests) == 3
    clock.advance(days=4)
    assert await worker.run_once() == 0
    assert len(sink.requests) == 3


@pytest.mark.parametrize("mode,status", [("gone", 410), ("notfound", 404), ("forbidden", 403)])
async def test_final_answers_are_not_retried(
    env: Env,
    start_sink: StartSink,
    make_worker: MakeWorker,
    clock: FakeClock,
    mode: str,
    status: int,
) -> None:
    sink = await start_sink("127.0.0.2")
    await publish(env, [inbox(sink, mode)], clock.now)
    worker = make_worker()
    assert await worker.run_once() == 1
    (job,) = (await deliveries(env)).values()
    assert job.state == "dead" and job.attempts == 1 and job.last_status == status
    for _ in range(5):
        clock.advance(days=1)
        assert await worker.run_once() == 0
    assert len(sink.requests) == 1
    # The host answered: it is not failing.
    host = await host_row(env, sink)
    assert host is None or host.consecutive_failures == 0


async def test_retry_after_is_honoured(
    env: Env, start_sink: StartSink, make_worker: MakeWorker, clock: FakeClock
) -> None:
    sink = await start_sink("127.0.0.2")
    sink.reply("/busy/*", Reply(429, headers={"Retry-After": "3600"}))
    await publish(env, [inbox(sink, "busy")], clock.now)
    worker = make_worker()
    await worker.run_once()
    (job,) = (await deliveries(env)).values()
    assert job.state == "pending" and job.last_status == 429
    assert job.next_attempt_at == clock.now + timedelta(hours=1)
    assert len(sink.requests) == 1  # 429 is not a reason to knock again
    clock.advance(minutes=59)
    assert await worker.run_once() == 0
    clock.advance(minutes=1)
    assert await worker.run_once() == 1
    assert len(sink.requests) == 2


async def test_retry_after_is_capped(
    env: Env, start_sink: StartSink, make_worker: MakeWorker, clock: FakeClock
) -> None:
    sink = await start_sink("127.0.0.2")
    sink.reply("/busy/*", Reply(429, headers={"Retry-After": str(30 * 86400)}))
    await publish(env, [inbox(sink, "busy")], clock.now)
    await make_worker().run_once()
    (job,) = (await deliveries(env)).values()
    assert job.next_attempt_at == clock.now + timedelta(hours=6)


async def test_network_errors_are_retried(
    env: Env, make_worker: MakeWorker, clock: FakeClock
) -> None:
    await publish(env, ["http://127.0.0.9:9/inbox"], clock.now)  # nothing listens there
    assert await make_worker().run_once() == 1
    (job,) = (await deliveries(env)).values()
    assert job.state == "pending" and job.attempts == 1 and job.last_status is None
    assert "127.0.0.9" in job.last_error


async def test_forbidden_address_is_final(
    env: Env, start_sink: StartSink, clock: FakeClock
) -> None:
    sink = await start_sink("127.0.0.2")
    await publish(env, [inbox(sink, "ok")], clock.now)
    async with aiohttp.ClientSession(connector=make_connector(allow_private=False)) as strict:
        worker = DeliveryWorker(
            env.sessionmaker,
            strict,
            base_url=BASE_URL,
            allow_private=False,
            clock=clock,
            worker_id="strict",
            policy=OPEN,
        )
        assert await worker.run_once() == 1
    (job,) = (await deliveries(env)).values()
    assert job.state == "dead" and "forbidden" in job.last_error
    assert sink.requests == []


async def test_job_dies_when_attempts_run_out(
    env: Env, start_sink: StartSink, make_worker: MakeWorker, clock: FakeClock
) -> None:
    sink = await start_sink("127.0.0.2")
    await publish(env, [inbox(sink, "down")], clock.now)
    async with env.sessionmaker() as session:
        await session.execute(update(Delivery).values(attempts=15))
        await session.commit()
    assert await make_worker().run_once() == 1
    (job,) = (await deliveries(env)).values()
    assert job.state == "dead" and job.attempts == 16 and job.last_status == 503


async def test_unexpected_errors_are_recorded_on_the_job(
    env: Env, start_sink: StartSink, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    sink = await start_sink("127.0.0.2")
    await publish(env, [inbox(sink, "ok")], clock.now)
    closed = aiohttp.ClientSession(connector=make_connector(allow_private=True))
    await closed.close()  # using it raises RuntimeError, not a FetchError
    worker = DeliveryWorker(
        env.sessionmaker,
        closed,
        base_url=BASE_URL,
        allow_private=True,
        clock=clock,
        worker_id="broken",
        policy=OPEN,
    )
    assert await worker.run_once() == 1
    (job,) = (await deliveries(env)).values()
    assert job.state == "pending" and job.attempts == 1
    assert job.last_error.startswith("internal error: RuntimeError")
    assert f"delivery {job.id} " in caplog.text


async def test_lapsed_claims_are_taken_over(
    env: Env, start_sink: StartSink, make_worker: MakeWorker, clock: FakeClock
) -> None:
    sink = await start_sink("127.0.0.2")
    await publish(env, [inbox(sink, "ok")], clock.now)
    # A worker claimed the job and died.
    async with env.sessionmaker() as session:
        await session.execute(
            update(Delivery).values(
                locked_by="dead-worker", locked_until=clock.now + timedelta(minutes=5)
            )
        )
        await session.commit()
    worker = make_worker()
    assert await worker.run_once() == 0
    clock.advance(minutes=5)
    assert await worker.run_once() == 1
    assert len(sink.requests) == 1


async def test_outcome_is_not_written_over_a_claim_taken_over(
    env: Env, start_sink: StartSink, make_worker: MakeWorker, clock: FakeClock
) -> None:
    """A worker whose claim lapsed (it was stuck) must not overwrite the new owner's row."""
    sink = await start_sink("127.0.0.2")
    await publish(env, [inbox(sink, "gated")], clock.now)
    worker = make_worker()
    running = asyncio.create_task(worker.run_once())
    await eventually(lambda: bool(sink.started))
    async with env.sessionmaker() as session:
        await session.execute(update(Delivery).values(locked_by="other", attempts=7))
        await session.commit()
    sink.release.set()
    assert await running == 1
    (job,) = (await deliveries(env)).values()
    assert job.locked_by == "other" and job.attempts == 7 and job.state == "pending"


async def test_per_host_limit_caps_requests_to_one_host(
    env: Env, start_sink: StartSink, make_worker: MakeWorker, clock: FakeClock
) -> None:
    busy = await start_sink("127.0.0.2")
    busy.reply("/slow/*", Reply(202, delay=0.1))
    others = [await start_sink(f"127.0.0.{i}") for i in range(3, 7)]
    for sink in others:
        sink.reply("/slow/*", Reply(202, delay=0.1))
    inboxes = [inbox(busy, "slow", f"u{i}") for i in range(12)]
    inboxes += [inbox(s, "slow", f"u{i}") for s in others for i in range(2)]
    await publish(env, inboxes, clock.now)
    worker = make_worker(per_host_limit=3, concurrency=50)
    assert await drain(worker) == 20
    assert busy.max_in_flight == 3
    assert len(busy.requests) == 12 and all(len(s.requests) == 2 for s in others)
    # Other hosts were served alongside the busy one, not after it.
    first_other = min(h.started for s in others for h in s.requests)
    assert first_other < max(h.started for h in busy.requests)


async def test_every_attempt_is_kept_and_logged(
    env: Env,
    start_sink: StartSink,
    make_worker: MakeWorker,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = await start_sink("127.0.0.2")
    await publish(env, [inbox(sink, "flaky")], clock.now)
    worker = make_worker()
    with caplog.at_level(logging.INFO, logger="verbund.delivery"):
        assert await worker.run_once() == 1
        clock.advance(seconds=80)
        assert await worker.run_once() == 1
    (job,) = (await deliveries(env)).values()
    async with env.sessionmaker() as session:
        activity_uri = await session.scalar(select(Activity.uri))
        attempts = list(await session.scalars(select(DeliveryAttempt).order_by(DeliveryAttempt.id)))
    assert [(a.delivery_id, a.attempt, a.outcome, a.status) for a in attempts] == [
        (job.id, 1, "retry", 500),
        (job.id, 2, "success", 202),
    ]
    assert attempts[0].error.startswith("HTTP 500") and attempts[1].error == ""
    assert attempts[1].attempted_at - attempts[0].attempted_at == timedelta(seconds=80)
    lines = [r.getMessage() for r in caplog.records if r.name == "verbund.delivery"]
    host = f"127.0.0.2:{sink.port}"
    assert lines[0].startswith(f"delivery {job.id} of {activity_uri} to {host}: 500, attempt 1")
    assert "will retry (HTTP 500" in lines[0]
    assert lines[1] == f"delivery {job.id} of {activity_uri} to {host}: 202, attempt 2: done"


async def test_network_errors_are_logged_with_their_class(
    env: Env, make_worker: MakeWorker, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    await publish(env, ["http://127.0.0.9:9/inbox"], clock.now)  # nothing listens there
    with caplog.at_level(logging.INFO, logger="verbund.delivery"):
        assert await make_worker().run_once() == 1
    [line] = [r.getMessage() for r in caplog.records if r.name == "verbund.delivery"]
    assert "to 127.0.0.9:9: " in line and ", attempt 1: will retry (" in line
    assert "Error, attempt 1" in line  # the FetchError subclass's name
    async with env.sessionmaker() as session:
        [attempt] = await session.scalars(select(DeliveryAttempt))
    assert attempt.status is None and attempt.outcome == "retry" and attempt.error


async def test_signature_scheme_is_remembered_per_host(
    env: Env, start_sink: StartSink, make_worker: MakeWorker, clock: FakeClock
) -> None:
    sink = await start_sink("127.0.0.2")
    await publish(env, [inbox(sink, "rfc9421", "a")], clock.now)
    assert await make_worker().run_once() == 1
    assert len(sink.requests) == 2  # Cavage refused with 401, then the RFC 9421 knock
    host = await host_row(env, sink)
    assert host is not None and host.signature_scheme == "rfc9421"
    # A new worker (another process, a restart) starts with RFC 9421 for that host.
    await publish(env, [inbox(sink, "rfc9421", "b")], clock.now)
    assert await make_worker("second").run_once() == 1
    assert len(sink.requests) == 3 and "Signature-Input" in sink.requests[2].headers
    assert {d.state for d in (await deliveries(env)).values()} == {"done"}


async def test_failing_host_is_paused_and_a_success_resets_it(
    env: Env, start_sink: StartSink, make_worker: MakeWorker, clock: FakeClock
) -> None:
    sink = await start_sink("127.0.0.2")
    await publish(
        env, [inbox(sink, "down", f"u{i}") for i in range(PAUSE_AFTER_FAILURES)], clock.now
    )
    worker = make_worker(per_host_limit=PAUSE_AFTER_FAILURES)
    assert await worker.run_once() == PAUSE_AFTER_FAILURES
    host = await host_row(env, sink)
    assert host is not None and host.consecutive_failures == PAUSE_AFTER_FAILURES
    assert host.paused_until == clock.now + timedelta(minutes=1)
    hits = len(sink.requests)

    # A new job for the paused host is pushed past the pause, not sent.
    await publish(env, [inbox(sink, "down", "new")], clock.now)
    assert await worker.run_once() == 1
    assert len(sink.requests) == hits
    new = (await deliveries(env))[inbox(sink, "down", "new")]
    assert new.state == "pending" and new.attempts == 1
    assert new.next_attempt_at >= host.paused_until and "paused" in new.last_error

    # After the pause the host is tried again; a success clears the streak and pause.
    sink.reply("/down/*", Reply(202))
    clock.advance(hours=1)
    await drain(worker)
    host = await host_row(env, sink)
    assert host is not None and host.consecutive_failures == 0 and host.paused_until is None
    assert {d.state for d in (await deliveries(env)).values()} == {"done"}


async def test_paused_host_does_not_hold_other_hosts_back(
    env: Env, start_sink: StartSink, make_worker: MakeWorker, clock: FakeClock
) -> None:
    down, up = await start_sink("127.0.0.2"), await start_sink("127.0.0.3")
    async with env.sessionmaker() as session:
        session.add(
            DeliveryHost(
                host=f"{down.address}:{down.port}",
                consecutive_failures=PAUSE_AFTER_FAILURES,
                paused_until=clock.now + timedelta(hours=1),
            )
        )
        await session.commit()
    await publish(env, [inbox(down, "ok"), inbox(up, "ok")], clock.now)
    assert await make_worker().run_once() == 2
    assert down.requests == [] and len(up.requests) == 1


async def test_two_workers_in_one_process_never_send_a_job_twice(
    env: Env, start_sink: StartSink, make_worker: MakeWorker, clock: FakeClock
) -> None:
    sinks = [await start_sink(f"127.0.0.{i}") for i in range(2, 12)]
    for sink in sinks:
        sink.reply("/slow/*", Reply(202, delay=0.01))
    inboxes = [inbox(s, "slow", f"u{i}") for s in sinks for i in range(30)]
    await publish(env, inboxes, clock.now)
    a = make_worker("a", batch_size=16, per_host_limit=2)
    b = make_worker("b", batch_size=16, per_host_limit=2)

    async def loop(worker: DeliveryWorker) -> int:
        return await drain(worker)

    handled = await asyncio.gather(loop(a), loop(b))
    assert sum(handled) == len(inboxes) and min(handled) > 0
    paths = sorted(f"{s.address}{p}" for s in sinks for p in s.paths())
    assert len(paths) == len(set(paths)) == len(inboxes)


async def test_run_forever_delivers_when_woken_and_stops_cleanly(
    env: Env, start_sink: StartSink, http: aiohttp.ClientSession
) -> None:
    sink = await start_sink("127.0.0.2")
    worker = DeliveryWorker(
        env.sessionmaker,
        http,
        base_url=BASE_URL,
        allow_private=True,
        clock=lambda: datetime.now(UTC),
        worker_id="forever",
        idle_seconds=60,  # only `wake` can make it look again in time
        policy=OPEN,
    )
    stop, wake = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(worker.run_forever(stop, wake))
    await asyncio.sleep(0.2)  # it found nothing and went to sleep
    await publish(env, [inbox(sink, "ok", f"u{i}") for i in range(50)], datetime.now(UTC))
    wake.set()

    async def all_done() -> bool:
        return {d.state for d in (await deliveries(env)).values()} == {"done"}

    await eventually(all_done)
    stop.set()
    async with asyncio.timeout(5):
        await task
    assert len(sink.requests) == 50


async def test_run_forever_finishes_requests_in_flight_on_stop(
    env: Env, start_sink: StartSink, http: aiohttp.ClientSession
) -> None:
    sink = await start_sink("127.0.0.2")
    sink.reply("/slow/*", Reply(202, delay=0.3))
    await publish(env, [inbox(sink, "slow", f"u{i}") for i in range(3)], datetime.now(UTC))
    worker = DeliveryWorker(
        env.sessionmaker,
        http,
        base_url=BASE_URL,
        allow_private=True,
        clock=lambda: datetime.now(UTC),
        worker_id="stopper",
        policy=OPEN,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run_forever(stop))
    await eventually(lambda: len(sink.started) == 3)
    stop.set()
    await task
    rows = (await deliveries(env)).values()
    assert {d.state for d in rows} == {"done"} and len(sink.requests) == 3


def test_claims_must_outlast_an_attempt() -> None:
    with pytest.raises(ValueError, match="lock_seconds"):
        DeliveryWorker(
            None,  # type: ignore[arg-type]  # never reached
            None,  # type: ignore[arg-type]
            base_url=BASE_URL,
            allow_private=True,
            clock=FakeClock(),
            worker_id="w",
            lock_seconds=10,
            post_timeout=10,
            policy=OPEN,
        )


async def test_a_stuck_host_does_not_starve_the_others(
    env: Env, start_sink: StartSink, http: aiohttp.ClientSession
) -> None:
    """Its jobs come first, but only `per_host_limit` of them may be in flight; the
    claims must pass over the rest rather than return nothing."""
    stuck, fine = await start_sink("127.0.0.2"), await start_sink("127.0.0.3")
    now = datetime.now(UTC)
    await publish(env, [inbox(stuck, "gated", f"u{i:02}") for i in range(20)], now)
    await publish(env, [inbox(fine, "ok", f"u{i:02}") for i in range(10)], now)
    worker = DeliveryWorker(
        env.sessionmaker,
        http,
        base_url=BASE_URL,
        allow_private=True,
        clock=lambda: datetime.now(UTC),
        worker_id="fair",
        concurrency=8,
        per_host_limit=2,
        batch_size=2,  # no bigger than the stuck host's backlog at the head of the queue
        idle_seconds=60,  # a claim that finds nothing would stall the test
        policy=OPEN,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run_forever(stop))
    try:
        await eventually(lambda: len(fine.requests) == 10, seconds=5)
        assert len(stuck.started) == 2 and stuck.requests == []
    finally:
        stuck.release.set()
        stop.set()
        await task


async def test_stop_hands_back_claims_it_has_not_started(
    env: Env, start_sink: StartSink, http: aiohttp.ClientSession
) -> None:
    """The worker holds more claims than it has requests in flight; on stop, the ones
    it never started are released at once instead of lapsing minutes later."""
    sink = await start_sink("127.0.0.2")
    sink.reply("/slow/*", Reply(202, delay=0.3))
    await publish(env, [inbox(sink, "slow", f"u{i}") for i in range(2)], datetime.now(UTC))
    worker = DeliveryWorker(
        env.sessionmaker,
        http,
        base_url=BASE_URL,
        allow_private=True,
        clock=lambda: datetime.now(UTC),
        worker_id="one-at-a-time",
        concurrency=1,
        policy=OPEN,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run_forever(stop))
    await eventually(lambda: len(sink.started) == 1)
    stop.set()
    await task
    rows = sorted((await deliveries(env)).values(), key=lambda d: d.inbox_uri)
    assert [d.state for d in rows] == ["done", "pending"]
    assert rows[1].locked_by is None and rows[1].locked_until is None and rows[1].attempts == 0
    assert len(sink.started) == 1
