"""Processing stored inbox records: claim, dispatch to a handler, mark processed.

Runs in `verbund serve` as a background task woken after each group commit,
and catches up on start-up with whatever a crash left unprocessed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from actors.base import dialect_name
from actors.remote import RemoteDirectory
from inbox.handlers import HANDLERS, HandlerContext, Incoming, prefetch_actor
from inbox.models import InboxActivity

log = logging.getLogger("verbund.inbox")


class InboxProcessor:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        directory: RemoteDirectory,
        *,
        base_url: str,
        clock: Callable[[], datetime],
        on_outbox: Callable[[], None] = lambda: None,
        batch_size: int = 100,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._directory = directory
        self._base_url = base_url
        self._clock = clock
        self._on_outbox = on_outbox
        self._batch_size = batch_size
        self.wake = asyncio.Event()
        # One pass at a time per process: the background loop and a test's run_once()
        # must not handle the same record concurrently.
        self._lock = asyncio.Lock()

    async def run_once(self) -> int:
        """Process every unprocessed record (in arrival order); return how many."""
        async with self._lock:
            return await self._run_all()

    async def _run_all(self) -> int:
        total = 0
        while True:
            async with self._sessionmaker() as session:
                ids = list(
                    await session.scalars(
                        select(InboxActivity.id)
                        .where(InboxActivity.processed_at.is_(None))
                        .order_by(InboxActivity.id)
                        .limit(self._batch_size)
                    )
                )
            if not ids:
                return total
            for record_id in ids:
                total += await self._process(record_id)

    async def _process(self, record_id: int) -> int:
        async with self._sessionmaker() as session:
            row = await session.get(InboxActivity, record_id)
            if row is None or row.processed_at is not None:
                return 0
            act_type, actor_uri, body = row.type, row.actor_uri, row.body
        actor = await prefetch_actor(self._directory, act_type, actor_uri)
        async with self._sessionmaker() as session:
            query = select(InboxActivity).where(
                InboxActivity.id == record_id, InboxActivity.processed_at.is_(None)
            )
            if dialect_name(session) == "postgresql":
                query = query.with_for_update(skip_locked=True)
            row = await session.scalar(query)
            if row is None:
                return 0  # another process has it
            handler = HANDLERS.get(act_type)
            now = self._clock()
            try:
                if handler is not None:
                    doc = json.loads(body)
                    await handler(
                        HandlerContext(self._directory, self._base_url, now),
                        session,
                        Incoming(row.uri, act_type, actor_uri, doc, actor),
                    )
                row.processed_at = now
                await session.commit()
            except Exception as exc:  # worker-loop top: record on the row, keep going
                await session.rollback()
                log.exception("inbox activity %s (%s) failed", record_id, act_type)
                async with self._sessionmaker() as failed:
                    stored = await failed.get(InboxActivity, record_id)
                    if stored is not None:
                        stored.processed_at = now
                        stored.error = f"{type(exc).__name__}: {exc}"[:500]
                        await failed.commit()
                return 1
        self._on_outbox()
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
