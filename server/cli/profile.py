"""CLI commands for an actor's directory profile: `verbund profile set|show`.

`set` changes region, district, postal prefix, interests and the two listing switches
through `server.actions.update_profile`, so the new actor document goes to followers.
"""

from __future__ import annotations

import argparse
import asyncio

from sqlalchemy.ext.asyncio import AsyncSession

from actors.local import get_actor
from actors.profile import ProfileChange, actor_region, region_names
from server import actions
from server.cli.common import add_switch, in_session, load, run_with_services
from server.cli.common import out as _print
from server.services import Services

__all__ = ["register"]


def _interests(value: str | None) -> list[str] | None:
    """`a,b,c` → the names; `""` clears the interests; absent leaves them."""
    if value is None:
        return None
    return [name for name in (part.strip() for part in value.split(",")) if name]


def cmd_profile_set(args: argparse.Namespace) -> None:
    change = ProfileChange(
        region=args.region,
        locality=args.district,
        postal_prefix=args.postal_prefix,
        interests=_interests(args.interests),
        discoverable=args.discoverable,
        indexable=args.indexable,
    )

    async def run(svc: Services) -> None:
        actor = await actions.update_profile(svc, args.actor, change)
        _print(f"updated the profile of {actor.username}")

    run_with_services(args, run)


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def cmd_profile_show(args: argparse.Namespace) -> None:
    config = load(args)

    async def run(session: AsyncSession) -> None:
        actor = await get_actor(session, args.actor)
        region = actor_region(actor)
        _print(f"actor:        @{actor.username}@{config.instance.host}")
        if region is None:
            _print("region:       (none)")
        else:
            names = region_names(region.code)
            _print(f"region:       {region.code}  {names['de']} / {names['en']}")
            _print(f"district:     {region.locality or '-'}")
            _print(f"postal:       {region.postal_prefix or '-'}")
        shown = ", ".join(str(n) for n in actor.interests)
        _print(f"interests:    {shown or '(none)'}")
        _print(f"discoverable: {_yes(actor.discoverable)}")
        _print(f"indexable:    {_yes(actor.indexable)}")

    asyncio.run(in_session(config, run))


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser("profile", help="an actor's directory profile")
    psub = p.add_subparsers(dest="profile_command", required=True, metavar="SUBCOMMAND")
    q = psub.add_parser("set", parents=[common], help="set region, interests and directory listing")
    q.add_argument("actor", help="local actor name")
    q.add_argument("--region", metavar="CODE", help='ISO 3166 code: DE, DE-BE; "" clears it')
    q.add_argument("--district", metavar="TEXT", help="district or town within the region")
    q.add_argument("--postal-prefix", metavar="P", help="start of the postal code, e.g. 10")
    q.add_argument(
        "--interests", metavar="a,b,...", help='hashtags without #, comma-separated; "" clears'
    )
    add_switch(
        q,
        "discoverable",
        on="list the actor in directories",
        off="keep the actor out of directories",
    )
    add_switch(
        q,
        "indexable",
        on="allow search engines of the fediverse to index its posts",
        off="ask that its posts not be indexed",
    )
    q.set_defaults(func=cmd_profile_set)
    q = psub.add_parser("show", parents=[common], help="show an actor's directory profile")
    q.add_argument("actor", help="local actor name")
    q.set_defaults(func=cmd_profile_show)
