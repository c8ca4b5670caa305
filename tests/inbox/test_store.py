"""The inbox's batch writers: what they store, and how the SQLite one handles a held lock."""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from inbox.models import InboxActivity
from inbox.store import InboxRow, SqliteInboxWriter
from server import db
from server.app import inbox_writer
from server.config import DatabaseConfig

WHEN = datetime(2026, 11, 23, 12, 0, 0, 123456, tzinfo=UTC)


def row(n: int, when: datetime = WHEN) -> InboxRow:
    return InboxRow(
        uri=f"https://social.example/activities/{n}",
        actor_uri="https://social.example/users/bob",
        type="Create",
        recipient_uri=None if n % 2 else "https://alpha.test/users/news",
        body=f'{{"n": {n}, "text": "Grüße"}}',
        received_at=when,
    )


async def migrated(config: DatabaseConfig) -> AsyncEngine:
    engine = db.create_engine(config)
    await db.upgrade(engine, config)
    return engine


@pytest.fixture
async def database(
    make_database: Callable[[str], DatabaseConfig],
) -> AsyncIterator[tuple[DatabaseConfig, async_sessionmaker[AsyncSession]]]:
    config = make_database("store")
    engine = await migrated(config)
    yield config, db.create_sessionmaker(engine)
    await engine.dispose()


async def test_writer_stores_rows_as_the_models_read_them_and_skips_duplicates(
    database: tuple[DatabaseConfig, async_sessionmaker[AsyncSession]],
) -> None:
    config, sessionmaker = database
    writer = inbox_writer(config, sessionmaker)
    try:
        await writer.write([row(1), row(2)])
        later = WHEN + timedelta(seconds=5)
        await writer.write([row(2, later), row(3, later)])  # 2 again: skipped, not updated
    finally:
        await writer.close()
    async with sessionmaker() as session:
        stored = list(await session.scalars(select(InboxActivity).order_by(InboxActivity.id)))
    assert [a.uri for a in stored] == [row(n).uri for n in (1, 2, 3)]
    first, second, third = stored
    assert first.received_at == WHEN and first.received_at.tzinfo is not None
    assert second.received_at == WHEN
    assert third.received_at == WHEN + timedelta(seconds=5)
    assert (first.recipient_uri, second.recipient_uri) == (None, "https://alpha.test/users/news")
    assert first.body == row(1).body and first.type == "Create"
    assert all(a.processed_at is None and a.error == "" for a in stored)


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[tuple[str, async_sessionmaker[AsyncSession]]]:
    """A SQLite database whatever engine the suite runs on: the writer is SQLite's own."""
    config = DatabaseConfig(url=f"sqlite+aiosqlite:///{tmp_path / 'inbox.db'}")
    engine = await migrated(config)
    path = db.sqlite_file(config)
    assert path is not None
    yield path, db.create_sessionmaker(engine)
    await engine.dispose()


async def count(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as session:
        return len(list(await session.scalars(select(InboxActivity.id))))


async def test_sqlite_writer_waits_for_a_held_lock_without_blocking_the_loop(
    sqlite_db: tuple[str, async_sessionmaker[AsyncSession]],
) -> None:
    path, sessionmaker = sqlite_db
    writer = SqliteInboxWriter(functools.partial(db.connect_sqlite, path))
    other = sqlite3.connect(path, isolation_level=None)
    try:
        await writer.write([row(1)])  # the lock is free: written on the loop
        assert writer.fallbacks == 0
        other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        pending = asyncio.create_task(writer.write([row(2)]))
        ticks = 0
        for _ in range(5):  # the loop keeps running while the batch waits
            await asyncio.sleep(0.02)
            ticks += 1
        assert ticks == 5 and not pending.done()
        other.execute("COMMIT")
        await asyncio.wait_for(pending, 10)
        assert writer.fallbacks == 1
        await writer.write([row(3)])  # and the next batch is written on the loop again
        assert writer.fallbacks == 1
    finally:
        other.close()
        await writer.close()
    assert await count(sessionmaker) == 3


async def test_sqlite_writer_checkpoints_off_the_loop_and_keeps_every_row(
    sqlite_db: tuple[str, async_sessionmaker[AsyncSession]],
) -> None:
    path, sessionmaker = sqlite_db
    writer = SqliteInboxWriter(functools.partial(db.connect_sqlite, path), checkpoint_bytes=64)
    try:
        for batch in range(10):
            await writer.write([row(batch * 10 + i) for i in range(10)])
        checkpoint = writer._checkpointing
        assert checkpoint is not None
        await checkpoint
    finally:
        await writer.close()
    assert await count(sessionmaker) == 100
    with sqlite3.connect(path) as conn:  # the WAL has been copied into the database file
        busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert busy == 0 and frames == copied


async def test_sqlite_writer_rolls_back_a_failed_batch(
    sqlite_db: tuple[str, async_sessionmaker[AsyncSession]],
) -> None:
    path, sessionmaker = sqlite_db
    writer = SqliteInboxWriter(functools.partial(db.connect_sqlite, path))
    bad = InboxRow("https://social.example/a/9", "x", "Create", None, None, WHEN)  # type: ignore[arg-type]  # body NOT NULL
    try:
        with pytest.raises(sqlite3.IntegrityError):
            await writer.write([row(1), bad])
        await writer.write([row(2)])  # the connection is usable again
    finally:
        await writer.close()
    async with sessionmaker() as session:
        uris = list(await session.scalars(select(InboxActivity.uri)))
    assert uris == [row(2).uri]
