"""Processing stored inbox records: claim a batch, dispatch to handlers, mark processed.

Runs in `verbund serve` as a background task woken after each group commit,
and catches up on start-up with whatever a crash left unprocessed. A batch is
handled in one transaction; if any handler fails, the batch is rolled back and
its records are retried one by one so that one bad record cannot block others.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from actors.base import dialect_name
from actors.models import RemoteActor
from actors.remote import RemoteDirectory
from inbox.handlers import (
    HANDLERS,
    NEEDS_ACTOR,
    PREFETCHERS,
    HandlerContext,
    Incoming,
    prefetch_actor,
)
from inbox.models import InboxActivity
from inbox.news_handlers import ObjectFetcher

log = logging.getLogger("verbund.inbox")


@dataclass(frozen=True, slots=True)
class _Pending:
    id: int
    uri: str
    type: str
    actor_uri: str
    body: str


@dataclass(frozen=True, slots=True)
class _Prefetched:
    """What `_prefetch` got from the network for one batch."""

    actors: Mapping[str, RemoteActor | None]
    objects: Mapping[int, dict[str, dict[str, object]]]  # inbox record id → {object id: doc}


class InboxProcessor:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        directory: RemoteDirectory,
        *,
        base_url: str,
        clock: Callable[[], datetime],
        on_outbox: Callable[[], None] = lambda: None,
        batch_size: int = 200,
        fetch_object: ObjectFetcher | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._directory = directory
        self._base_url = base_url
        self._clock = clock
        self._on_outbox = on_outbox
        self._batch_size = batch_size
        # Signed GET for remote objects (boosted posts we lack); None: such boosts are skipped.
        self.fetch_object = fetch_object
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
        async with self._sessionmaker() as session:
            rows = await session.execute(
                select(
                    InboxActivity.id,
                    InboxActivity.uri,
                    InboxActivity.type,
                    InboxActivity.actor_uri,
                    InboxActivity.body,
                )
                .where(InboxActivity.processed_at.is_(None))
                .order_by(InboxActivity.id)
                .limit(self._batch_size)
            )
            return [_Pending(*row) for row in rows]

    def _context(self) -> HandlerContext:
        return HandlerContext(self._directory, self._base_url, self._clock(), self.fetch_object)

    async def _prefetch(self, batch: Sequence[_Pending]) -> _Prefetched:
        """Network fetches happen before the transaction opens: no lock held across them."""
        actors: dict[str, RemoteActor | None] = {}
        objects: dict[int, dict[str, dict[str, object]]] = {}
        ctx = self._context()
        for item in batch:
            if item.type in NEEDS_ACTOR and item.actor_uri not in actors:
                actors[item.actor_uri] = await prefetch_actor(
                    self._directory, item.type, item.actor_uri
                )
            prefetcher = PREFETCHERS.get(item.type)
            if prefetcher is not None:
                doc = json.loads(item.body)
                if isinstance(doc, dict):
                    fetched = await prefetcher(ctx, self._sessionmaker, item.actor_uri, doc)
                    if fetched:
                        objects[item.id] = fetched
        return _Prefetched(actors, objects)

    async def _handle(
        self,
        session: AsyncSession,
        items: Sequence[_Pending],
        prefetched: _Prefetched,
        now: datetime,
    ) -> int:
        """Run handlers for the records this session can claim; mark them processed."""
        query = select(InboxActivity.id).where(
            InboxActivity.id.in_([i.id for i in items]), InboxActivity.processed_at.is_(None)
        )
        if dialect_name(session) == "postgresql":
            query = query.with_for_update(skip_locked=True)
        claimed = set(await session.scalars(query))
        ctx = HandlerContext(self._directory, self._base_url, now, self.fetch_object)
        for item in items:
            handler = HANDLERS.get(item.type)
            if item.id in claimed and handler is not None:
                doc = json.loads(item.body)
                await handler(
                    ctx,
                    session,
                    Incoming(
                        item.uri,
                        item.type,
                        item.actor_uri,
                        doc,
                        prefetched.actors.get(item.actor_uri),
                        prefetched.objects.get(item.id, {}),
                    ),
                )
        if claimed:
            await session.execute(
                update(InboxActivity).where(InboxActivity.id.in_(claimed)).values(processed_at=now)
            )
        await session.commit()
        return len(claimed)

    async def _process_batch(self, batch: Sequence[_Pending]) -> int:
        prefetched = await self._prefetch(batch)
        now = self._clock()
        try:
            async with self._sessionmaker() as session:
                done = await self._handle(session, batch, prefetched, now)
        except Exception:  # worker-loop top: isolate the failing record below
            log.warning("inbox batch of %d failed; retrying one by one", len(batch), exc_info=True)
            done = 0
            for item in batch:
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
            log.exception("inbox activity %s (%s) failed", item.id, item.type)
            async with self._sessionmaker() as session:
                await session.execute(
                    update(InboxActivity)
                    .where(InboxActivity.id == item.id)
                    .values(processed_at=now, error=f"{type(exc).__name__}: {exc}"[:500])
                )
                await session.commit()
            return 1

    async def run_forever(self, stop: asyncio.Event, idle_seconds: float = 5.0) -> None:
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:  # worker-loop top: log and retry after the idle wait
                log.exception("inbox processing loop failed")
            self.wake.clear()
            waiter = asyncio.ensure_future(self.wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait(
                {waiter, stopper}, timeout=idle_seconds, return_when=asyncio.FIRST_COMPLETED
            )
            waiter.cancel()
            stopper.cancel()
