"""Writing batches of received activities: what the inbox's group commit calls.

Two writers with one contract (`InboxWriter`): insert the batch in one
transaction, skip ids already stored, return only once committed.

- `SessionInboxWriter` goes through SQLAlchemy; used on PostgreSQL, where
  asyncpg is natively asynchronous.
- `SqliteInboxWriter` owns a plain `sqlite3` connection and writes a batch
  on the event loop itself when the write lock is free. Through aiosqlite a
  batch took several thread hops (cursor, executemany, commit), each of
  which must win the GIL back from the busy loop (up to the 5 ms switch
  interval): the inbox spent its time waiting for its own commits, and the
  thread switching cost the loop a quarter of its CPU per request.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import Insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from actors.base import dialect_name
from federation.records import record
from inbox.models import InboxActivity

__all__ = ["InboxRow", "InboxWriter", "SessionInboxWriter", "SqliteInboxWriter"]


@record
class InboxRow:
    """One verified activity as it is stored (`received_at` is aware UTC)."""

    uri: str
    actor_uri: str
    type: str
    recipient_uri: str | None
    body: str
    received_at: datetime


class InboxWriter(Protocol):
    async def write(self, rows: Sequence[InboxRow]) -> None:
        """Insert `rows` in one transaction (duplicate uris skipped); raise if not committed."""

    async def close(self) -> None: ...


class SessionInboxWriter:
    """Batch insert through SQLAlchemy: one compiled statement, executed as executemany."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def write(self, rows: Sequence[InboxRow]) -> None:
        params = [
            {
                "uri": row.uri,
                "actor_uri": row.actor_uri,
                "type": row.type,
                "recipient_uri": row.recipient_uri,
                "body": row.body,
                "received_at": row.received_at,
                "processed_at": None,
                "error": "",
            }
            for row in rows
        ]
        async with self._sessionmaker() as session:
            await session.execute(_insert_statement(dialect_name(session)), params)
            await session.commit()

    async def close(self) -> None:
        return None


@functools.cache
def _insert_statement(dialect: str) -> Insert:
    table = InboxActivity.__table__
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table).on_conflict_do_nothing(index_elements=["uri"])  # type: ignore[arg-type]  # a Table


_SQLITE_INSERT = (
    "INSERT INTO inbox_activities"
    " (uri, actor_uri, type, recipient_uri, body, received_at, processed_at, error)"
    " VALUES (?, ?, ?, ?, ?, ?, NULL, '') ON CONFLICT (uri) DO NOTHING"
)


def sqlite_timestamp(value: datetime) -> str:
    """`value` as SQLAlchemy's SQLite DATETIME stores it (naive UTC, microseconds).

    Every inbox row has one: %-formatting its fields costs half of `isoformat`, which
    takes its arguments by keyword parsing and formats through `PyUnicode_FromFormat`."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (  # noqa: UP031  # cheaper than isoformat
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
    )


class SqliteInboxWriter:
    """Batch insert on a dedicated `sqlite3` connection, on the event loop when it can.

    A batch of a few dozen rows costs well under a millisecond in WAL mode
    (no fsync at commit with synchronous=NORMAL), less than handing it to a
    thread: each hop must win the GIL back from the busy loop, and every
    context switch slows the loop as well. So the batch is written right
    here, unless another connection holds the write lock: then it tries again
    every few milliseconds, never blocking the loop.

    Checkpoints (copying the WAL into the database file, with an fsync) are
    the one slow part of writing; this connection never runs them itself.
    After every `checkpoint_bytes` written, a PASSIVE checkpoint runs on a
    second connection in the writer's thread while writes go on.

    `connect` opens a connection with the pragmas the rest of the server
    uses, in autocommit mode (`isolation_level=None`) and usable from any
    thread: transactions are spelled out here, and one batch at a time uses
    it (the group commit's loop); checkpoints run on their own connection.
    """

    def __init__(
        self, connect: Callable[[], sqlite3.Connection], *, checkpoint_bytes: int = 4 << 20
    ) -> None:
        self._connect = connect
        self._conn: sqlite3.Connection | None = None
        self._checkpoint_conn: sqlite3.Connection | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="inbox-sqlite")
        self._checkpoint_bytes = checkpoint_bytes
        self._unflushed = 0
        self._checkpointing: asyncio.Future[None] | None = None
        self.fallbacks = 0  # batches that had to wait for another connection's lock

    async def write(self, rows: Sequence[InboxRow]) -> None:
        params = [
            (
                row.uri,
                row.actor_uri,
                row.type,
                row.recipient_uri,  # None binds cheaply: see `server.db`
                row.body,
                sqlite_timestamp(row.received_at),
            )
            for row in rows
        ]
        loop = asyncio.get_running_loop()
        if self._conn is None:
            self._conn = self._connect()
            self._conn.execute("PRAGMA wal_autocheckpoint=0")
            self._conn.execute("PRAGMA busy_timeout=0")  # on the loop: never wait for a lock
        if not self._try_write_now(self._conn, params):
            self.fallbacks += 1
            await self._write_when_free(self._conn, params)
        self._unflushed += sum(len(row.body) for row in rows)
        if self._unflushed >= self._checkpoint_bytes and (
            self._checkpointing is None or self._checkpointing.done()
        ):
            self._unflushed = 0
            self._checkpointing = loop.run_in_executor(self._thread, self._checkpoint)

    @staticmethod
    def _try_write_now(conn: sqlite3.Connection, params: list[_SqliteParams]) -> bool:
        """Write and commit if the write lock is free this instant; False if it is not."""
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                return False
            raise
        _insert_and_commit(conn, params)
        return True

    async def _write_when_free(self, conn: sqlite3.Connection, params: list[_SqliteParams]) -> None:
        """Try again every 0.5-2 ms, on the loop, until the lock is free (at most the busy
        timeout). SQLite's own busy handler, waiting in a thread, sleeps 1, 2, 5 … 100 ms
        between its tries and so overslept the lock's release by up to 100 ms: every
        request of the batch waited that long. A failed try costs microseconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _BUSY_TIMEOUT_MS / 1000
        pause = 0.0005
        while not self._try_write_now(conn, params):
            if loop.time() > deadline:
                raise sqlite3.OperationalError("database is locked")
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.002)

    def _checkpoint(self) -> None:
        if self._checkpoint_conn is None:
            self._checkpoint_conn = self._connect()
        self._checkpoint_conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._close)
        self._thread.shutdown(wait=True)

    def _close(self) -> None:
        for conn in (self._conn, self._checkpoint_conn):
            if conn is not None:
                conn.close()
        self._conn = self._checkpoint_conn = None


_SqliteParams = tuple[str, str, str, str | None, str, str]
_BUSY_TIMEOUT_MS = 30_000


def _insert_and_commit(conn: sqlite3.Connection, params: list[_SqliteParams]) -> None:
    """Inside a transaction this connection has begun: insert, commit, or roll back."""
    try:
        conn.executemany(_SQLITE_INSERT, params)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
