"""Engine, sessions and migrations for SQLite (WAL) and PostgreSQL.

Schema changes go through Alembic; nothing here calls `create_all`.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, event, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from server.config import DatabaseConfig

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS = Path(__file__).parent / "migrations"


class DatabaseError(Exception):
    """The database is unreachable or not at the expected schema."""


# For every None it binds, sqlite3 looks for an adapter and fails twice (two exceptions
# raised and cleared) before it binds NULL; a received post binds a dozen. With one
# registered the lookup succeeds at once, and `{}.get` returns None for None in C.
_NONE: dict[None, None] = {}
sqlite3.register_adapter(type(None), _NONE.get)

_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=30000",
)


def sqlite_file(db: DatabaseConfig) -> str | None:
    """The database file of a SQLite URL; None for PostgreSQL or an in-memory database."""
    url = make_url(db.url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return url.database


def connect_sqlite(path: str) -> sqlite3.Connection:
    """A plain `sqlite3` connection with the engine's pragmas, in autocommit mode.

    For code that must write without aiosqlite's per-call thread hops (the
    inbox's group commit). The caller opens transactions itself.
    """
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    for pragma in _SQLITE_PRAGMAS:
        conn.execute(pragma)
    return conn


def dump_json(value: object) -> str:
    """A JSON column's text: orjson's (a received post writes three such columns, and
    `json.dumps` was a tenth of storing it), `json.dumps`'s for what orjson refuses (an
    integer beyond 64 bits)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value)


def load_json(text: str | bytes) -> Any:
    """A JSON column's value; `json.loads` for what orjson refuses (text written before,
    by `json.dumps`: NaN, lone surrogates)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def create_engine(db: DatabaseConfig) -> AsyncEngine:
    """An engine tuned per backend: WAL + busy timeout on SQLite, search_path on PostgreSQL;
    JSON columns through orjson on both (`dump_json`)."""
    url = make_url(db.url)
    kwargs: dict[str, Any] = {"json_serializer": dump_json, "json_deserializer": load_json}
    if url.get_backend_name() == "sqlite":
        path = sqlite_file(db)
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 30}
        engine = create_async_engine(url, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            for pragma in _SQLITE_PRAGMAS:
                cur.execute(pragma)
            cur.close()

        return engine
    connect_args: dict[str, Any] = {"timeout": 10}
    if db.schema:
        connect_args["server_settings"] = {"search_path": db.schema}
    return create_async_engine(
        url,
        pool_size=db.pool_size,
        max_overflow=db.pool_size,
        connect_args=connect_args,
        **kwargs,
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


# Alembic is imported where it is used: most commands never migrate, and the
# import costs a noticeable part of every CLI start.


def _alembic_config() -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def _upgrade(conn: Connection, revision: str) -> None:
    from alembic import command

    cfg = _alembic_config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, revision)


def _current(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


async def upgrade(engine: AsyncEngine, db: DatabaseConfig, revision: str = "head") -> None:
    """Apply migrations up to `revision`; raise DatabaseError if the database is unreachable."""
    try:
        async with engine.begin() as conn:
            if db.schema:
                await conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{db.schema}"')
            await conn.run_sync(_upgrade, revision)
    except (OSError, OperationalError, DBAPIError) as exc:
        raise DatabaseError(describe_db_error(db, exc)) from None


async def current_revision(engine: AsyncEngine, db: DatabaseConfig) -> str | None:
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_current)
    except (OSError, OperationalError, DBAPIError) as exc:
        raise DatabaseError(describe_db_error(db, exc)) from None


async def check_schema(engine: AsyncEngine, db: DatabaseConfig) -> None:
    """Refuse to serve a database that lacks migrations: tell the operator what to run."""
    current = await current_revision(engine, db)
    if current != head_revision():
        url = display_url(db)
        at = current or "nothing (an empty or new database)"
        raise DatabaseError(
            f"database {url}: schema is at {at}, expected {head_revision()}: "
            "run `verbund db upgrade` (or check database.url)"
        )


def display_url(db: DatabaseConfig) -> str:
    """The database URL without its password, for messages."""
    return make_url(db.url).render_as_string(hide_password=True)


def describe_db_error(db: DatabaseConfig, exc: BaseException) -> str:
    """A one-line reason that names the database without its password."""
    url = make_url(db.url).render_as_string(hide_password=True)
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    return f"database {url} is unreachable: {reason}"


def _downgrade(conn: Connection, revision: str) -> None:
    from alembic import command

    cfg = _alembic_config()
    cfg.attributes["connection"] = conn
    command.downgrade(cfg, revision)


async def downgrade(engine: AsyncEngine, db: DatabaseConfig, revision: str) -> None:
    """Revert migrations down to `revision` ("base" empties the schema)."""
    async with engine.begin() as conn:
        await conn.run_sync(_downgrade, revision)
