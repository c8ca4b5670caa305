"""Shared fixtures: complete Verbund instances on loopback, talking real HTTP.

Each instance gets its own database (a SQLite file under tmp_path, or its own
database on the PostgreSQL server named by TEST_DATABASE_URL). Host names such
as `alpha.test` resolve to the instance's loopback port through LoopbackResolver,
so URLs, Host headers and signatures look as they would in production.

Speed: the migrations run once per test process into a template that each
instance copies (a file copy on SQLite, `CREATE DATABASE ... TEMPLATE` on
PostgreSQL, where a used copy is emptied and reused rather than dropped), and
local actors' RSA keys come from a pool of pre-generated ones (a 2048-bit key
costs 50-500 ms; the suite makes hundreds).
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from actors import local as local_actors
from actors.local import create_actor, ensure_instance_actor
from actors.models import ActorType
from actors.visitors import VisitorPolicy
from server import db, keys
from server.app import create_app
from server.config import (
    Config,
    ContactsConfig,
    DatabaseConfig,
    DirectoryConfig,
    FederationConfig,
    InstanceConfig,
    LimitsConfig,
    MailConfig,
    MediaConfig,
    RegistrationsConfig,
    RelayConfig,
    ServerConfig,
)
from server.runtime import start_server
from server.services import Services, utc_clock

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
KEY_POOL = Path(__file__).parent / "vectors" / "rsa_key_pool.pem"


def _pooled_pems() -> Iterator[str]:
    """The pool's keys in turn: consecutive keys differ, as freshly generated ones would."""
    pems = [f"-----BEGIN{part}" for part in KEY_POOL.read_text().split("-----BEGIN")[1:]]
    return itertools.cycle(pems)


_PEMS = _pooled_pems()


def _pooled_private_key_pem() -> str:
    return next(_PEMS)


# Local actors (every instance makes several) take their keys from the pool: RSA key
# generation dominated instance start-up. Only `actors.local` is patched, at import so
# that module-level actors are covered too. A key a test makes itself (a peer's, a
# rotated or a forged one) still comes from OpenSSL, so it never equals a pooled key
# that the pool's cycle happens to hand out again.
local_actors.generate_rsa_private_key_pem = _pooled_private_key_pem  # type: ignore[attr-defined]  # patched on purpose: an imported name, not an export


class LoopbackResolver(AbstractResolver):
    """Resolves registered test host names to 127.0.0.1 and the instance's real port.

    Keys are host names without a port; the port a client asks for is ignored, so
    `beta.test:8443` reaches beta's loopback port while URLs and `Host` keep `:8443`.
    """

    def __init__(self) -> None:
        self.hosts: dict[str, int] = {}

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host not in self.hosts:
            raise OSError(f"test resolver: unknown host {host}")
        return [
            {
                "hostname": host,
                "host": "127.0.0.1",
                "port": self.hosts[host],
                "family": socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        return None


@dataclass
class Instance:
    name: str
    config: Config
    app: web.Application
    runner: web.AppRunner
    port: int

    @property
    def base_url(self) -> str:
        return self.config.instance.base_url

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        return self.app[keys.SESSIONMAKER]

    @property
    def services(self) -> Services:
        """The app's own services, for calling actions as the CLI would."""
        return self.app[keys.SERVICES]

    def actor_uri(self, name: str) -> str:
        return f"{self.base_url}/users/{name}"

    async def add_actor(
        self, name: str, type_: ActorType = ActorType.ORGANIZATION, **kw: Any
    ) -> None:
        async with self.sessionmaker() as session:
            await create_actor(session, username=name, type_=type_, **kw)
            await session.commit()


def database_config(tmp_path: Path, name: str) -> DatabaseConfig:
    """A fresh, empty database for one instance on the engine under test."""
    if TEST_DATABASE_URL:
        return DatabaseConfig(url=TEST_DATABASE_URL, schema=f"t_{name}_{uuid.uuid4().hex[:10]}")
    return DatabaseConfig(url=f"sqlite+aiosqlite:///{tmp_path / name}.db")


async def drop_database(config: DatabaseConfig) -> None:
    if config.schema:
        engine = db.create_engine(replace(config, schema=""))
        async with engine.begin() as conn:
            await conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{config.schema}" CASCADE')
        await engine.dispose()
        return
    name = make_url(config.url).database
    if TEST_DATABASE_URL and name != make_url(TEST_DATABASE_URL).database:
        # A copy of the template (see DatabaseTemplate).
        await _postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _postgres_admin(*statements: str) -> None:
    """Run statements that cannot run in a transaction (CREATE/DROP DATABASE)."""
    engine = db.create_engine(DatabaseConfig(url=TEST_DATABASE_URL))
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            for statement in statements:
                await conn.exec_driver_sql(statement)
    finally:
        await engine.dispose()


def _postgres_database(name: str) -> DatabaseConfig:
    url = make_url(TEST_DATABASE_URL).set(database=name)
    return DatabaseConfig(url=url.render_as_string(hide_password=False))


class DatabaseTemplate:
    """A database migrated to head once per test process, which instances copy.

    Running the migrations costs 0.3-2 s per database; a copy costs milliseconds.
    On PostgreSQL, `CREATE DATABASE ... TEMPLATE` and `DROP DATABASE` each cost
    60-500 ms (files and a checkpoint), so a copy a test is done with is emptied
    and kept for the next test of this process: a DELETE of every table (1-8 ms;
    TRUNCATE, which makes new files, took 300-400 ms), foreign keys not checked
    meanwhile, and every sequence restarted, so that it is as good as new. Per
    process (each xdist worker has its own), so no lock is needed.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ready = False
        self._free: list[DatabaseConfig] = []  # emptied PostgreSQL copies
        self._copies: set[str] = set()  # every PostgreSQL copy this process made
        self._emptying: list[str] = []

    @property
    def _sqlite_path(self) -> Path:
        return self.directory / "template.db"

    @property
    def _postgres_name(self) -> str:
        return f"verbund_template_{os.getpid()}"

    async def _build(self) -> None:
        if TEST_DATABASE_URL:
            name = self._postgres_name
            await _postgres_admin(
                f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'
            )
            config = _postgres_database(name)
        else:
            config = DatabaseConfig(url=f"sqlite+aiosqlite:///{self._sqlite_path}")
        engine = db.create_engine(config)
        await db.upgrade(engine, config)
        if TEST_DATABASE_URL:
            async with engine.connect() as conn:
                tables = await conn.exec_driver_sql(
                    "SELECT quote_ident(tablename) FROM pg_tables"
                    " WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
                )
                sequences = await conn.exec_driver_sql(
                    "SELECT quote_ident(sequencename) FROM pg_sequences WHERE schemaname = 'public'"
                )
                self._emptying = [
                    "SET LOCAL session_replication_role = replica",  # no FK triggers
                    *(f"DELETE FROM {row[0]}" for row in tables),
                    "SELECT 0" + "".join(f", setval('{row[0]}', 1, false)" for row in sequences),
                ]
        await engine.dispose()
        if not TEST_DATABASE_URL:
            # One self-contained file to copy: no -wal or -shm beside it.
            with sqlite3.connect(self._sqlite_path) as conn:
                conn.execute("PRAGMA journal_mode=DELETE")
        self.ready = True

    async def copy(self, tmp_path: Path, name: str) -> DatabaseConfig:
        """A fresh database at head for one instance."""
        if not self.ready:
            await self._build()
        if TEST_DATABASE_URL:
            if self._free:
                return self._free.pop()
            database = f"t_{name}_{uuid.uuid4().hex[:10]}"
            # No wait for the WAL flush at each commit: a test's data need not outlive a
            # crash of the server, and the waits were half of a PostgreSQL test's time.
            await _postgres_admin(
                f'CREATE DATABASE "{database}" TEMPLATE "{self._postgres_name}"',
                f'ALTER DATABASE "{database}" SET synchronous_commit = off',
            )
            self._copies.add(database)
            return _postgres_database(database)
        config = database_config(tmp_path, name)
        path = db.sqlite_file(config)
        assert path is not None
        shutil.copyfile(self._sqlite_path, path)
        return config

    async def release(self, config: DatabaseConfig) -> None:
        """A test is done with `config`: empty a PostgreSQL copy for reuse, else drop it."""
        if make_url(config.url).database not in self._copies or not await self._empty(config):
            await drop_database(config)

    async def _empty(self, config: DatabaseConfig) -> bool:
        """Empty every table; False if that fails (a connection a test left open
        holds a lock, say), and the copy is dropped instead."""
        engine = db.create_engine(config)
        try:
            async with engine.begin() as conn:
                await conn.exec_driver_sql("SET LOCAL lock_timeout = '2s'")
                for statement in self._emptying:
                    await conn.exec_driver_sql(statement)
        except Exception:  # any failure: the copy is dropped, not reused
            return False
        finally:
            await engine.dispose()
        self._free.append(config)
        return True

    async def drop(self) -> None:
        if TEST_DATABASE_URL and self.ready:
            names = [*self._copies, self._postgres_name]
            await _postgres_admin(*(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)' for n in names))


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseTemplate]:
    template = DatabaseTemplate(tmp_path_factory.mktemp("template"))
    yield template
    if template.ready and TEST_DATABASE_URL:
        import asyncio

        asyncio.run(template.drop())


@pytest.fixture
def resolver() -> LoopbackResolver:
    return LoopbackResolver()


@pytest.fixture
async def make_database(tmp_path: Path) -> AsyncIterator[Callable[[str], DatabaseConfig]]:
    made: list[DatabaseConfig] = []

    def make(name: str) -> DatabaseConfig:
        cfg = database_config(tmp_path, name)
        made.append(cfg)
        return cfg

    yield make
    for cfg in made:
        await drop_database(cfg)


MigratedDatabase = Callable[[str], Awaitable[DatabaseConfig]]


@pytest.fixture
async def migrated_database(
    tmp_path: Path, database_template: DatabaseTemplate
) -> AsyncIterator[MigratedDatabase]:
    """Factory: `await migrated_database("alpha")` is a fresh database at head."""
    made: list[DatabaseConfig] = []

    async def make(name: str) -> DatabaseConfig:
        cfg = await database_template.copy(tmp_path, name)
        made.append(cfg)
        return cfg

    yield make
    for cfg in made:
        await database_template.release(cfg)


StartInstance = Callable[..., Awaitable[Instance]]


@pytest.fixture
async def start_instance(
    resolver: LoopbackResolver, migrated_database: MigratedDatabase, tmp_path: Path
) -> AsyncIterator[StartInstance]:
    """Factory: `await start_instance("alpha")` serves http://alpha.test on a loopback port;
    `start_instance("beta", domain="beta.test:8443")` an instance whose domain (so its actor
    ids and handles, `news@beta.test:8443`) carries a port, as development instances do."""
    runners: list[web.AppRunner] = []

    async def start(
        name: str,
        *,
        domain: str | None = None,
        server: Mapping[str, Any] | None = None,
        limits: Mapping[str, Any] | None = None,
        directory: Mapping[str, Any] | None = None,
        contacts: Mapping[str, Any] | None = None,
        relay: Mapping[str, Any] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        processor: bool = False,
        mail: MailConfig | None = None,
        visitors: Mapping[str, Any] | None = None,
        clock: Callable[[], datetime] = utc_clock,
        registrations: str = "invite",
        **federation: Any,
    ) -> Instance:
        """`server` overrides ServerConfig fields (timeouts, a fixed port), `limits`
        LimitsConfig's, with `monotonic` as the limiters' clock, `directory`
        DirectoryConfig's (`peers` a tuple), `contacts` ContactsConfig's, `relay`
        RelayConfig's; the rest are
        FederationConfig's. Like the delivery worker, the inbox processor runs only when a
        test steps it (`settle`, `run_once`); `processor=True` runs it in the background.
        `mail` is the `[mail]` section (none by default), `visitors` overrides
        VisitorPolicy's fields, `clock` the instance's wall clock, `registrations` the
        sign-up mode (`[registrations] mode`)."""
        database = await migrated_database(name)
        config = Config(
            instance=InstanceConfig(
                domain=domain or f"{name}.test", scheme="http", name=name.title()
            ),
            server=ServerConfig(
                **{"host": "127.0.0.1", "port": 0, "run_worker": False, **(server or {})}
            ),
            database=database,
            federation=FederationConfig(**{"allow_private_addresses": True, **federation}),
            limits=LimitsConfig(**(limits or {})),
            directory=DirectoryConfig(**(directory or {})),
            mail=mail,
            visitors=VisitorPolicy(**(visitors or {})),
            contacts=ContactsConfig(**(contacts or {})),
            relay=RelayConfig(**(relay or {})),
            registrations=RegistrationsConfig(mode=registrations),
            # Uploads in the test's own folder, on PostgreSQL too.
            media=MediaConfig(path=str(tmp_path / f"{name}-media")),
        )
        engine = db.create_engine(database)
        async with db.create_sessionmaker(engine)() as session:
            await ensure_instance_actor(session)
            await session.commit()
        await engine.dispose()
        app = create_app(
            config, resolver=resolver, monotonic=monotonic, run_processor=processor, clock=clock
        )
        runner = await start_server(app, config.server)
        runners.append(runner)
        port = runner.addresses[-1][1]
        # The resolver sends every port of the name to the instance's real one.
        resolver.hosts[config.instance.hostname] = port
        return Instance(name=name, config=config, app=app, runner=runner, port=port)

    yield start
    for runner in reversed(runners):
        await runner.cleanup()


@pytest.fixture
async def client(resolver: LoopbackResolver) -> AsyncIterator[aiohttp.ClientSession]:
    """A plain HTTP client whose DNS knows the test instances (no SSRF filter: it is us)."""
    connector = aiohttp.TCPConnector(resolver=resolver, force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


# Fixtures through which a test reaches a database; `start_instance` and
# `migrated_database` depend on `database_template`.
_DATABASE_FIXTURES = frozenset({"database_template", "make_database"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The PostgreSQL pass (`TEST_DATABASE_URL` set) runs only the tests that reach a
    database; the rest (parsers, signatures, property tests, the README's first hour on
    its own SQLite instance) do the same on either pass, and ran in the SQLite one."""
    if not TEST_DATABASE_URL:
        return
    keep: list[pytest.Item] = []
    engine_free: list[pytest.Item] = []
    for item in items:
        uses = _DATABASE_FIXTURES & set(getattr(item, "fixturenames", ()))
        (keep if uses else engine_free).append(item)
    if engine_free:
        config.hook.pytest_deselected(items=engine_free)
        items[:] = keep
