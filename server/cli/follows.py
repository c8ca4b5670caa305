"""CLI commands for follows and actor settings: follow, unfollow, requests, collections."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from server import actions
from server.cli.common import out as _print
from server.cli.common import run_with_services
from server.services import Services


def cmd_follow(args: argparse.Namespace) -> None:
    async def run(svc: Services) -> None:
        row = await actions.follow(svc, args.actor, args.handle, message=args.message or "")
        _print(
            f"{args.actor} sent a follow request to {args.handle} ({row.state}); "
            "the worker delivers it"
        )

    run_with_services(args, run)


def cmd_unfollow(args: argparse.Namespace) -> None:
    async def run(svc: Services) -> None:
        await actions.unfollow(svc, args.actor, args.handle)
        _print(f"{args.actor} no longer follows {args.handle}")

    run_with_services(args, run)


def cmd_requests_list(args: argparse.Namespace) -> None:
    async def run(svc: Services) -> None:
        requests = await actions.list_requests(svc, args.actor)
        if not requests:
            _print(f"no pending follow requests for {args.actor}")
        for r in requests:
            note = f"  “{r.message}”" if r.message else ""
            _print(f"{r.id:>6}  {r.handle:<40} {r.created_at:%Y-%m-%d %H:%M}{note}")

    run_with_services(args, run)


def _decide(approve: bool) -> Callable[[argparse.Namespace], None]:
    def cmd(args: argparse.Namespace) -> None:
        async def run(svc: Services) -> None:
            who = await actions.decide_request(svc, args.actor, args.request, approve=approve)
            _print(f"{'approved' if approve else 'declined'} {who}")

        run_with_services(args, run)

    return cmd


def _relations(followers: bool) -> Callable[[argparse.Namespace], None]:
    def cmd(args: argparse.Namespace) -> None:
        async def run(svc: Services) -> None:
            items = await actions.relations(svc, args.actor, followers=followers)
            for item in items:
                _print(item)
            _print(f"({len(items)} {'followers' if followers else 'followed'})")

        run_with_services(args, run)

    return cmd


def cmd_remove_follower(args: argparse.Namespace) -> None:
    async def run(svc: Services) -> None:
        await actions.remove_follower(svc, args.actor, args.handle)
        _print(f"removed {args.handle} from {args.actor}'s followers")

    run_with_services(args, run)


def cmd_actor_update(args: argparse.Namespace) -> None:
    async def run(svc: Services) -> None:
        actor = await actions.update_actor(
            svc,
            args.name,
            display_name=args.display_name,
            summary=args.summary,
            locked=args.locked,
            hide_collections=args.hide_collections,
            discoverable=args.discoverable,
        )
        _print(f"updated {actor.username}")

    run_with_services(args, run)


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
    actor_sub: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    p = sub.add_parser("follow", parents=[common], help="follow a remote actor")
    p.add_argument("actor", help="local actor name")
    p.add_argument("handle", help="user@host or an actor URL")
    p.add_argument("--message", help="a short note sent with the request")
    p.set_defaults(func=cmd_follow)

    p = sub.add_parser("unfollow", parents=[common], help="stop following a remote actor")
    p.add_argument("actor")
    p.add_argument("handle")
    p.set_defaults(func=cmd_unfollow)

    p = sub.add_parser("requests", help="follow requests to a locked actor")
    rsub = p.add_subparsers(dest="requests_command", required=True, metavar="SUBCOMMAND")
    q = rsub.add_parser("list", parents=[common], help="list pending requests")
    q.add_argument("actor")
    q.set_defaults(func=cmd_requests_list)
    for name, approve in (("approve", True), ("decline", False)):
        q = rsub.add_parser(name, parents=[common], help=f"{name} a request")
        q.add_argument("actor")
        q.add_argument("request", help="request number (from `requests list`) or user@host")
        q.set_defaults(func=_decide(approve))

    for name, is_followers in (("followers", True), ("following", False)):
        p = sub.add_parser(name, parents=[common], help=f"list an actor's {name}")
        p.add_argument("actor")
        p.set_defaults(func=_relations(is_followers))

    p = sub.add_parser("remove-follower", parents=[common], help="remove a follower (sends Reject)")
    p.add_argument("actor")
    p.add_argument("handle")
    p.set_defaults(func=cmd_remove_follower)

    q = actor_sub.add_parser(
        "update", parents=[common], help="change an actor's profile or settings"
    )
    q.add_argument("name")
    q.add_argument("--display-name")
    q.add_argument("--summary")
    q.add_argument(
        "--locked",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="staff approve each follow request (--no-locked: accept at once)",
    )
    q.add_argument(
        "--hide-collections",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show only follower/following counts, not the lists",
    )
    q.add_argument("--discoverable", action=argparse.BooleanOptionalAction, default=None)
    q.set_defaults(func=cmd_actor_update)
