"""Processing stored inbox records: claim a batch, dispatch to handlers, mark processed.

Runs in `verbund serve` as a background task woken after each group commit,
and catches up on start-up with whatever a crash left unprocessed.

Several processes (`serve` on one PostgreSQL) share the table: after its prefetch a
batch is claimed in a short transaction of its own, a lease (`claimed_until`, like the
delivery queue's claims) that no other processor takes until it lapses, so a record is
handled once, and a crashed processor's records are taken up again when it lapses.
The claim is its own transaction because on SQLite a transaction that writes holds the
one write lock until it ends, and every activity the inbox accepts meanwhile waits for
it (the group commit): the handlers' transaction reads first (outside the lock) and
writes last.

Isolation: no record can hold up the ones behind it. Each record's prefetch (the
network step before the transaction) is isolated on its own; the handlers of a
batch run in one transaction, and if that fails the batch is rolled back and its
records run one by one. A record that fails in either step is deferred with
backoff (`retry_delay`) and the queue moves on; after `MAX_ATTEMPTS` it is marked
processed with the reason in `error`, so nothing is retried forever.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from actors.base import among
from actors.models import RemoteActor
from actors.remote import RemoteDirectory
from actors.uris import LocalUris
from federation.activities import Activity, AsObject, activity_of, parse_activity
from federation.errors import ParseError
from federation.records import record
from inbox.context import YIELD_EVERY, HandlerContext, Incoming, ObjectFetcher
from inbox.handlers import HANDLERS, HandlerSpec, prefetch_actor
from inbox.models import InboxActivity

log = logging.getLogger("verbund.inbox")

# Attempts before a failing record is given up: most failures that are not bugs are
# transient (the database restarted, a peer timed out inside a prefetch); five attempts
# over about 40 minutes outlast those without keeping a broken record for days.
MAX_ATTEMPTS = 5
# How long a claimed batch is ours: far longer than handling a batch takes (well under a
# second), short enough that a crashed processor's records wait minutes, not hours.
CLAIM = timedelta(minutes=5)
# First retry after 30 s, then four times longer each time: 30 s, 2 min, 8 min, 32 min.
FIRST_RETRY = timedelta(seconds=30)
RETRY_FACTOR = 4


def retry_delay(attempts: int) -> timedelta | None:
    """How long a record that has now failed `attempts` times waits; None: give up."""
    if attempts >= MAX_ATTEMPTS:
        return None
    return FIRST_RETRY * int(RETRY_FACTOR ** (max(attempts, 1) - 1))


@record
class _Pending:
    id: int
    uri: str
    type: str
    actor_uri: str
    body: str
    attempts: int

    def activity(self) -> Activity | None:
        """The stored body parsed, when a handler wants it (the receiver stored only
        bodies that parse; one that no longer does is marked processed, unhandled)."""
        if self.type not in HANDLERS:
            return None
        try:
            return activity_of(parse_activity(self.body, HANDLERS))
        except ParseError:
            return None


@dataclass(frozen=True, slots=True)
class _Prefetched:
    """What `_prefetch` got from the network for one batch."""

    activities: Mapping[int, Activity]  # inbox record id → its parsed body
    actors: Mapping[str, RemoteActor | None]
    objects: Mapping[int, dict[str, AsObject]]  # inbox record id → {object id: object}


async def _finish_run(
    ctx: HandlerContext, session: AsyncSession, spec: HandlerSpec, run: Sequence[Incoming]
) -> None:
    if spec.batch is not None and len(run) > 1:
        await spec.batch(ctx, session, run)
    else:
        for incoming in run:
            await spec.handler(ctx, session, incoming)


class InboxProcessor:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        directory: RemoteDirectory,
        *,
        uris: LocalUris,
        clock: Callable[[], datetime],
        on_outbox: Callable[[], None] = lambda: None,
        batch_size: int = 200,
        fetch_object: ObjectFetcher | None = None,
        relay_subscribers: frozenset[str] | None = None,
        alias_delay_seconds: float = 0.0,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._relay_subscribers = relay_subscribers
        self._directory = directory
        self._uris = uris
        self._clock = clock
        self._on_outbox = on_outbox
        self._batch_size = batch_size
        # Signed GET for remote objects (boosted posts we lack); None: such boosts are skipped.
        self.fetch_object = fetch_object
        self._alias_delay_seconds = alias_delay_seconds  # for `HandlerContext`
        self.wake = asyncio.Event()
        # One pass at a time per process: the background loop and a test's run_once()
        # must not handle the same record concurrently.
        self._lock = asyncio.Lock()

    async def run_once(self) -> int:
        """Process every unprocessed record (in arrival order); return how many."""
        async with self._lock:
            total = 0
            while True:
                batch = await self._next_batch()
                if not batch:
                    return total
                total += await self._process_batch(batch)

    async def _next_batch(self) -> list[_Pending]:
        now = self._clock()
        async with self._sessionmaker() as session:
            rows = await session.execute(
                select(
                    InboxActivity.id,
                    InboxActivity.uri,
                    InboxActivity.type,
                    InboxActivity.actor_uri,
                    InboxActivity.body,
                    InboxActivity.attempts,
                )
                .where(
                    InboxActivity.processed_at.is_(None),
                    or_(InboxActivity.retry_at.is_(None), InboxActivity.retry_at <= now),
                    or_(InboxActivity.claimed_until.is_(None), InboxActivity.claimed_until <= now),
                )
                .order_by(InboxActivity.id)
                .limit(self._batch_size)
            )
            return [_Pending(*row) for row in rows]

    def _context(self) -> HandlerContext:
        return self._context_at(self._clock())

    def _context_at(self, now: datetime) -> HandlerContext:
        return HandlerContext(
            self._directory,
            self._uris,
            now,
            self.fetch_object,
            relay_subscribers=self._relay_subscribers,
            alias_delay_seconds=self._alias_delay_seconds,
        )

    async def _prefetch(
        self, batch: Sequence[_Pending]
    ) -> tuple[_Prefetched, dict[int, BaseException]]:
        """Network fetches happen before the transaction opens: no lock held across them.

        Returns what was fetched and the records whose prefetch failed, with the error.
        """
        activities: dict[int, Activity] = {}
        objects: dict[int, dict[str, AsObject]] = {}
        failed: dict[int, BaseException] = {}
        ctx = self._context()
        try:  # the senders we know already, in one query; the rest one by one below
            senders = (i.actor_uri for i in batch if (s := HANDLERS.get(i.type)) and s.needs_actor)
            actors: dict[str, RemoteActor | None] = {**await self._directory.stored_actors(senders)}
        except Exception:  # worker-loop top: each record asks for its sender on its own
            log.warning("cannot read a batch's senders at once", exc_info=True)
            actors = {}
        for n, item in enumerate(batch, 1):
            if n % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # parsing is CPU work: let requests in between
            try:
                spec = HANDLERS.get(item.type)
                activity = item.activity()
                if spec is None or activity is None:
                    continue
                activities[item.id] = activity
                if spec.needs_actor and item.actor_uri not in actors:
                    actors[item.actor_uri] = await prefetch_actor(self._directory, item.actor_uri)
                if spec.prefetcher is not None:
                    fetched = await spec.prefetcher(ctx, self._sessionmaker, activity)
                    if fetched:
                        objects[item.id] = fetched
            except Exception as exc:  # worker-loop top: this record waits, the rest go on
                failed[item.id] = exc
        return _Prefetched(activities, actors, objects), failed

    async def _handle(
        self,
        session: AsyncSession,
        items: Sequence[_Pending],
        prefetched: _Prefetched,
        now: datetime,
    ) -> int:
        """Run the handlers of `items` (claimed by this processor); mark them processed."""
        ctx = self._context_at(now)
        run: list[Incoming] = []  # consecutive records whose spec handles them as a batch
        run_spec: HandlerSpec | None = None
        for item in items:
            spec = HANDLERS.get(item.type)
            activity = prefetched.activities.get(item.id)
            if spec is None or activity is None:
                continue
            incoming = Incoming(
                activity,
                prefetched.actors.get(item.actor_uri),
                prefetched.objects.get(item.id, {}),
            )
            if run_spec is not None and spec is not run_spec:
                await _finish_run(ctx, session, run_spec, run)
                run, run_spec = [], None
            if spec.batch is not None:
                run.append(incoming)
                run_spec = spec
            else:
                await spec.handler(ctx, session, incoming)
        if run_spec is not None:
            await _finish_run(ctx, session, run_spec, run)
        await session.execute(
            update(InboxActivity)
            .where(among(InboxActivity.id, [i.id for i in items]))
            .values(processed_at=now, claimed_until=None)
        )
        await session.commit()
        return len(items)

    async def _claim(self, items: Sequence[_Pending]) -> list[_Pending]:
        """Of `items`, those this processor now holds until `CLAIM` from now: not processed
        and not held by another processor. One short transaction (see the module)."""
        if not items:
            return []
        now = self._clock()
        async with self._sessionmaker() as session:
            claimed = set(
                await session.scalars(
                    update(InboxActivity)
                    .where(
                        among(InboxActivity.id, [i.id for i in items]),
                        InboxActivity.processed_at.is_(None),
                        or_(
                            InboxActivity.claimed_until.is_(None),
                            InboxActivity.claimed_until <= now,
                        ),
                    )
                    .values(claimed_until=now + CLAIM)
                    .returning(InboxActivity.id)
                    .execution_options(synchronize_session=False)
                )
            )
            await session.commit()
        return [item for item in items if item.id in claimed]

    async def _process_batch(self, batch: Sequence[_Pending]) -> int:
        prefetched, failed = await self._prefetch(batch)
        done = 0
        for item in batch:
            if item.id in failed:
                done += await self._record_failure(item, failed[item.id], step="prefetch")
        ready = await self._claim([item for item in batch if item.id not in failed])
        now = self._clock()
        try:
            async with self._sessionmaker() as session:
                done += await self._handle(session, ready, prefetched, now)
        except Exception:  # worker-loop top: isolate the failing record below
            log.warning("inbox batch of %d failed; retrying one by one", len(ready), exc_info=True)
            for item in ready:
                done += await self._process_single(item, prefetched)
        if done:
            self._on_outbox()
        return done

    async def _process_single(self, item: _Pending, prefetched: _Prefetched) -> int:
        now = self._clock()
        try:
            async with self._sessionmaker() as session:
                return await self._handle(session, [item], prefetched, now)
        except Exception as exc:  # worker-loop top: record on the row, keep going
            return await self._record_failure(item, exc, step="handler")

    async def _record_failure(self, item: _Pending, exc: BaseException, *, step: str) -> int:
        """Defer a failed record with backoff, or give it up after the last attempt."""
        now = self._clock()
        attempts = item.attempts + 1
        delay = retry_delay(attempts)
        reason = f"{step}: {type(exc).__name__}: {exc}"[:500]
        if delay is None:
            log.error(
                "inbox activity %s (%s) failed %d times, giving up: %s",
                item.id,
                item.type,
                attempts,
                reason,
                exc_info=exc,
            )
            values: dict[str, object] = {"processed_at": now}
        else:
            log.warning(
                "inbox activity %s (%s) failed (attempt %d), retrying in %s: %s",
                item.id,
                item.type,
                attempts,
                delay,
                reason,
                exc_info=exc,
            )
            values = {"retry_at": now + delay}
        async with self._sessionmaker() as session:
            await session.execute(
                update(InboxActivity)
                .where(InboxActivity.id == item.id, InboxActivity.processed_at.is_(None))
                .values(error=reason, attempts=attempts, claimed_until=None, **values)
            )
            await session.commit()
        return 1

    async def run_forever(self, stop: asyncio.Event, idle_seconds: float = 5.0) -> None:
        """Process until `stop`, waking on `wake` or after `idle_seconds` (for retries).

        `wake` is cleared before each pass, not after: a record stored while the pass
        ran sets it again, and the next pass starts at once instead of after the idle
        wait (the last record of a burst used to wait the whole `idle_seconds`)."""
        while not stop.is_set():
            self.wake.clear()
            try:
                await self.run_once()
            except Exception:  # worker-loop top: log and retry after the idle wait
                log.exception("inbox processing loop failed")
            waiter = asyncio.ensure_future(self.wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait(
                {waiter, stopper}, timeout=idle_seconds, return_when=asyncio.FIRST_COMPLETED
            )
            waiter.cancel()
            stopper.cancel()
