"""CLI commands for local actors: `verbund actor create|list|show`."""

from __future__ import annotations

import argparse
import asyncio

from sqlalchemy.ext.asyncio import AsyncSession

from actors.documents import actor_view
from actors.local import create_actor, get_actor, list_actors
from actors.models import ActorType
from server.cli.common import add_switch, in_session, load
from server.cli.common import out as _print
from server.services import local_uris

__all__ = ["register"]


# --- actors --------------------------------------------------------------------------------


def cmd_actor_create(args: argparse.Namespace) -> None:
    config = load(args)

    async def run(session: AsyncSession) -> None:
        actor = await create_actor(
            session,
            username=args.name,
            type_=ActorType[args.type.upper()],
            display_name=args.display_name or "",
            summary=args.summary or "",
            manually_approves=args.locked,
            discoverable=args.discoverable,
        )
        await session.commit()
        _print(f"created {actor.type} @{actor.username}@{config.instance.host}")
        _print(f"  {local_uris(config).actor(actor.username)}")

    asyncio.run(in_session(config, run))


def cmd_actor_list(args: argparse.Namespace) -> None:
    config = load(args)

    async def run(session: AsyncSession) -> None:
        actors = await list_actors(session)
        if not actors:
            _print("no actors yet: create one with `verbund actor create NAME --type organization`")
        for a in actors:
            flags = " locked" if a.manually_approves else ""
            _print(f"{a.username:<24} {a.type:<13} {a.display_name}{flags}")

    asyncio.run(in_session(config, run))


def cmd_actor_show(args: argparse.Namespace) -> None:
    config = load(args)

    async def run(session: AsyncSession) -> None:
        actor = await get_actor(session, args.name)
        view = actor_view(actor, base_url=config.instance.base_url, acct_host=config.instance.host)
        _print(f"name:        {actor.username}")
        _print(f"handle:      @{actor.username}@{config.instance.host}")
        _print(f"type:        {actor.type}")
        _print(f"display:     {actor.display_name}")
        _print(f"summary:     {actor.summary}")
        _print(f"id:          {view.id}")
        _print(f"profile:     {view.profile_url}")
        _print(f"locked:      {'yes' if actor.manually_approves else 'no'}")
        _print(f"discoverable:{' yes' if actor.discoverable else ' no'}")
        _print(f"indexable:   {'yes' if actor.indexable else 'no'}")
        _print(f"created:     {actor.created_at.isoformat()}")
        _print(f"key id:      {local_uris(config).key_id(view.id)}")

    asyncio.run(in_session(config, run))


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """Add `actor` (create, list, show) to the `verbund` parser; returns its subcommands,
    where `server.cli.follows` adds the actor settings."""
    p = sub.add_parser("actor", help="manage local actors")
    asub = p.add_subparsers(dest="actor_command", required=True, metavar="SUBCOMMAND")
    q = asub.add_parser("create", parents=[common], help="create an actor")
    q.add_argument("name")
    q.add_argument("--type", choices=["organization", "group", "person"], default="organization")
    q.add_argument("--display-name")
    q.add_argument("--summary", help="plain text; blank lines separate paragraphs")
    q.add_argument("--locked", action="store_true", help="staff approve each follow request")
    add_switch(
        q,
        "discoverable",
        on="list in directories (default for organisations and groups)",
        off="keep out of directories (default for people)",
    )
    q.set_defaults(func=cmd_actor_create)
    q = asub.add_parser("list", parents=[common], help="list actors")
    q.set_defaults(func=cmd_actor_list)
    q = asub.add_parser("show", parents=[common], help="show one actor")
    q.add_argument("name")
    q.set_defaults(func=cmd_actor_show)
    return asub
