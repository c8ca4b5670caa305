"""`verbund visitors`: the contact requests visitors without an account sent by e-mail
to an organisation or group: list the verified open ones, answer one by e-mail from the
instance, close one (which forgets the visitor's address)."""

from __future__ import annotations

import argparse

from actors.local import get_actor
from actors.models import Actor
from actors.visitors import VisitorError
from server import visitors as desk
from server.cli.common import out, positive, run_with_services
from server.services import Services


async def _actor(svc: Services, name: str) -> Actor:
    async with svc.sessionmaker() as session:
        return await get_actor(session, name)


def cmd_list(args: argparse.Namespace) -> None:
    async def run(svc: Services) -> None:
        rows = await desk.list_contacts(svc, await _actor(svc, args.actor))
        if not rows:
            out(f"no open visitor requests for {args.actor}")
        for r in rows:
            who = f"{r.name} <{r.email}>" if r.name else f"{r.email}"
            extra = " ".join(x for x in (r.region_code or "", *("#" + i for i in r.interests)) if x)
            answered = "  (answered)" if r.answered_at else ""
            out(f"{r.id:>6}  {r.created_at:%Y-%m-%d %H:%M}  {who}{answered}")
            if extra:
                out(f"        {extra}")
            for line in r.message.splitlines():
                out(f"        | {line}")

    run_with_services(args, run, errors=(VisitorError,))


def cmd_answer(args: argparse.Namespace) -> None:
    async def run(svc: Services) -> None:
        row = await desk.answer_contact(svc, await _actor(svc, args.actor), args.id, args.message)
        out(f"answer to visitor request {row.id} sent to {row.email}")

    run_with_services(args, run, errors=(VisitorError,))


def cmd_close(args: argparse.Namespace) -> None:
    async def run(svc: Services) -> None:
        row = await desk.close_contact(svc, await _actor(svc, args.actor), args.id)
        out(f"closed visitor request {row.id}; the visitor's address is deleted")

    run_with_services(args, run, errors=(VisitorError,))


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser("visitors", help="contact requests from visitors without an account")
    vsub = p.add_subparsers(dest="visitors_command", required=True, metavar="SUBCOMMAND")
    q = vsub.add_parser("list", parents=[common], help="list verified open requests")
    q.add_argument("actor", help="local organisation or group")
    q.set_defaults(func=cmd_list)
    q = vsub.add_parser("answer", parents=[common], help="answer a request by e-mail")
    q.add_argument("actor")
    q.add_argument("id", type=positive, help="request number (from `visitors list`)")
    q.add_argument("--message", required=True, help="the answer's text")
    q.set_defaults(func=cmd_answer)
    q = vsub.add_parser("close", parents=[common], help="close a request, deleting the address")
    q.add_argument("actor")
    q.add_argument("id", type=positive)
    q.set_defaults(func=cmd_close)
