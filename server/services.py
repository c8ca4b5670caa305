"""The long-lived pieces one process needs, built once from a Config.

`verbund serve` wraps them in the aiohttp app; CLI commands that talk to other
servers (follow, unfollow) open the same services for the length of a command.
Here, and only here, the config becomes the two value objects the rest of the code is
handed: `LocalUris` (every local URL) and `FederationPolicy` (which servers we talk to).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import ClientSession, ClientTimeout
from aiohttp.abc import AbstractResolver
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from actors.documents import ActorDocuments
from actors.local import ensure_instance_actor
from actors.remote import RemoteDirectory
from actors.uris import LocalUris
from federation.fetch import Signer, make_connector
from federation.policy import FederationPolicy
from inbox.context import object_fetcher
from inbox.process import InboxProcessor
from outbox.context import PublishContext
from server import db
from server.config import Config
from server.instance_settings import keep_policy_fresh, refresh_policy

USER_AGENT = "Verbund/0.1 (+https://github.com/verbund/verbund)"


def utc_clock() -> datetime:
    return datetime.now(UTC)


def local_uris(config: Config) -> LocalUris:
    """This instance's URL layout; commands that open no services use it as they do."""
    return LocalUris(config.instance.base_url)


def federation_policy(config: Config) -> FederationPolicy:
    return FederationPolicy.blocking(config.federation.blocked_domains)


@dataclass
class Services:
    config: Config
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    http: ClientSession
    directory: RemoteDirectory
    clock: Callable[[], datetime]
    documents: ActorDocuments
    instance_signer: Callable[[], Awaitable[Signer]]
    uris: LocalUris
    policy: FederationPolicy

    @property
    def webfinger_scheme(self) -> str:
        """`acct:` implies https; a development instance on http looks up peers over http."""
        return self.config.instance.scheme

    def publish_context(self, wake: Callable[[], None] | None = None) -> PublishContext:
        """What every publishing command needs, the same for the API and the CLI. `wake`
        tells this process's delivery worker about new jobs (the CLI has none to tell)."""
        return PublishContext(
            uris=self.uris,
            clock=self.clock,
            policy=self.policy,
            directory=self.directory,
            webfinger_scheme=self.webfinger_scheme,
            wake=wake if wake is not None else (lambda: None),
        )

    def inbox_processor(self, on_outbox: Callable[[], None] = lambda: None) -> InboxProcessor:
        """The processor of stored inbox activities, the same in `serve` and `worker`.
        `on_outbox` tells this process's delivery worker about the replies it queued."""
        return InboxProcessor(
            self.sessionmaker,
            self.directory,
            uris=self.uris,
            clock=self.clock,
            on_outbox=on_outbox,
            alias_delay_seconds=self.config.contacts.alias_delay_seconds,
            fetch_object=object_fetcher(
                lambda: self.http,
                self.instance_signer,
                allow_private=self.config.federation.allow_private_addresses,
                policy=self.policy,
            ),
            relay_subscribers=(
                frozenset(self.config.relay.subscribers) if self.config.relay.serve else None
            ),
        )


def instance_signer_of(
    uris: LocalUris,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Callable[[], datetime],
) -> Callable[[], Awaitable[Signer]]:
    """Signs as the instance actor, its key read (or the actor made) at first use."""
    signer: Signer | None = None

    async def get() -> Signer:
        nonlocal signer
        if signer is None:
            async with sessionmaker() as session:
                actor = await ensure_instance_actor(session)
                await session.commit()
            signer = Signer(
                key_id=uris.instance_key_id, private_key_pem=actor.private_key_pem, clock=clock
            )
        return signer

    return get


@asynccontextmanager
async def open_services(
    config: Config,
    *,
    resolver: AbstractResolver | None = None,
    clock: Callable[[], datetime] = utc_clock,
) -> AsyncIterator[Services]:
    """Engine (schema checked), HTTP client with SSRF guard, and the remote directory."""
    uris = local_uris(config)
    policy = federation_policy(config)
    engine = db.create_engine(config.database)
    try:
        await db.check_schema(engine, config.database)
        sessionmaker = db.create_sessionmaker(engine)
        # The domain rules of the admin pages on top of the config's, kept fresh while
        # the services are open (another process may change them).
        await refresh_policy(sessionmaker, policy, config)
        stop_refresh = asyncio.Event()
        refresher = asyncio.create_task(
            keep_policy_fresh(sessionmaker, policy, config, stop_refresh), name="policy-refresh"
        )
        try:
            connector = make_connector(
                allow_private=config.federation.allow_private_addresses, inner=resolver
            )
            async with ClientSession(
                connector=connector,
                timeout=ClientTimeout(total=30, connect=5, sock_read=10),
                headers={"User-Agent": USER_AGENT},
            ) as http:
                instance_signer = instance_signer_of(uris, sessionmaker, clock)

                directory = RemoteDirectory(
                    sessionmaker,
                    lambda: http,
                    uris=uris,
                    policy=policy,
                    signer=instance_signer,
                    allow_private=config.federation.allow_private_addresses,
                    key_ttl=config.federation.key_cache_seconds,
                    key_failure_ttl=config.federation.key_failure_cache_seconds,
                    clock=clock,
                )
                documents = ActorDocuments(
                    sessionmaker, base_url=config.instance.base_url, acct_host=config.instance.host
                )
                yield Services(
                    config,
                    engine,
                    sessionmaker,
                    http,
                    directory,
                    clock,
                    documents,
                    instance_signer,
                    uris=uris,
                    policy=policy,
                )
        finally:
            stop_refresh.set()
            await refresher
    finally:
        await engine.dispose()
