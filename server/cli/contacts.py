"""CLI commands for contact requests (issue 14): send, list, show, reply, accept, decline,
block, report.

The operator acts for the actor, as in `verbund follow`; the daily limit then counts the
actor's requests. Refusals end as `error: <reason>` with exit code 1.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from actors.contacts import ContactView
from actors.local import list_actors
from actors.models import ContactBox, ContactDirection, ContactState
from server import actions, contact_actions
from server.cli.common import out as _print
from server.cli.common import run_with_services
from server.services import Services


def _line(view: ContactView) -> str:
    row = view.request
    arrow = "from" if row.box == ContactBox.RECEIVED else "to"
    about = [view.region_code or "", ", ".join(f"#{i}" for i in view.interests)]
    profile = " ".join(p for p in about if p)
    return (
        f"{row.id:>6}  {row.box.value:<8} {row.state.value:<8} {arrow} {view.other_handle}"
        f"{f' ({profile})' if profile else ''}  {row.created_at:%Y-%m-%d %H:%M}"
        f"  “{row.message}”"
    )


def cmd_send(args: argparse.Namespace) -> None:
    async def run(svc: Services) -> None:
        view = await actions.send_contact(
            svc,
            args.actor,
            args.to,
            args.message,
            anonymous=args.anonymous,
            disclose=args.disclose.split(",") if args.disclose else (),
        )
        how = "anonymous contact request" if args.anonymous else "contact request"
        _print(
            f"{args.actor} sent {how} {view.request.id} to {view.other_handle}; "
            "the worker delivers it"
        )

    run_with_services(args, run)


def cmd_list(args: argparse.Namespace) -> None:
    """One actor's requests, or without ACTOR every actor's that has any (the operator's
    overview), each under its name."""

    async def run(svc: Services) -> None:
        box = ContactBox.SENT if args.sent else ContactBox.RECEIVED if args.received else None
        if args.actor is not None:
            views = await actions.list_contacts(svc, args.actor, box=box)
            if not views:
                _print(f"no contact requests for {args.actor}")
            for view in views:
                _print(_line(view))
            return
        async with svc.sessionmaker() as session:
            names = [a.username for a in await list_actors(session)]
        shown = 0
        for name in names:
            views = await actions.list_contacts(svc, name, box=box)
            if views:
                _print(f"== {name}")
                shown += len(views)
            for view in views:
                _print(_line(view))
        if not shown:
            _print("no contact requests on this instance")

    run_with_services(args, run)


def cmd_show(args: argparse.Namespace) -> None:
    async def run(svc: Services) -> None:
        view = await contact_actions.contact_view(svc, args.actor, args.request)
        _print(_line(view))
        for m in view.messages:
            arrow = "<-" if m.direction == ContactDirection.IN else "->"
            _print(f"        {arrow} {m.created_at:%Y-%m-%d %H:%M}  {m.text}")

    run_with_services(args, run)


def cmd_reply(args: argparse.Namespace) -> None:
    async def run(svc: Services) -> None:
        view = await contact_actions.reply_contact(svc, args.actor, args.request, args.message)
        _print(
            f"replied to {view.other_handle} on contact request {view.request.id}; "
            "the worker delivers it"
        )

    run_with_services(args, run)


def cmd_report(args: argparse.Namespace) -> None:
    async def run(svc: Services) -> None:
        view = await contact_actions.report_contact(svc, args.actor, args.request, args.comment)
        _print(
            f"reported {view.other_handle} (contact request {view.request.id}) to its "
            "instance; the worker delivers it"
        )
        if args.decline and view.request.state == ContactState.PENDING:
            await actions.decide_contact(svc, args.actor, args.request, accept=False)
            _print(f"declined contact request {view.request.id}")

    run_with_services(args, run)


def _decide(*, accept: bool, block: bool = False) -> Callable[[argparse.Namespace], None]:
    def cmd(args: argparse.Namespace) -> None:
        async def run(svc: Services) -> None:
            view = await actions.decide_contact(
                svc,
                args.actor,
                args.request,
                accept=accept,
                follow_back=not getattr(args, "no_follow_back", False),
                block=block,
            )
            done = "blocked" if block else "accepted" if accept else "declined"
            _print(f"{done} contact request {view.request.id} from {view.other_handle}")

        run_with_services(args, run)

    return cmd


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser("contact", help="contact requests: a follow with a message")
    csub = p.add_subparsers(dest="contact_command", required=True, metavar="SUBCOMMAND")

    q = csub.add_parser("send", parents=[common], help="send a contact request")
    q.add_argument("actor", help="local actor name (who asks)")
    q.add_argument("to", help="user@host or an actor URL (local or remote)")
    q.add_argument("--message", required=True, help="what the recipient reads")
    q.add_argument(
        "--anonymous",
        action="store_true",
        help="send through a one-off alias; who asks is revealed only if accepted",
    )
    q.add_argument(
        "--disclose",
        default="",
        metavar="region,interests",
        help="with --anonymous: which of the actor's region and interests the alias shows",
    )
    q.set_defaults(func=cmd_send)

    q = csub.add_parser("list", parents=[common], help="requests an actor sent or received")
    q.add_argument("actor", nargs="?", help="a local actor (default: every actor with requests)")
    which = q.add_mutually_exclusive_group()
    which.add_argument("--sent", action="store_true", help="only requests it sent")
    which.add_argument("--received", action="store_true", help="only requests it received")
    q.set_defaults(func=cmd_list)

    q = csub.add_parser("show", parents=[common], help="one request with its messages")
    q.add_argument("actor")
    q.add_argument("request", help="request number (from `contact list`)")
    q.set_defaults(func=cmd_show)

    q = csub.add_parser(
        "reply", parents=[common], help="a direct message to the other side of a pending request"
    )
    q.add_argument("actor", help="local actor (the recipient, or who asked)")
    q.add_argument("request", help="request number (from `contact list`)")
    q.add_argument("--message", required=True)
    q.set_defaults(func=cmd_reply)

    for name, accept in (("accept", True), ("decline", False)):
        q = csub.add_parser(name, parents=[common], help=f"{name} a received request")
        q.add_argument("actor")
        q.add_argument("request", help="request number (from `contact list`)")
        if accept:
            q.add_argument(
                "--no-follow-back", action="store_true", help="accept without following back"
            )
        q.set_defaults(func=_decide(accept=accept))

    q = csub.add_parser(
        "block", parents=[common], help="decline a request and refuse more from its sender"
    )
    q.add_argument("actor")
    q.add_argument("request")
    q.set_defaults(func=_decide(accept=False, block=True))

    q = csub.add_parser(
        "report", parents=[common], help="report a request's sender to its instance (Flag)"
    )
    q.add_argument("actor")
    q.add_argument("request")
    q.add_argument("--comment", default="", help="what the sender's moderators read")
    q.add_argument(
        "--decline", action="store_true", help="decline it too (after the report is queued)"
    )
    q.set_defaults(func=cmd_report)
