"""Shared fixtures: complete Verbund instances on loopback, talking real HTTP.

Each instance gets its own database (a SQLite file under tmp_path, or its own
schema in the PostgreSQL database named by TEST_DATABASE_URL). Host names such
as `alpha.test` resolve to the instance's loopback port through LoopbackResolver,
so URLs, Host headers and signatures look as they would in production.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from actors.local import create_actor, ensure_instance_actor
from actors.models import ActorType
from server import db, keys
from server.app import create_app
from server.config import (
    Config,
    DatabaseConfig,
    FederationConfig,
    InstanceConfig,
    LimitsConfig,
    ServerConfig,
)
from server.runtime import start_server
from server.services import Services

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")


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


StartInstance = Callable[..., Awaitable[Instance]]


@pytest.fixture
async def start_instance(
    resolver: LoopbackResolver, make_database: Callable[[str], DatabaseConfig]
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
        monotonic: Callable[[], float] = time.monotonic,
        **federation: Any,
    ) -> Instance:
        """`server` overrides ServerConfig fields (timeouts, a fixed port), `limits`
        LimitsConfig's, with `monotonic` as the limiters' clock; the rest are
        FederationConfig's."""
        database = make_database(name)
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
        )
        engine = db.create_engine(database)
        await db.upgrade(engine, database)
        async with db.create_sessionmaker(engine)() as session:
            await ensure_instance_actor(session)
            await session.commit()
        await engine.dispose()
        app = create_app(config, resolver=resolver, monotonic=monotonic)
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
