"""CLI commands for the instance itself: `verbund init`, `verbund db …`, `verbund serve`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

from actors.local import count_actors, ensure_instance_actor, get_instance_actor
from server import db
from server.cli.common import CliError, load
from server.cli.common import out as _print
from server.config import (
    Config,
    ConfigError,
    DatabaseConfig,
    ServerConfig,
    load_config,
    parse_config,
    render_config,
    resolve_path,
    resolve_sqlite_url,
)

__all__ = ["register"]

log = logging.getLogger("verbund")


# --- init / db -----------------------------------------------------------------------------


async def _migrate(config: Config) -> bool:
    """Migrate the database and make sure the instance actor exists; True if it was
    created now."""
    engine = db.create_engine(config.database)
    try:
        await db.upgrade(engine, config.database)
        async with db.create_sessionmaker(engine)() as session:
            existed = await get_instance_actor(session) is not None
            await ensure_instance_actor(session)
            await session.commit()
        return not existed
    finally:
        await engine.dispose()


async def _refuse_domain_change(config: Config, old_domain: str) -> None:
    """`init --force` with another domain over a database that has actors: their ids,
    keys and handles all contain the domain, so peers would no longer recognise them."""
    engine = db.create_engine(config.database)
    try:
        if await db.current_revision(engine, config.database) is None:
            return
        async with db.create_sessionmaker(engine)() as session:
            actors = await count_actors(session)
    finally:
        await engine.dispose()
    if actors:
        raise CliError(
            f"refusing to change instance.domain from {old_domain} to "
            f"{config.instance.domain}: the database {db.display_url(config.database)} "
            f"has {actors} actor{'s' if actors != 1 else ''}, and the domain is part of every "
            "actor's identity (its id, key id and handle), so followers and peers would lose "
            "them. Keep the domain, or give the new one its own database (--database-url)"
        )


def _init_database_url(given: str | None) -> str:
    """The URL `init` writes: by default verbund.db next to the config file (relative,
    so the folder can move); a relative SQLite path given on the command line means
    one relative to where the operator typed it, so it is written absolute."""
    if given is None:
        return DatabaseConfig().url
    return resolve_sqlite_url(given, Path.cwd())


def _created_paths(config: Config) -> list[Path]:
    """The SQLite file (with its WAL companions) and folders that opening the database
    would create: what to remove again if `init` fails."""
    file = db.sqlite_file(config.database)
    if file is None:
        return []
    target = Path(file)
    if target.exists():
        return []
    paths = [target, *(target.with_name(target.name + s) for s in ("-wal", "-shm", "-journal"))]
    folder = target.parent
    while not folder.exists():
        paths.append(folder)
        folder = folder.parent
    return paths


def _remove(paths: Sequence[Path]) -> None:
    for p in paths:  # files first, then folders from the innermost out
        with contextlib.suppress(OSError):
            if p.is_dir():
                p.rmdir()
            else:
                p.unlink(missing_ok=True)


def cmd_init(args: argparse.Namespace) -> None:
    """Write the config, migrate the database, create the instance actor: all of it or,
    if any step fails, none of it (a database file it created is removed again, and the
    config is only written once the database is ready)."""
    path = resolve_path(args.config)
    text: str | None = None
    old_domain: str | None = None
    if path.exists() and not args.force:
        if any(
            v is not None
            for v in (args.domain, args.scheme, args.host, args.port, args.database_url)
        ):
            raise CliError(f"{path} already exists; pass --force to overwrite it")
        config = load_config(path)
        _print(f"using existing config {path}")
    else:
        if path.exists():
            with contextlib.suppress(ConfigError):
                old_domain = load_config(path).instance.domain
        defaults = ServerConfig()
        domain = args.domain or f"localhost:{defaults.port}"
        scheme = args.scheme or ("http" if domain.split(":")[0] == "localhost" else "https")
        text = render_config(
            domain=domain,
            scheme=scheme,
            host=args.host or defaults.host,
            port=args.port if args.port is not None else defaults.port,
            database_url=_init_database_url(args.database_url),
            allow_private_addresses=args.allow_private_addresses,
        )
        config = parse_config(tomllib.loads(text), path=path)  # validate before writing
    created = _created_paths(config)
    try:
        if old_domain is not None and old_domain != config.instance.domain:
            asyncio.run(_refuse_domain_change(config, old_domain))
        made_actor = asyncio.run(_migrate(config))
    except OSError as exc:
        _remove(created)
        raise CliError(f"cannot create the database: {exc}") from None
    except BaseException:
        _remove(created)
        raise
    if text is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".new")
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)  # atomic: a reader sees the old file or the whole new one
        _print(f"wrote {path}")
    actor = "instance actor created" if made_actor else "instance actor already there"
    _print(f"database {db.display_url(config.database)} ready at revision {db.head_revision()}")
    _print(f"{actor}; instance: {config.instance.base_url}")


def cmd_db_upgrade(args: argparse.Namespace) -> None:
    config = load(args)
    asyncio.run(_migrate(config))
    _print(f"database {db.display_url(config.database)} at revision {db.head_revision()}")


def cmd_db_current(args: argparse.Namespace) -> None:
    config = load(args)

    async def run() -> str | None:
        engine = db.create_engine(config.database)
        try:
            return await db.current_revision(engine, config.database)
        finally:
            await engine.dispose()

    current = asyncio.run(run())
    head = db.head_revision()
    _print(f"current: {current or 'empty'}; head: {head}")
    if current != head:
        raise CliError("database needs `verbund db upgrade`")


# --- serve ---------------------------------------------------------------------------------


async def _serve(config: Config) -> None:
    from server.app import create_app
    from server.runtime import ListenError, settle_gc, start_server

    try:
        runner = await start_server(create_app(config), config.server)
    except (db.DatabaseError, ListenError) as exc:
        raise CliError(str(exc)) from None
    settle_gc()
    _print(f"Verbund {config.instance.domain} serving {config.instance.base_url}/")
    _print(f"  listening on http://{config.server.host}:{config.server.port}  (Ctrl-C to stop)")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down")
    await runner.cleanup()


def cmd_serve(args: argparse.Namespace) -> None:
    config = load(args)
    logging.getLogger().setLevel(config.logging.level.upper())
    from server.runtime import run_event_loop

    run_event_loop(_serve(config))


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """Add `init`, `serve` and `db` (upgrade, current) to the `verbund` parser."""
    defaults = ServerConfig()
    p = sub.add_parser("init", parents=[common], help="write a config, create the database")
    p.add_argument("--domain", help="public host name, with :PORT if not 443/80")
    p.add_argument(
        "--scheme", choices=["https", "http"], help="https (default) or http for development"
    )
    p.add_argument("--host", help=f"address to listen on (default {defaults.host})")
    p.add_argument("--port", type=int, help=f"port to listen on (default {defaults.port})")
    p.add_argument("--database-url", help="sqlite+aiosqlite:///PATH or postgresql+asyncpg://...")
    p.add_argument(
        "--allow-private-addresses",
        action="store_true",
        help="allow contacting private and loopback addresses (development and tests only)",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing config")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("serve", parents=[common], help="run the server")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("db", help="database migrations")
    dsub = p.add_subparsers(dest="db_command", required=True, metavar="SUBCOMMAND")
    q = dsub.add_parser("upgrade", parents=[common], help="apply all migrations")
    q.set_defaults(func=cmd_db_upgrade)
    q = dsub.add_parser("current", parents=[common], help="show the schema revision")
    q.set_defaults(func=cmd_db_current)
