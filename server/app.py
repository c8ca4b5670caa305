"""The composition root: builds the aiohttp application from a Config."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime

from aiohttp import web
from aiohttp.abc import AbstractResolver
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from federation.ratelimit import MonotonicClock
from inbox.receive import GroupCommitter, InboxReceiver
from inbox.store import InboxWriter, SessionInboxWriter, SqliteInboxWriter
from server import db, keys
from server.api import add_api_routes
from server.config import Config, DatabaseConfig
from server.instance_settings import SettingsCache
from server.ratelimit import RateLimits
from server.services import open_services, utc_clock
from server.web.activitypub import add_activitypub_routes
from server.web.admin import add_admin_routes
from server.web.auth import add_auth_routes
from server.web.compose import add_compose_routes
from server.web.contact import add_contact_routes
from server.web.contacts import add_contacts_routes
from server.web.directory import add_directory_routes
from server.web.discovery import add_discovery_routes
from server.web.errors import add_catch_all_route
from server.web.follows import add_follow_routes
from server.web.home import add_home_routes
from server.web.i18n import Templates
from server.web.images import add_image_routes
from server.web.invitations import add_invitation_routes
from server.web.layout import TEMPLATES, add_static_routes
from server.web.links import add_link_routes
from server.web.manage import add_manage_routes
from server.web.media import add_media_routes
from server.web.news_pages import add_news_routes
from server.web.notifications import add_notification_routes
from server.web.pages import add_page_routes
from server.web.remote_follow import add_remote_follow_routes
from server.web.settings import add_settings_routes
from server.worker import start_worker

log = logging.getLogger("verbund.server")


def inbox_writer(
    database: DatabaseConfig, sessionmaker: async_sessionmaker[AsyncSession]
) -> InboxWriter:
    """The inbox's batch writer for this database: SQLite's own for a SQLite file."""
    path = db.sqlite_file(database)
    if path is None:
        return SessionInboxWriter(sessionmaker)
    return SqliteInboxWriter(functools.partial(db.connect_sqlite, path))


def create_app(
    config: Config,
    *,
    resolver: AbstractResolver | None = None,
    clock: Callable[[], datetime] = utc_clock,
    monotonic: MonotonicClock = time.monotonic,
    run_processor: bool = True,
) -> web.Application:
    """An application for `config`. `resolver` lets tests map test host names to loopback;
    `monotonic` is the clock of the rate limits; `run_processor=False` leaves the inbox
    processor to tests that step it with `run_once()`."""
    app = web.Application(client_max_size=config.federation.max_inbox_bytes)
    app[keys.CONFIG] = config
    app[keys.CLOCK] = clock
    limits = RateLimits.from_config(config.limits, monotonic)
    app[keys.LIMITS] = limits
    app[keys.OUTBOX_WAKE] = asyncio.Event()
    app[TEMPLATES] = Templates()
    app[keys.SETTINGS] = SettingsCache(config)

    async def services(app: web.Application) -> AsyncIterator[None]:
        async with open_services(config, resolver=resolver, clock=clock) as svc:
            app[keys.ENGINE] = svc.engine
            app[keys.SESSIONMAKER] = svc.sessionmaker
            app[keys.HTTP_CLIENT] = svc.http
            app[keys.DIRECTORY] = svc.directory
            app[keys.DOCUMENTS] = svc.documents
            app[keys.SERVICES] = svc
            app[keys.URIS] = svc.uris
            app[keys.POLICY] = svc.policy
            processor = svc.inbox_processor(on_outbox=app[keys.OUTBOX_WAKE].set)
            app[keys.PROCESSOR] = processor
            committer = GroupCommitter(
                inbox_writer(config.database, svc.sessionmaker), on_commit=processor.wake.set
            )
            app[keys.INBOX] = InboxReceiver(
                committer,
                svc.directory.resolve_key,
                clock=clock,
                policy=svc.policy,
                url_scheme=config.instance.scheme,
                limits=limits.inbox,
                local_base=svc.uris.base_url,
            )
            stop = asyncio.Event()
            task = None
            if run_processor and config.server.process_inbox:
                task = asyncio.create_task(processor.run_forever(stop), name="inbox-processor")
            yield
            stop.set()
            if task is not None:
                await task
            await committer.stop()

    app.cleanup_ctx.append(services)
    app.cleanup_ctx.append(start_worker)
    add_discovery_routes(app)
    add_activitypub_routes(app)
    add_link_routes(app)
    add_contact_routes(app)  # before the post pages' /@NAME/{id}
    add_remote_follow_routes(app)  # before the post pages' /@NAME/{id}
    add_news_routes(app)
    add_auth_routes(app)
    add_invitation_routes(app)
    add_compose_routes(app)
    add_home_routes(app)
    add_media_routes(app)
    add_image_routes(app)
    add_notification_routes(app)
    add_settings_routes(app)
    add_follow_routes(app)
    add_contacts_routes(app)
    add_manage_routes(app)
    add_admin_routes(app)
    add_page_routes(app)
    add_static_routes(app)
    add_directory_routes(app)
    add_api_routes(app)
    add_catch_all_route(app)
    return app
