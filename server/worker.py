"""Where the delivery worker runs: inside `verbund serve`, or alone as `verbund worker`.

Both build an `outbox.delivery.DeliveryWorker` from the config (its `[worker]` section,
`server.config.WorkerConfig`) and the process's services; any
number of either may share one database (see `outbox.delivery`). Nothing here holds
state a restart would lose: the jobs and their claims live in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta

from aiohttp import ClientSession, web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from actors.peers import DirectorySync, SyncSettings
from actors.visitors import VisitorPolicy, purge
from federation.fetch import Signer
from federation.policy import FederationPolicy
from outbox.contacts import expire_contact_requests
from outbox.delivery import DeliveryWorker
from outbox.documents import render_poll_update
from outbox.polls import close_due_polls
from outbox.signer import SignerProcess
from server import keys
from server.config import Config, WorkerConfig
from server.links import refresh_all_trees
from server.runtime import settle_gc
from server.services import (
    Services,
    federation_policy,
    instance_signer_of,
    local_uris,
    open_services,
    utc_clock,
)

__all__ = [
    "close_polls_forever",
    "expire_contacts_forever",
    "make_delivery_worker",
    "make_directory_sync",
    "purge_visitor_contacts_forever",
    "refresh_trees_forever",
    "run_worker_process",
    "start_worker",
    "sync_directories_forever",
]

log = logging.getLogger("verbund.worker")


def new_worker_id(role: str) -> str:
    """Unique among live workers, and says where to look: role, host name, pid."""
    host = socket.gethostname()[:32]
    return f"{role}:{host}:{os.getpid()}:{secrets.token_hex(3)}"[:64]


def make_delivery_worker(
    config: Config,
    sessionmaker: async_sessionmaker[AsyncSession],
    http: ClientSession,
    *,
    clock: Callable[[], datetime],
    role: str,
    options: WorkerConfig | None = None,
    signer: SignerProcess | None = None,
    policy: FederationPolicy | None = None,
) -> DeliveryWorker:
    """A DeliveryWorker for this instance, tuned by `options` (default: the config's
    `[worker]` section); `policy` is the process's federation policy (kept fresh by its
    services), else one from the config file alone."""
    options = options or config.worker
    return DeliveryWorker(
        sessionmaker,
        http,
        base_url=config.instance.base_url,
        allow_private=config.federation.allow_private_addresses,
        clock=clock,
        worker_id=new_worker_id(role),
        batch_size=options.batch_size,
        concurrency=options.concurrency,
        per_host_limit=options.per_host_limit,
        lock_seconds=options.lock_seconds,
        post_timeout=options.post_timeout,
        idle_seconds=options.idle_seconds,
        sign_with=signer.sign if signer is not None else None,
        policy=policy or federation_policy(config),
    )


POLL_CLOSE_SECONDS = 30.0  # a poll's final counts go out at most this long after it ends


async def close_polls_forever(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Callable[[], datetime],
    stop: asyncio.Event,
    wake: asyncio.Event | None = None,
    *,
    policy: FederationPolicy,
    interval: float = POLL_CLOSE_SECONDS,
) -> None:
    """Close our ended polls and enqueue their final Update, every `interval` seconds until
    `stop`; `wake` tells the delivery worker there is something to send. Several workers
    may run this at once: a poll closed twice sends its counts twice, which is harmless."""
    while not stop.is_set():
        try:
            async with sessionmaker() as session:
                closed = await close_due_polls(
                    session, now=clock(), render_update=render_poll_update, policy=policy
                )
                await session.commit()
            if closed and wake is not None:
                wake.set()
        except Exception:  # loop top: a failed round is logged, the next one tries again
            log.exception("closing ended polls failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


VISITOR_PURGE_SECONDS = 300.0  # an expired address outlives its time by at most this


async def purge_visitor_contacts_forever(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Callable[[], datetime],
    stop: asyncio.Event,
    *,
    policy: VisitorPolicy,
    interval: float = VISITOR_PURGE_SECONDS,
) -> None:
    """Delete visitors' contact requests past `visitors.keep_seconds` (unverified ones
    past `visitors.verify_hours`) and old counts, every `interval` seconds until `stop`.
    Several workers may run it at once: deleting twice deletes nothing more."""
    while not stop.is_set():
        try:
            async with sessionmaker() as session:
                removed = await purge(session, now=clock(), policy=policy)
                await session.commit()
            if removed:
                log.info("deleted %d expired visitor contact requests", removed)
        except Exception:  # loop top: a failed round is logged, the next one tries again
            log.exception("purging visitor contact requests failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


CONTACT_EXPIRY_SECONDS = 300.0  # a request is told it expired at most this long after


async def expire_contacts_forever(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Callable[[], datetime],
    stop: asyncio.Event,
    wake: asyncio.Event | None = None,
    *,
    config: Config,
    policy: FederationPolicy | None = None,
    interval: float = CONTACT_EXPIRY_SECONDS,
) -> None:
    """Expire contact requests older than `contacts.expire_after` (`outbox.contacts`),
    every `interval` seconds until `stop`; `wake` tells the delivery worker about the
    Rejects queued. Several workers may run this at once: each request's row changes
    state once, and a round that loses a race only sends a Reject twice."""
    expire_after = timedelta(seconds=config.contacts.expire_after)
    uris, policy = local_uris(config), policy or federation_policy(config)
    while not stop.is_set():
        try:
            while True:
                async with sessionmaker() as session:
                    expired = await expire_contact_requests(
                        session,
                        now=clock(),
                        expire_after=expire_after,
                        uris=uris,
                        policy=policy,
                        report_window=timedelta(seconds=config.contacts.report_window),
                    )
                    await session.commit()
                if expired and wake is not None:
                    wake.set()
                if not expired or stop.is_set():
                    break
        except Exception:  # loop top: a failed round is logged, the next one tries again
            log.exception("expiring contact requests failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


DIRECTORY_TICK_SECONDS = 60.0  # a peer that falls due waits at most this long


def make_directory_sync(
    config: Config,
    sessionmaker: async_sessionmaker[AsyncSession],
    http: ClientSession,
    *,
    clock: Callable[[], datetime],
    signer: Callable[[], Awaitable[Signer]] | None = None,
    policy: FederationPolicy | None = None,
) -> DirectorySync:
    """The directory sync of this instance (`[directory]`): peers read over the instance's
    own scheme through the federation client `http`, signed by `signer` (default: the
    instance actor)."""
    options = config.directory
    return DirectorySync(
        sessionmaker,
        lambda: http,
        peers=options.peers,
        settings=SyncSettings(
            scheme=config.instance.scheme,
            sync_interval=options.sync_interval,
            full_sync_interval=options.full_sync_interval,
            drop_after=options.drop_after,
            max_entries_per_peer=options.max_entries_per_peer,
            max_page_bytes=options.max_page_bytes,
            max_pages=options.max_pages,
            sync_timeout=options.sync_timeout,
        ),
        signer=signer or instance_signer_of(local_uris(config), sessionmaker, clock),
        policy=policy or federation_policy(config),
        allow_private=config.federation.allow_private_addresses,
        clock=clock,
        linked_from=config.instance.host if options.link_peers else None,
    )


async def sync_directories_forever(
    sync: DirectorySync, stop: asyncio.Event, *, interval: float = DIRECTORY_TICK_SECONDS
) -> None:
    """Sync the peers that are due (`DirectorySync.sync_due`) every `interval` seconds until
    `stop`; a sync under way when `stop` is set is cancelled (its claim is released, or
    expires). Any number of processes may run this: claims keep them off each other's peers.
    Rows of peers taken off the list are dropped at the first round even if none is left."""
    while not stop.is_set():
        round_ = asyncio.create_task(sync.sync_due(), name="directory-sync-round")
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({round_, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stopped
        if not round_.done():
            round_.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await round_
            return
        if round_.exception() is not None:  # loop top: a failed round is logged, next one runs
            log.error("directory sync round failed", exc_info=round_.exception())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), min(interval, sync.settings.sync_interval))


async def refresh_trees_forever(svc: Services, stop: asyncio.Event, *, interval: float) -> None:
    """Refresh the network trees of confirmed branches (`server.links.refresh_all_trees`)
    every `interval` seconds until `stop`; pages only ever read what this stored."""
    while not stop.is_set():
        try:
            await refresh_all_trees(svc)
        except Exception:  # loop top: a failed round is logged, the next one runs
            log.exception("network tree refresh failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


async def start_signer(options: WorkerConfig) -> SignerProcess | None:
    """A signing child process if the options ask for one; None means sign in-process."""
    if not options.signer_process:
        return None
    signer = SignerProcess()
    try:
        await signer.start()
    except OSError as exc:
        log.warning("cannot start the signer process (%s); signing in-process", exc)
        return None
    return signer


async def start_worker(app: web.Application) -> AsyncIterator[None]:
    """aiohttp cleanup context for `verbund serve`: deliver in the background while the
    app runs, if `server.run_worker` is true (the default).

    Append it to `app.cleanup_ctx` after the context that sets `SESSIONMAKER`,
    `HTTP_CLIENT`, `CLOCK` and `OUTBOX_WAKE`. Publishers set `OUTBOX_WAKE` after
    committing jobs, so delivery starts at once rather than at the next poll. On
    shutdown it finishes the requests in flight (at most one attempt's time).
    """
    config = app[keys.CONFIG]
    if not config.server.run_worker:
        yield
        return
    options = config.worker
    signer = await start_signer(options)
    # The app's one policy, which its services keep up to date with the admin pages' rules.
    policy = app.get(keys.POLICY) or federation_policy(config)
    worker = make_delivery_worker(
        config,
        app[keys.SESSIONMAKER],
        app[keys.HTTP_CLIENT],
        clock=app[keys.CLOCK],
        role="serve",
        options=options,
        signer=signer,
        policy=policy,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(
        worker.run_forever(stop, app[keys.OUTBOX_WAKE]), name="delivery-worker"
    )
    closer = asyncio.create_task(
        close_polls_forever(
            app[keys.SESSIONMAKER],
            app[keys.CLOCK],
            stop,
            app[keys.OUTBOX_WAKE],
            policy=policy,
        ),
        name="poll-closer",
    )
    purger = asyncio.create_task(
        purge_visitor_contacts_forever(
            app[keys.SESSIONMAKER], app[keys.CLOCK], stop, policy=config.visitors
        ),
        name="visitor-purge",
    )
    syncer = asyncio.create_task(
        sync_directories_forever(
            make_directory_sync(
                config,
                app[keys.SESSIONMAKER],
                app[keys.HTTP_CLIENT],
                clock=app[keys.CLOCK],
                policy=policy,
            ),
            stop,
        ),
        name="directory-sync",
    )
    expirer = asyncio.create_task(
        expire_contacts_forever(
            app[keys.SESSIONMAKER],
            app[keys.CLOCK],
            stop,
            app[keys.OUTBOX_WAKE],
            config=config,
            policy=policy,
        ),
        name="contact-expiry",
    )
    # The network trees read through the app's services (an app built without them, as
    # some tests build one, has no trees to refresh).
    services = app.get(keys.SERVICES)
    trees = asyncio.create_task(
        refresh_trees_forever(services, stop, interval=config.directory.tree_interval)
        if services is not None
        else stop.wait(),
        name="link-trees",
    )
    log.info("delivery worker %s started", worker.worker_id)
    try:
        yield
    finally:
        stop.set()
        await task
        await closer
        await purger
        await syncer
        await expirer
        await trees
        if signer is not None:
            await signer.close()
        log.info("delivery worker %s stopped", worker.worker_id)


async def run_worker_process(
    config: Config,
    options: WorkerConfig | None = None,
    *,
    stop: asyncio.Event | None = None,
) -> None:
    """`verbund worker`: deliver until SIGTERM or SIGINT (or `stop`), then finish the
    requests in flight and return.

    Opens its own engine (schema checked: raises `server.db.DatabaseError`) and its own
    federation `ClientSession` with the SSRF guard of `federation.allow_private_addresses`.
    """
    options = options or config.worker
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    signer: SignerProcess | None = None
    try:
        signer = await start_signer(options)
        async with open_services(config, clock=utc_clock) as services:
            worker = make_delivery_worker(
                config,
                services.sessionmaker,
                services.http,
                clock=services.clock,
                role="worker",
                options=options,
                signer=signer,
                policy=services.policy,
            )
            settle_gc()
            log.info(
                "delivery worker %s started (concurrency %d, %d per host, claims hold %g s)",
                worker.worker_id,
                options.concurrency,
                options.per_host_limit,
                options.lock_seconds,
            )
            closer = asyncio.create_task(
                close_polls_forever(
                    services.sessionmaker, services.clock, stop, policy=services.policy
                ),
                name="poll-closer",
            )
            purger = asyncio.create_task(
                purge_visitor_contacts_forever(
                    services.sessionmaker, services.clock, stop, policy=config.visitors
                ),
                name="visitor-purge",
            )
            processing = None
            outbox_wake = asyncio.Event()  # replies the processor queued: send them now
            if options.process_inbox:
                processor = services.inbox_processor(on_outbox=outbox_wake.set)
                processing = asyncio.create_task(
                    processor.run_forever(stop, idle_seconds=options.inbox_poll_seconds),
                    name="inbox-processor",
                )
            syncer = asyncio.create_task(
                sync_directories_forever(
                    make_directory_sync(
                        config,
                        services.sessionmaker,
                        services.http,
                        clock=services.clock,
                        signer=services.instance_signer,
                        policy=services.policy,
                    ),
                    stop,
                ),
                name="directory-sync",
            )
            expirer = asyncio.create_task(
                expire_contacts_forever(
                    services.sessionmaker,
                    services.clock,
                    stop,
                    outbox_wake,
                    config=config,
                    policy=services.policy,
                ),
                name="contact-expiry",
            )
            trees = asyncio.create_task(
                refresh_trees_forever(services, stop, interval=config.directory.tree_interval),
                name="link-trees",
            )
            await worker.run_forever(stop, outbox_wake)
            await closer
            await purger
            await syncer
            await expirer
            await trees
            if processing is not None:
                await processing
            log.info("delivery worker %s stopped", worker.worker_id)
    finally:
        if signer is not None:
            await signer.close()
        for sig in signals:
            loop.remove_signal_handler(sig)
