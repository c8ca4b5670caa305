"""The durable delivery worker: claim due jobs, sign and POST them, record what happened.

Jobs (`deliveries` rows) are written unsigned by `outbox.publish.enqueue` in the
transaction that caused them. A worker claims a batch by stamping `locked_by` and
`locked_until` and committing *before* it sends anything, and records each outcome as
soon as it is known (group commit). So a worker that dies loses nothing: its claims
lapse after `lock_seconds` and another worker (or itself, restarted) claims them again;
only attempts that were in flight at the crash are ever repeated.

Several workers, in one process or many, share the table safely: on PostgreSQL the
claim scans with `SELECT … FOR UPDATE SKIP LOCKED`, so concurrent claimers take
different rows without waiting; on SQLite a claim takes the write lock first
(`BEGIN IMMEDIATE`), so claims queue up. On both, the claiming UPDATE repeats the
"still claimable" condition (compare-and-set), and an outcome is only written while
the row is still claimed by the worker writing it. An attempt is only started while at
least one worst-case attempt's time is left on its claim, so a claim never lapses
under a request that is still running (clocks of the workers' machines must agree to
well within `lock_seconds`).

Claims are fair across hosts: no more jobs of one host than `per_host_limit` are in
flight per worker, and a claim passes over hosts that are full rather than coming back
empty.

Each attempt is signed afresh (fresh `Date`) with the publishing actor's key, through
`federation.fetch.post_activity`, which also does the Cavage/RFC 9421 double knock;
what worked per host is kept in `delivery_hosts.signature_scheme`. Outcomes follow
`outbox.retry`. A host with a long failure streak is paused: its due jobs are pushed
past the pause instead of being sent, and each push counts as an attempt (as Mastodon's
circuit breaker does), so a dead host's jobs still die after about three days.

Must not import `inbox` or `server`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiohttp import ClientSession
from sqlalchemy import (
    bindparam,
    select,
    update,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from actors.models import Actor
from actors.uris import LocalUris
from federation.errors import FetchError
from federation.fetch import Signer, host_key, post_activity
from federation.policy import FederationPolicy
from federation.signatures import SignatureScheme
from outbox.claims import claim_statements, claimable, paused_hosts
from outbox.jobs import Attempted, Deferred, JobState, transition
from outbox.models import Activity, Delivery, DeliveryHost, DeliveryState
from outbox.recording import record_statements
from outbox.retry import Outcome, classify, host_pause

__all__ = ["Clock", "DeliveryWorker", "HostSchemeMemory", "WorkerStats"]

log = logging.getLogger("verbund.delivery")

Clock = Callable[[], datetime]
"""Returns the current time, timezone-aware."""

_PENDING = DeliveryState.PENDING
_DONE = DeliveryState.DONE
_DEAD = DeliveryState.DEAD
_ERROR_CHARS = 500
_PAYLOAD_TTL = 60.0  # seconds an activity's body and signing key stay cached
_PAYLOAD_CACHE = 256


class HostSchemeMemory:
    """A `federation.fetch.SchemeMemory` over `delivery_hosts.signature_scheme`.

    `post_activity` asks and tells synchronously, so the worker `load`s the hosts of a
    batch before sending and writes what changed (`take_changes`) with the outcomes.
    Process-local cache in front; a scheme another process learnt later only costs us
    one extra knock.
    """

    def __init__(self) -> None:
        self._known: dict[str, SignatureScheme | None] = {}
        self._changed: dict[str, SignatureScheme] = {}

    def get(self, host: str) -> SignatureScheme | None:
        return self._known.get(host)

    def remember(self, host: str, scheme: SignatureScheme) -> None:
        if self._known.get(host) is not scheme:
            self._known[host] = scheme
            self._changed[host] = scheme

    async def load(self, session: AsyncSession, hosts: set[str]) -> None:
        """Read the schemes of `hosts` not cached yet (one query)."""
        missing = hosts - self._known.keys()
        if not missing:
            return
        if len(self._known) > 100_000:  # bound memory; it is only a cache
            self._known = {h: s for h, s in self._known.items() if h in self._changed}
        rows = await session.execute(
            select(DeliveryHost.host, DeliveryHost.signature_scheme).where(
                DeliveryHost.host.in_(missing)
            )
        )
        found = {host: scheme for host, scheme in rows}
        for host in missing:
            self._known[host] = _scheme(found.get(host))

    def take_changes(self) -> dict[str, SignatureScheme]:
        changed, self._changed = self._changed, {}
        return changed

    def restore_changes(self, changes: Mapping[str, SignatureScheme]) -> None:
        """Put back changes whose write failed, so the next flush retries them."""
        for host, scheme in changes.items():
            self._changed.setdefault(host, scheme)


def _scheme(value: str | None) -> SignatureScheme | None:
    try:
        return SignatureScheme(value) if value else None
    except ValueError:
        return None


@dataclass(slots=True)
class WorkerStats:
    """Running totals of one worker since it started, for logs and metrics."""

    claims: int = 0
    claimed: int = 0
    sent: int = 0
    succeeded: int = 0
    retried: int = 0
    dead: int = 0
    deferred: int = 0
    skipped: int = 0
    commits: int = 0


@dataclass(frozen=True, slots=True)
class _Job:
    id: int
    activity_id: int
    inbox_uri: str
    host: str
    attempts: int
    locked_until: datetime


@dataclass(frozen=True, slots=True)
class _Payload:
    uri: str  # the activity's id, for the log
    body: bytes
    signer: Signer
    loaded: float  # time.monotonic()


@dataclass(frozen=True, slots=True)
class _Result:
    job: _Job
    outcome: Outcome
    status: int | None
    error: str
    retry_after: int | None
    at: datetime
    activity_uri: str = ""
    error_class: str = ""  # the exception's class when there was no HTTP answer
    scheme: str | None = None  # the signature scheme the host is known to take


@dataclass(frozen=True)
class DeliveryTuning:
    """The one place of the delivery worker's tuning defaults: `DeliveryWorker` and the
    config file's `[worker]` section (`server.config.WorkerConfig`) both read them.
    Not slotted, so each default stays readable on the class."""

    # Requests in flight. New connections to many hosts spend most of their time
    # waiting on the network: bench/fanout.py (1,000 hosts) delivered ~15% more per
    # second at 128 than at 64, and no more at 256.
    concurrency: int = 128
    per_host_limit: int = 4
    batch_size: int = 256
    lock_seconds: float = 300.0
    post_timeout: float = 10.0
    idle_seconds: float = 1.0


class DeliveryWorker:
    """Sends due delivery jobs; many may run against one database.

    `http` is the federation `ClientSession` (built on `federation.fetch.make_connector`
    unless `allow_private`). `clock` is read for every decision and every signature.
    `worker_id` must be unique among live workers (it marks their claims).
    `batch_size` caps one claim, `concurrency` the requests in flight, `per_host_limit`
    those in flight to one host. `lock_seconds` is how long a claim holds; it must
    exceed the worst-case attempt (two knocks of `post_timeout` seconds). `rng` draws
    the retry jitter. `policy` is checked again at each attempt, so that jobs queued
    before a domain was blocked are not sent there (they die at once).
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        http: ClientSession,
        *,
        base_url: str,
        allow_private: bool,
        clock: Clock,
        worker_id: str,
        batch_size: int = DeliveryTuning.batch_size,
        concurrency: int = DeliveryTuning.concurrency,
        per_host_limit: int = DeliveryTuning.per_host_limit,
        lock_seconds: float = DeliveryTuning.lock_seconds,
        post_timeout: float = DeliveryTuning.post_timeout,
        idle_seconds: float = DeliveryTuning.idle_seconds,
        rng: random.Random | None = None,
        sign_with: Callable[[str, bytes], Awaitable[bytes]] | None = None,
        policy: FederationPolicy,
    ) -> None:
        if min(batch_size, concurrency, per_host_limit) < 1:
            raise ValueError("batch_size, concurrency and per_host_limit must be at least 1")
        if not 0 < len(worker_id) <= 64:
            raise ValueError("worker_id must be 1 to 64 characters")
        self._attempt_seconds = 2 * post_timeout + 1.0  # a double knock, plus slack
        if lock_seconds < self._attempt_seconds + 1.0:
            raise ValueError(
                f"lock_seconds ({lock_seconds}) must exceed two request timeouts "
                f"({2 * post_timeout} s) by at least 2 s"
            )
        self._sessionmaker = sessionmaker
        self._http = http
        self._uris = LocalUris(base_url)
        self._policy = policy
        self._allow_private = allow_private
        self._clock = clock
        self.worker_id = worker_id
        self._batch_size = batch_size
        self._concurrency = concurrency
        self._per_host_limit = per_host_limit
        self._lock = timedelta(seconds=lock_seconds)
        self._post_timeout = post_timeout
        self._idle_seconds = idle_seconds
        self._sign_with = sign_with  # e.g. outbox.signer.SignerProcess.sign: another core
        self._rng = rng if rng is not None else random.Random()
        self._memory = HostSchemeMemory()
        self.stats = WorkerStats()
        self._payloads: dict[int, _Payload] = {}
        self._host_busy: dict[str, int] = {}
        self._host_gates: dict[str, asyncio.Semaphore] = {}
        self._is_postgres = sessionmaker.kw["bind"].dialect.name == "postgresql"
        self._write_lock = asyncio.Lock()

    # --- the two ways to drive it --------------------------------------------------------

    async def run_once(self) -> int:
        """Handle one batch of due jobs and return how many: send the claimed ones (all
        concurrently, within the limits), record every outcome, and push back the due
        jobs of paused hosts. 0 means nothing was due. Tests step the worker with this."""
        now = self._clock()
        deferred = await self._defer_paused(now)
        jobs, payloads = await self._claim_batch(now, self._batch_size)
        if not jobs:
            return deferred
        gate = asyncio.Semaphore(self._concurrency)

        async def one(job: _Job) -> _Result | None:
            async with gate:
                return await self._attempt(job, payloads.get(job.activity_id))

        try:
            results = await asyncio.gather(*(one(job) for job in jobs))
        finally:
            for job in jobs:
                self._release(job.host)
        await self._record([r for r in results if r is not None])
        return deferred + len(jobs)

    async def run_forever(self, stop: asyncio.Event, wake: asyncio.Event | None = None) -> None:
        """Deliver until `stop` is set, keeping up to `concurrency` requests in flight.

        It holds up to twice that many claims, so that a request can start as soon as
        another ends rather than after the next claim's round trip, and claims more as
        they are used up. When nothing is due it sleeps `idle_seconds`, or less if
        `wake` is set (publishers set it after committing new jobs; the worker clears
        it). On stop it hands back the claims it has not started, lets the requests in
        flight finish (at most one attempt's time), records them and returns; claims it
        could not finish lapse and are sent again later.
        """
        kick = asyncio.Event()
        tasks: set[asyncio.Task[None]] = set()
        waiting: dict[int, asyncio.Task[None]] = {}  # job id → task not yet sending
        gate = asyncio.Semaphore(self._concurrency)
        capacity = 2 * self._concurrency
        recorder = _Recorder(self)
        forwarders = [asyncio.create_task(_forward(stop, kick, clear=False))]
        if wake is not None:
            forwarders.append(asyncio.create_task(_forward(wake, kick, clear=True)))
        recording = asyncio.create_task(recorder.run())
        low_water = max(1, self._concurrency // 4)
        next_deferral = 0.0

        def finished(task: asyncio.Task[None]) -> None:
            tasks.discard(task)
            if capacity - len(tasks) >= low_water:
                kick.set()

        async def deliver(job: _Job, payload: _Payload | None) -> None:
            try:
                async with gate:
                    del waiting[job.id]
                    result = await self._attempt(job, payload)
            finally:
                self._release(job.host)
            if result is not None:
                recorder.add(result)

        try:
            while not stop.is_set():
                kick.clear()
                free = capacity - len(tasks)
                want = min(free, self._batch_size)
                claimed = 0
                if want > 0:
                    try:
                        now = self._clock()
                        if time.monotonic() >= next_deferral:
                            next_deferral = time.monotonic() + self._idle_seconds
                            await self._defer_paused(now)
                        jobs, payloads = await self._claim_batch(now, want)
                    except Exception:  # top of the loop: keep the worker alive (STYLE §4)
                        log.exception("claiming deliveries failed; retrying shortly")
                        jobs, payloads = [], {}
                    claimed = len(jobs)
                    for job in jobs:
                        task = asyncio.create_task(deliver(job, payloads.get(job.activity_id)))
                        waiting[job.id] = task
                        tasks.add(task)
                        task.add_done_callback(finished)
                if claimed == want == self._batch_size and free > want:
                    continue  # a full batch and room for more: claim again at once
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._idle_seconds):
                        await kick.wait()
        finally:
            unstarted = list(waiting)
            for task in waiting.values():
                task.cancel()
            if tasks:
                _done, pending = await asyncio.wait(tasks, timeout=self._attempt_seconds)
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
            recorder.close()
            await recording
            await self._unclaim(unstarted)
            for forwarder in forwarders:
                forwarder.cancel()
            await asyncio.gather(*forwarders, return_exceptions=True)

    async def _unclaim(self, ids: Sequence[int]) -> None:
        """Hand back claims that were never started, so that other workers need not wait
        for them to lapse. Best effort: if it fails, they lapse."""
        if not ids:
            return
        try:
            async with self._writer(), self._sessionmaker() as session:
                await (await session.connection()).execute(
                    update(Delivery)
                    .where(Delivery.id.in_(ids), Delivery.locked_by == self.worker_id)
                    .values(locked_until=None, locked_by=None)
                    .execution_options(synchronize_session=False)
                )
                await session.commit()
        except (SQLAlchemyError, OSError):
            log.exception("handing back %d unstarted deliveries failed; they lapse", len(ids))

    # --- claiming ------------------------------------------------------------------------

    async def _claim_batch(
        self, now: datetime, limit: int
    ) -> tuple[list[_Job], dict[int, _Payload]]:
        """Claim jobs and load what sending them needs; the caller releases each job."""
        jobs = await self._claim(now, limit)
        if not jobs:
            return [], {}
        try:
            return jobs, await self._prepare(jobs)
        except BaseException:
            for job in jobs:
                self._release(job.host)
            raise

    def _writer(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """On SQLite, one write transaction at a time per worker: the claimer and the
        recorder would otherwise meet at SQLite's lock, whose busy handler sleeps in
        steps of milliseconds instead of waking when the lock is free. Other processes
        still meet there. PostgreSQL needs no such thing."""
        return contextlib.nullcontext() if self._is_postgres else self._write_lock

    async def _begin_claim(self, session: AsyncSession) -> None:
        """On SQLite, take the write lock before reading candidates, so that concurrent
        claimers queue up instead of picking the same rows and losing the race (PostgreSQL
        skips rows another claimer holds instead). Held for one SELECT and one UPDATE."""
        if not self._is_postgres:
            connection = await session.connection()
            await connection.exec_driver_sql("BEGIN IMMEDIATE")

    async def _claim(self, now: datetime, limit: int) -> list[_Job]:
        """Claim up to `limit` due jobs of unpaused hosts, at most `per_host_limit` in
        flight per host (counting ours already running), oldest first; commit the claim."""
        statements = claim_statements(self._is_postgres)
        limit_per_host = self._per_host_limit
        full = [h for h, n in self._host_busy.items() if n >= limit_per_host]
        params = {
            "now": now,
            "full": full,
            "per_host": limit_per_host,
            "limit": limit,
            # PostgreSQL locks every scanned row until the commit: keep its scan small.
            "scan": max(limit * 4, 64) if self._is_postgres else max(limit * 16, 1024),
        }
        async with self._sessionmaker() as session:
            if not self._is_postgres:
                # Idle workers poll: do not take SQLite's write lock to find nothing.
                if await session.scalar(statements.probe, params) is None:
                    return []
                await session.commit()
            async with self._writer():
                await self._begin_claim(session)
                rows = (await session.execute(statements.candidates, params)).all()
                # The query allows `per_host` jobs of every host that is not full here;
                # hosts with some of their slots busy here are trimmed to what is left.
                taken: dict[str, int] = {}
                ids = []
                for job_id, host in sorted(rows):
                    if self._host_busy.get(host, 0) + taken.get(host, 0) < limit_per_host:
                        taken[host] = taken.get(host, 0) + 1
                        ids.append(job_id)
                if not ids:
                    await session.commit()
                    return []
                locked_until = now + self._lock
                claimed = (
                    await (await session.connection()).execute(
                        statements.claim,
                        {
                            "ids": ids,
                            "now": now,
                            "locked_until": locked_until,
                            "worker": self.worker_id,
                        },
                    )
                ).all()
                await session.commit()
        self.stats.claims += 1
        self.stats.claimed += len(claimed)
        jobs = [
            _Job(id=i, activity_id=a, inbox_uri=u, host=h, attempts=n, locked_until=locked_until)
            for i, a, u, h, n in sorted(claimed)
        ]
        for job in jobs:
            self._host_busy[job.host] = self._host_busy.get(job.host, 0) + 1
        return jobs

    async def _defer_paused(self, now: datetime) -> int:
        """Push the due jobs of paused hosts past the pause, counting an attempt each
        (so they still die after about three days); return how many."""
        query = (
            select(Delivery.id, Delivery.attempts, DeliveryHost.paused_until)
            .join(DeliveryHost, DeliveryHost.host == Delivery.host)
            .where(claimable(now), DeliveryHost.paused_until > now)
            .order_by(Delivery.next_attempt_at, Delivery.id)
            .limit(self._batch_size)
        )
        async with self._sessionmaker() as session:
            # Usually no host is paused: find that out without taking any lock.
            if await session.scalar(paused_hosts(now).limit(1)) is None:
                return 0
            await session.commit()
            if self._is_postgres:
                query = query.with_for_update(skip_locked=True, of=Delivery)
            async with self._writer():
                await self._begin_claim(session)
                rows = (await session.execute(query)).all()
                if not rows:
                    await session.commit()
                    return 0
                await self._push_back(session, now, rows)
                await session.commit()
        self.stats.deferred += len(rows)
        return len(rows)

    async def _push_back(self, session: AsyncSession, now: datetime, rows: Sequence[Any]) -> None:
        """Reschedule the paused hosts' due jobs in `rows` (id, attempts, paused_until)."""
        params = []
        for job_id, attempts, paused_until in rows:
            assert paused_until is not None  # the join's condition
            step = transition(
                JobState(DeliveryState.PENDING, attempts),
                Deferred(now, paused_until),
                rng=self._rng,
            )
            error = f"host paused until {paused_until.isoformat(timespec='seconds')}"
            params.append(
                {
                    "b_id": job_id,
                    "b_attempts": step.attempts,
                    "b_state": step.state.value,
                    "b_next": step.next_attempt_at,
                    "b_error": error,
                }
            )
        stmt = (
            update(Delivery)
            .where(Delivery.id == bindparam("b_id"), claimable(now))
            .values(
                attempts=bindparam("b_attempts"),
                state=bindparam("b_state"),
                next_attempt_at=bindparam("b_next"),
                last_error=bindparam("b_error"),
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        await (await session.connection()).execute(stmt, params)
        await (await session.connection()).execute(
            record_statements(self._is_postgres).attempts,
            [
                {
                    "delivery_id": p["b_id"],
                    "attempt": p["b_attempts"],
                    "attempted_at": now,
                    "outcome": "deferred",
                    "status": None,
                    "error": p["b_error"],
                    "signature_scheme": None,
                }
                for p in params
            ],
        )

    def _release(self, host: str) -> None:
        left = self._host_busy.get(host, 0) - 1
        if left > 0:
            self._host_busy[host] = left
        else:
            self._host_busy.pop(host, None)
            self._host_gates.pop(host, None)

    # --- sending -------------------------------------------------------------------------

    async def _prepare(self, jobs: Sequence[_Job]) -> dict[int, _Payload]:
        """Bodies and signers of the batch's activities (cached briefly), and the
        signature schemes of its hosts."""
        tick = time.monotonic()
        wanted = {job.activity_id for job in jobs}
        payloads = {
            a: p for a in wanted if (p := self._payloads.get(a)) and tick - p.loaded < _PAYLOAD_TTL
        }
        missing = wanted - payloads.keys()
        async with self._sessionmaker() as session:
            if missing:
                rows = await session.execute(
                    select(
                        Activity.id,
                        Activity.uri,
                        Activity.body,
                        Actor.username,
                        Actor.is_instance,
                        Actor.private_key_pem,
                    )
                    .join(Actor, Actor.id == Activity.actor_id)
                    .where(Activity.id.in_(missing))
                )
                for activity_id, uri, body, username, is_instance, pem in rows:
                    actor_uri = (
                        self._uris.instance_actor if is_instance else self._uris.actor(username)
                    )
                    payload = _Payload(
                        uri=uri,
                        body=body.encode("utf-8"),
                        signer=Signer(
                            self._uris.key_id(actor_uri),
                            pem,
                            self._clock,
                            sign_with=self._sign_with,
                        ),
                        loaded=tick,
                    )
                    payloads[activity_id] = payload
                    if len(self._payloads) >= _PAYLOAD_CACHE:
                        self._payloads.clear()
                    self._payloads[activity_id] = payload
            await self._memory.load(session, {_memory_key(job) for job in jobs})
            await session.commit()
        return payloads

    async def _attempt(self, job: _Job, payload: _Payload | None) -> _Result | None:
        """One signed POST of one job; None if it was not sent because its claim is
        about to lapse (another worker will take it)."""
        gate = self._host_gates.get(job.host)
        if gate is None:
            gate = self._host_gates[job.host] = asyncio.Semaphore(self._per_host_limit)
        async with gate:
            now = self._clock()
            if (job.locked_until - now).total_seconds() < self._attempt_seconds:
                log.warning("delivery %d: claim nearly lapsed, leaving it to a later claim", job.id)
                self.stats.skipped += 1
                return None
            if payload is None:
                return _Result(job, Outcome.PERMANENT, None, "activity or actor gone", None, now)
            if not self._policy.allows_host(job.host):
                return _Result(job, Outcome.PERMANENT, None, "domain blocked", None, now)
            self.stats.sent += 1
            try:
                answer = await post_activity(
                    self._http,
                    job.inbox_uri,
                    payload.body,
                    signer=payload.signer,
                    memory=self._memory,
                    allow_private=self._allow_private,
                    timeout=self._post_timeout,
                )
            except FetchError as exc:
                return self._failed(job, payload, classify(None, exc), str(exc), exc)
            except Exception as exc:  # top of the per-job loop: record it (STYLE §4)
                log.exception("delivery %d to %s failed unexpectedly", job.id, job.inbox_uri)
                error = f"internal error: {type(exc).__name__}: {exc}"
                return self._failed(job, payload, classify(None, exc), error, exc)
            error = "" if answer.ok else f"HTTP {answer.status}: {answer.excerpt[:200]}"
            return _Result(
                job,
                classify(answer.status),
                answer.status,
                error,
                answer.retry_after,
                self._clock(),
                activity_uri=payload.uri,
                scheme=self._known_scheme(job),
            )

    def _failed(
        self, job: _Job, payload: _Payload, outcome: Outcome, error: str, exc: BaseException
    ) -> _Result:
        return _Result(
            job,
            outcome,
            None,
            error,
            None,
            self._clock(),
            activity_uri=payload.uri,
            error_class=type(exc).__name__,
            scheme=self._known_scheme(job),
        )

    def _known_scheme(self, job: _Job) -> str | None:
        scheme = self._memory.get(_memory_key(job))
        return scheme.value if scheme is not None else None

    # --- recording -----------------------------------------------------------------------

    async def _record(self, results: Sequence[_Result]) -> None:
        """Write the outcomes of `results` in one transaction: each job done, rescheduled
        or dead (only if still claimed by us), the hosts' failure streaks and pauses,
        and newly learnt signature schemes."""
        schemes = self._memory.take_changes()
        if not results and not schemes:
            return
        states: list[DeliveryState] = []
        try:
            async with self._writer(), self._sessionmaker() as session:
                if results:
                    states = await self._record_jobs(session, results)
                    await self._record_attempts(session, results)
                    await self._record_hosts(session, results)
                if schemes:
                    await self._record_schemes(session, schemes)
                await session.commit()
        except BaseException:
            self._memory.restore_changes(schemes)
            raise
        self.stats.commits += 1
        self.stats.succeeded += states.count(_DONE)
        self.stats.retried += states.count(_PENDING)
        self.stats.dead += states.count(_DEAD)
        if log.isEnabledFor(logging.INFO):
            for r, state in zip(results, states, strict=False):
                log.info(
                    "delivery %d of %s to %s: %s, attempt %d: %s%s",
                    r.job.id,
                    r.activity_uri or f"activity {r.job.activity_id}",
                    r.job.host,
                    r.status if r.status is not None else (r.error_class or "error"),
                    r.job.attempts + 1,
                    {_DONE: "done", _DEAD: "dead", _PENDING: "will retry"}.get(state, state),
                    f" ({r.error[:120]})" if r.error and r.outcome is not Outcome.SUCCESS else "",
                )

    async def _record_jobs(
        self, session: AsyncSession, results: Sequence[_Result]
    ) -> list[DeliveryState]:
        """Write each job's outcome; return the new states, in order."""
        params = []
        for r in results:
            retry_after = timedelta(seconds=r.retry_after) if r.retry_after else None
            step = transition(
                JobState(DeliveryState.PENDING, r.job.attempts),
                Attempted(r.outcome, r.at, retry_after),
                rng=self._rng,
            )
            params.append(
                {
                    "b_id": r.job.id,
                    "b_state": step.state.value,
                    "b_attempts": step.attempts,
                    "b_next": step.next_attempt_at,
                    "b_status": r.status,
                    "b_error": r.error[:_ERROR_CHARS],
                    "b_at": r.at,
                    "b_delivered": step.delivered_at,
                    "b_worker": self.worker_id,
                }
            )
        await (await session.connection()).execute(
            record_statements(self._is_postgres).jobs, params
        )
        return [DeliveryState(str(p["b_state"])) for p in params]

    async def _record_attempts(self, session: AsyncSession, results: Sequence[_Result]) -> None:
        """One `delivery_attempts` row per result: the history `verbund deliveries show`
        prints."""
        await (await session.connection()).execute(
            record_statements(self._is_postgres).attempts,
            [
                {
                    "delivery_id": r.job.id,
                    "attempt": r.job.attempts + 1,
                    "attempted_at": r.at,
                    "outcome": r.outcome.value,
                    "status": r.status,
                    "error": r.error[:_ERROR_CHARS],
                    "signature_scheme": r.scheme,
                }
                for r in results
            ],
        )

    async def _record_hosts(self, session: AsyncSession, results: Sequence[_Result]) -> None:
        """A success resets a host's streak and pause; retryable failures extend the
        streak and, past the threshold, pause it. Final answers (404, 410…) show the
        host is up and leave it alone."""
        by_host: dict[str, list[_Result]] = {}
        for r in sorted(results, key=lambda r: r.at):
            if r.outcome is not Outcome.PERMANENT:
                by_host.setdefault(r.job.host, []).append(r)
        healthy, failing = [], []
        for host, rs in by_host.items():
            last_ok = max((i for i, r in enumerate(rs) if r.outcome is Outcome.SUCCESS), default=-1)
            after = len(rs) - last_ok - 1
            last_failure = rs[-1].at if after else None
            if last_ok >= 0:
                row = {
                    "host": host,
                    "consecutive_failures": after,
                    "last_success_at": rs[last_ok].at,
                    "last_failure_at": last_failure,
                }
                healthy.append(row)
            else:
                failing.append(
                    {"host": host, "consecutive_failures": after, "last_failure_at": last_failure}
                )
        statements = record_statements(self._is_postgres)
        if healthy:
            await (await session.connection()).execute(statements.healthy_hosts, healthy)
        if failing:
            streaks = (
                await (await session.connection()).execute(statements.failing_hosts, failing)
            ).all()
            now = max(r.at for r in results)
            pauses = []
            for host, streak, paused_until in streaks:
                pause = host_pause(streak)
                if pause is not None and (paused_until is None or paused_until < now + pause):
                    pauses.append({"b_host": host, "b_until": now + pause})
                    log.warning(
                        "pausing deliveries to %s for %s after %d failures", host, pause, streak
                    )
            if pauses:
                await (await session.connection()).execute(statements.pause_hosts, pauses)

    async def _record_schemes(
        self, session: AsyncSession, schemes: Mapping[str, SignatureScheme]
    ) -> None:
        await (await session.connection()).execute(
            record_statements(self._is_postgres).schemes,
            [
                {"host": host, "consecutive_failures": 0, "signature_scheme": scheme.value}
                for host, scheme in schemes.items()
            ],
        )


def _memory_key(job: _Job) -> str:
    """The key `post_activity` uses for a host's scheme (`federation.fetch.host_key`).

    That is the job's `host` except when the inbox URL names a default port or an IPv6
    address (`inbox_host` keeps the one and drops the brackets of the other); parsing
    every URL again costs more than the rest of the claim.
    """
    host = job.host
    if host.count(":") <= 1 and not host.endswith((":80", ":443")):
        return host
    try:
        return host_key(job.inbox_uri)
    except FetchError:
        return ""  # an unusable URL fails when it is sent


async def _forward(source: asyncio.Event, target: asyncio.Event, *, clear: bool) -> None:
    """Set `target` whenever `source` is set (asyncio has no wait-for-any on events)."""
    while True:
        await source.wait()
        target.set()
        if not clear:
            return
        source.clear()


class _Recorder:
    """Group commit for `run_forever`: outcomes that finish while one transaction is
    being written go into the next, so a thousand answers cost a handful of commits,
    and each is written within about one commit's time of its answer."""

    def __init__(self, worker: DeliveryWorker) -> None:
        self._worker = worker
        self._results: list[_Result] = []
        self._ready = asyncio.Event()
        self._closed = False

    def add(self, result: _Result) -> None:
        self._results.append(result)
        self._ready.set()

    def close(self) -> None:
        """Write what is left, then stop."""
        self._closed = True
        self._ready.set()

    async def run(self) -> None:
        failures = 0
        while True:
            await self._ready.wait()
            self._ready.clear()
            batch, self._results = self._results, []
            try:
                await self._worker._record(batch)
                failures = 0
            except (SQLAlchemyError, OSError):
                # Keep them and try again; if the database stays away, the claims lapse
                # and the jobs are sent again by whoever claims them next.
                failures += 1
                log.exception("recording %d delivery outcomes failed", len(batch))
                self._results[:0] = batch
                if self._closed and failures >= 3:
                    log.error(
                        "giving up recording deliveries %s",
                        ", ".join(str(r.job.id) for r in self._results),
                    )
                    return
                await asyncio.sleep(min(0.5 * failures, 5.0))
                self._ready.set()
                continue
            if self._closed and not self._results:
                return
