"""`verbund group members|remove-member|members-only`: working groups (FEP-1b12).

A group's announce of a member's post is a boost: `group remove-post` is the Undo of it.
"""

from __future__ import annotations

import argparse

from server import groups
from server.cli.common import out as _print
from server.cli.common import run_with_services
from server.cli.news import find_status
from server.services import Services


def cmd_members(args: argparse.Namespace) -> None:
    async def run(svc: Services) -> None:
        found = await groups.list_members(svc, args.group)
        for uri in found.members:
            _print(uri)
        for uri in found.pending:
            _print(f"{uri}  (waiting for approval: verbund requests approve {args.group} …)")
        _print(f"({len(found.members)} members, {len(found.pending)} waiting)")

    run_with_services(args, run)


def cmd_remove_member(args: argparse.Namespace) -> None:
    async def run(svc: Services) -> None:
        uri = await groups.remove_member(svc, args.group, args.member)
        _print(f"removed {uri} from {args.group}; it cannot join again")

    run_with_services(args, run)


def cmd_remove_post(args: argparse.Namespace) -> None:
    async def run(svc: Services) -> None:
        async with svc.sessionmaker() as session:
            status = await find_status(session, args.post)
        uri = await groups.remove_post(svc, args.group, status.id)
        _print(f"removed {uri} from {args.group} (Undo of its Announce)")

    run_with_services(args, run)


def cmd_members_only(args: argparse.Namespace) -> None:
    async def run(svc: Services) -> None:
        await groups.set_members_only(svc, args.group, members_only=args.setting == "on")
        state = "members only (and locked)" if args.setting == "on" else "open"
        _print(f"{args.group} is {state}")

    run_with_services(args, run)


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    group = sub.add_parser(
        "group",
        parents=[common],
        help="working groups: members and members-only",
        description="A local Group actor announces its members' posts to its followers (FEP-1b12).",
    )
    group_sub = group.add_subparsers(dest="group_command", required=True, metavar="ACTION")
    p = group_sub.add_parser("members", parents=[common], help="members and waiting requests")
    p.add_argument("group")
    p.set_defaults(func=cmd_members)
    p = group_sub.add_parser(
        "remove-member", parents=[common], help="end a membership; the member cannot rejoin"
    )
    p.add_argument("group")
    p.add_argument("member", help="user@host or actor URL")
    p.set_defaults(func=cmd_remove_member)
    p = group_sub.add_parser(
        "remove-post", parents=[common], help="take a post out of the group (Undo Announce)"
    )
    p.add_argument("group")
    p.add_argument("post", help="post number or URL, or the group's boost of it")
    p.set_defaults(func=cmd_remove_post)
    p = group_sub.add_parser(
        "members-only", parents=[common], help="only members see the group's posts (on|off)"
    )
    p.add_argument("group")
    p.add_argument("setting", choices=("on", "off"))
    p.set_defaults(func=cmd_members_only)
