"""`verbund relay add|remove|list`: the instance's relay subscriptions (FEP-ae0c)."""

from __future__ import annotations

import argparse

from server import relays
from server.cli.common import out as _print
from server.cli.common import run_with_services
from server.services import Services


def cmd_add(args: argparse.Namespace) -> None:
    async def run(svc: Services) -> None:
        row = await relays.add_relay(svc, args.url)
        style = "as:Public" if row.object_uri.endswith("#Public") else "the relay actor"
        _print(
            f"subscribing to {row.inbox_uri} (Follow of {style}, {row.state}); "
            "the worker delivers it"
        )

    run_with_services(args, run, errors=(relays.RelayError,))


def cmd_remove(args: argparse.Namespace) -> None:
    async def run(svc: Services) -> None:
        row = await relays.remove_relay(svc, args.url)
        _print(f"left {row.inbox_uri}; the worker delivers the Undo")

    run_with_services(args, run, errors=(relays.RelayError,))


def cmd_list(args: argparse.Namespace) -> None:
    async def run(svc: Services) -> None:
        rows = await relays.list_relays(svc)
        if not rows:
            _print("no relays (verbund relay add URL subscribes to one)")
            return
        width = max(len(r.inbox_uri) for r in rows)
        for r in rows:
            _print(
                f"{r.inbox_uri:<{width}}  {r.state:<8}  {r.actor_uri or '-'}  "
                f"since {r.updated_at:%Y-%m-%d %H:%M}"
            )

    run_with_services(args, run)


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    relay = sub.add_parser(
        "relay",
        parents=[common],
        help="relay subscriptions of this instance",
        description="Subscribe this instance to ActivityPub relays (FEP-ae0c): our public "
        "posts go to them, the public posts they announce show on the federated timeline.",
    )
    relay_sub = relay.add_subparsers(dest="relay_command", required=True, metavar="ACTION")
    add = relay_sub.add_parser(
        "add",
        parents=[common],
        help="subscribe to a relay",
        description="Subscribe through the instance actor. URL: the relay's inbox "
        "(https://relay.example/inbox: Follow of as:Public, as Mastodon does) or its actor "
        "(Follow of the actor, as Pleroma does).",
    )
    add.add_argument("url", metavar="URL")
    add.set_defaults(func=cmd_add)
    remove = relay_sub.add_parser(
        "remove", parents=[common], help="leave a relay (sends Undo of the Follow)"
    )
    remove.add_argument("url", metavar="URL", help="the relay's inbox or actor URL")
    remove.set_defaults(func=cmd_remove)
    listing = relay_sub.add_parser("list", parents=[common], help="relays and their state")
    listing.set_defaults(func=cmd_list)
