"""CLI commands for organisation links (issue 15): `verbund link offer|accept|decline|end`,
`verbund links ACTOR [--pending]` and `verbund links tree ACTOR [--refresh]`.

The operator acts for the actor. Refusals end as `error: <reason>` with exit code 1.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from actors.links import LinkView
from server import links
from server.cli.common import CliError, run_with_services
from server.cli.common import out as _print
from server.services import Services


def _line(view: LinkView, *, staff: bool = True) -> str:
    row = view.link
    name = f" ({view.other_name})" if view.other_name else ""
    if not staff:
        return f"{row.id:>6}  {row.kind.value:<8} {view.other_handle}{name}"
    arrow = "to" if row.outgoing else "from"
    return (
        f"{row.id:>6}  {row.kind.value:<8} {row.state.value:<9} {arrow} {view.other_handle}"
        f"{name}  {row.updated_at:%Y-%m-%d %H:%M}"
    )


def cmd_offer(args: argparse.Namespace) -> None:
    async def run(svc: Services) -> None:
        view = await links.offer(svc, args.actor, args.kind, args.other)
        _print(
            f"{args.actor} offered {view.other_handle} a link as its {view.link.kind.value} "
            f"(offer {view.link.id}); the worker delivers it"
        )

    run_with_services(args, run)


def _decide(*, accept: bool) -> Callable[[argparse.Namespace], None]:
    def cmd(args: argparse.Namespace) -> None:
        async def run(svc: Services) -> None:
            view = await links.decide_link(svc, args.actor, args.offer, accept=accept)
            done = "confirmed" if accept else "declined"
            _print(f"{done} the link with {view.other_handle} ({view.link.kind.value})")

        run_with_services(args, run)

    return cmd


def cmd_end(args: argparse.Namespace) -> None:
    async def run(svc: Services) -> None:
        view = await links.end_link_with(svc, args.actor, args.other)
        _print(f"ended the link of {args.actor} with {view.other_handle}")

    run_with_services(args, run)


def cmd_relay(args: argparse.Namespace) -> None:
    async def run(svc: Services) -> None:
        view = await links.set_relay(svc, args.actor, args.other, args.relay)
        tags = (
            f" ({', '.join('#' + t for t in view.link.relay_tags)})" if view.link.relay_tags else ""
        )
        _print(f"{args.actor} relays {view.link.relay.value}{tags} of {view.other_handle}'s news")

    run_with_services(args, run)


def cmd_links(args: argparse.Namespace) -> None:
    words: list[str] = args.words
    if words[0] == "tree" and len(words) == 2:
        return _tree(args, words[1])
    if len(words) != 1:
        raise CliError("usage: verbund links ACTOR [--pending] | verbund links tree ACTOR")

    async def run(svc: Services) -> None:
        views = await links.list_links(svc, words[0], pending=args.pending)
        if not views:
            _print(f"no {'pending offers' if args.pending else 'confirmed links'} of {words[0]}")
        for view in views:
            _print(_line(view))

    run_with_services(args, run)
    return None


def _tree(args: argparse.Namespace, actor: str) -> None:
    async def run(svc: Services) -> None:
        if args.refresh:
            await links.refresh_tree_of(svc, actor)
        nodes = await links.tree(svc, actor)
        _print(actor)
        if not nodes:
            _print("  (no confirmed branches, or the worker has not read them yet)")
        for node in nodes:
            name = f" ({node.display_name})" if node.display_name else ""
            _print(f"{'  ' * node.depth}└ {node.handle}{name}")

    run_with_services(args, run)


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser("link", help="organisation links: offer, accept, decline, end")
    lsub = p.add_subparsers(dest="link_command", required=True, metavar="SUBCOMMAND")

    q = lsub.add_parser("offer", parents=[common], help="offer a link to another actor")
    q.add_argument("actor", help="local organisation or group (who offers)")
    q.add_argument("kind", choices=("parent", "branch", "partner"), help="what OTHER is to it")
    q.add_argument("other", help="user@host or an actor URL (local or remote)")
    q.set_defaults(func=cmd_offer)

    for name, accept in (("accept", True), ("decline", False)):
        q = lsub.add_parser(name, parents=[common], help=f"{name} a received link offer")
        q.add_argument("actor")
        q.add_argument("offer", help="offer number (from `verbund links ACTOR --pending`)")
        q.set_defaults(func=_decide(accept=accept))

    q = lsub.add_parser("end", parents=[common], help="end a link (or withdraw an offer)")
    q.add_argument("actor")
    q.add_argument("other", help="user@host, an actor URL, or the link's number")
    q.set_defaults(func=cmd_end)

    q = lsub.add_parser(
        "relay", parents=[common], help="which news of a confirmed branch the actor Announces"
    )
    q.add_argument("actor", help="the parent organisation")
    q.add_argument("other", help="the branch: user@host, an actor URL, or the link's number")
    q.add_argument("relay", help="all, none, or tags:NAME,NAME")
    q.set_defaults(func=cmd_relay)

    q = sub.add_parser(
        "links",
        parents=[common],
        help="an actor's confirmed links (--pending: open offers); `links tree ACTOR`",
    )
    q.add_argument("words", nargs="+", metavar="ACTOR | tree ACTOR")
    q.add_argument("--pending", action="store_true", help="the offers still open instead")
    q.add_argument(
        "--refresh", action="store_true", help="with tree: read the network now, not the cache"
    )
    q.set_defaults(func=cmd_links)
