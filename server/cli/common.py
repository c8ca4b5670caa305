"""What every `verbund` command shares: the config it reads, the database session or the
services it runs in, the argument types, how it prints, and the error that ends it.

Command modules import from here and never from each other or from `server.cli`
(the package imports them to build the parser), so the CLI has no import circle.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from server import db
from server.cli.terminal import err, out
from server.config import Config, load_config, resolve_path
from server.services import Services, open_services

__all__ = [
    "CliError",
    "err",
    "in_session",
    "load",
    "out",
    "positive",
    "run_in_session",
    "run_with_services",
    "seconds",
]


class CliError(Exception):
    """A failure to report on stderr as `error: ...` with exit code 1."""


def add_switch(parser: argparse.ArgumentParser, name: str, *, on: str, off: str) -> None:
    """`--NAME` / `--not-NAME`, one excluding the other; None when neither is given, so
    the command keeps the current value or applies the default."""
    dest = name.replace("-", "_")
    group = parser.add_mutually_exclusive_group()
    group.add_argument(f"--{name}", dest=dest, action="store_true", default=None, help=on)
    group.add_argument(f"--not-{name}", dest=dest, action="store_false", default=None, help=off)


def load(args: argparse.Namespace) -> Config:
    """The config that `--config` (or `$VERBUND_CONFIG`, or ./verbund.toml) names."""
    return load_config(resolve_path(args.config))


async def in_session(config: Config, fn: Callable[[AsyncSession], Awaitable[None]]) -> None:
    """Run `fn` in one session on a database whose schema is current (else
    `db.DatabaseError`); the engine is closed again afterwards."""
    engine = db.create_engine(config.database)
    try:
        await db.check_schema(engine, config.database)
        async with db.create_sessionmaker(engine)() as session:
            await fn(session)
    finally:
        await engine.dispose()


def run_in_session(
    args: argparse.Namespace,
    fn: Callable[[AsyncSession], Awaitable[None]],
    *,
    errors: tuple[type[Exception], ...] = (),
) -> None:
    """Load the config and run `fn` in one session; `errors` (a package's own failures,
    such as `AccountError`) end the command as `error: …` with exit code 1."""
    config = load(args)
    try:
        asyncio.run(in_session(config, fn))
    except errors as exc:
        raise CliError(str(exc)) from None


def run_with_services(
    args: argparse.Namespace,
    fn: Callable[[Services], Awaitable[None]],
    *,
    errors: tuple[type[Exception], ...] = (),
) -> None:
    """Load the config and run `fn` with the process's services (database, federation
    client, directory); `errors` end the command as in `run_in_session`."""
    config = load(args)

    async def main() -> None:
        async with open_services(config) as svc:
            try:
                await fn(svc)
            except errors as exc:
                raise CliError(str(exc)) from None

    asyncio.run(main())


def positive(value: str) -> int:
    """argparse type: an integer of at least 1."""
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def seconds(value: str) -> float:
    """argparse type: a number of seconds above 0."""
    n = float(value)
    if not n > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {value}")
    return n
