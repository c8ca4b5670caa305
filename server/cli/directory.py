"""`verbund directory search`: the directory (our actors and the peers' cached entries)
from the command line, with the filters of the page and the APIs.

`register` returns the `directory` subcommands, where the peer sync adds `peers` and
`sync`.
"""

from __future__ import annotations

import argparse
import asyncio

from sqlalchemy.ext.asyncio import AsyncSession

from actors.directory import MAX_LIMIT, DirectoryQuery, DirectoryQueryError, search
from federation.directory import TYPES
from server.cli.common import CliError, in_session, load, positive
from server.cli.common import out as _print
from server.services import local_uris

__all__ = ["register"]


def _names(values: list[str] | None) -> tuple[str, ...]:
    """Repeated options and comma lists alike, blanks dropped, each once."""
    parts = [p.strip() for v in values or () for p in v.split(",")]
    return tuple(dict.fromkeys(p for p in parts if p))


def cmd_directory_search(args: argparse.Namespace) -> None:
    config = load(args)
    types = []
    for name in _names(args.type):
        if name.lower() not in TYPES:
            raise CliError(f"--type must be organization, group or person, got {name!r}")
        types.append(TYPES[name.lower()])
    query = DirectoryQuery(
        region=args.region,
        interests=_names(args.interest),
        match_all=args.all,
        types=tuple(dict.fromkeys(types)),
        text=args.q,
        local_only=args.local,
        limit=args.limit,
    )

    async def run(session: AsyncSession) -> None:
        try:
            hits = await search(
                session, query, local_domain=config.instance.host, uris=local_uris(config)
            )
        except DirectoryQueryError as exc:
            raise CliError(str(exc)) from None
        if not hits:
            _print("nothing found")
        for h in hits:
            region = h.region_code or "-"
            if h.locality:
                region = f"{region} ({h.locality})"
            interests = ", ".join(h.interests) or "-"
            lives = "this instance" if h.peer is None else f"peer {h.peer}"
            _print(f"@{h.handle:<40} {h.type:<13} {region:<20} {interests}  [{lives}]")

    asyncio.run(in_session(config, run))


def _limit(value: str) -> int:
    n = positive(value)
    if n > MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_LIMIT}, got {n}")
    return n


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """Add `directory` (search) to the `verbund` parser; returns its subcommands."""
    p = sub.add_parser("directory", help="search the directory of organisations and groups")
    dsub = p.add_subparsers(dest="directory_command", required=True, metavar="SUBCOMMAND")
    q = dsub.add_parser(
        "search", parents=[common], help="search our actors and the peers' directories"
    )
    q.add_argument("--region", help="ISO code (DE, DE-BE: it and what lies in it) or postal prefix")
    q.add_argument(
        "--interest", action="append", metavar="NAME", help="repeatable, or a comma list"
    )
    q.add_argument("--all", action="store_true", help="match all interests (default: any)")
    q.add_argument("--type", action="append", metavar="TYPE", help="organization, group or person")
    q.add_argument("--q", metavar="TEXT", help="in name, username or description")
    q.add_argument("--local", action="store_true", help="only actors of this instance")
    q.add_argument("--limit", type=_limit, default=40, help=f"at most this many (1-{MAX_LIMIT})")
    q.set_defaults(func=cmd_directory_search)
    return dsub
