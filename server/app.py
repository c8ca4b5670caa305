"""The composition root: builds the aiohttp application from a Config."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import jinja2
from aiohttp import ClientSession, ClientTimeout, web
from aiohttp.abc import AbstractResolver

from actors.documents import ActorDocuments
from server import db, keys
from server.config import Config
from server.discovery import add_discovery_routes
from server.pages import TEMPLATES, add_page_routes

log = logging.getLogger("verbund.server")
USER_AGENT = "Verbund/0.1 (+https://github.com/verbund/verbund)"


def create_app(config: Config, *, resolver: AbstractResolver | None = None) -> web.Application:
    """An application for `config`. `resolver` lets tests map test host names to loopback."""
    app = web.Application(client_max_size=config.federation.max_inbox_bytes)
    app[keys.CONFIG] = config
    app[TEMPLATES] = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        enable_async=False,
    )

    async def database(app: web.Application) -> AsyncIterator[None]:
        engine = db.create_engine(config.database)
        try:
            await db.check_schema(engine, config.database)
        except db.DatabaseError:
            await engine.dispose()
            raise
        sessionmaker = db.create_sessionmaker(engine)
        app[keys.ENGINE] = engine
        app[keys.SESSIONMAKER] = sessionmaker
        app[keys.DOCUMENTS] = ActorDocuments(
            sessionmaker, base_url=config.instance.base_url, acct_host=config.instance.host
        )
        yield
        await engine.dispose()

    async def http_client(app: web.Application) -> AsyncIterator[None]:
        from federation.fetch import make_connector

        connector = make_connector(
            allow_private=config.federation.allow_private_addresses, inner=resolver
        )
        async with ClientSession(
            connector=connector,
            timeout=ClientTimeout(total=30, connect=5, sock_read=10),
            headers={"User-Agent": USER_AGENT},
        ) as session:
            app[keys.HTTP_CLIENT] = session
            yield

    app.cleanup_ctx.append(database)
    app.cleanup_ctx.append(http_client)
    add_discovery_routes(app)
    add_page_routes(app)
    return app
