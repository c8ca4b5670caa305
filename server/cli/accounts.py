"""CLI commands for people, roles and API tokens: `verbund user|role|token …`.

The operator creates logins and hands out roles; nobody shares a password.
A token is printed once and only its hash is stored, so a lost token is
revoked and replaced, never shown again.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from sqlalchemy.ext.asyncio import AsyncSession

from actors import accounts
from actors.base import utcnow
from actors.local import get_actor
from actors.models import RoleName
from server.actions import ActionError
from server.cli.common import err, run_in_session
from server.cli.common import out as _print

__all__ = ["register"]

DEFAULT_TOKEN_SCOPES = "read write follow"


def _read_password(args: argparse.Namespace) -> str:
    """From stdin for scripts (`--password-stdin`), else asked twice without echo."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise ActionError("no terminal to ask for a password: pass --password-stdin")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat password: ") != first:
        raise ActionError("the passwords differ")
    return first


# --- users ---------------------------------------------------------------------------------


def cmd_user_create(args: argparse.Namespace) -> None:
    password = _read_password(args)

    async def run(session: AsyncSession) -> None:
        user = await accounts.create_user(
            session,
            username=args.name,
            password=password,
            email=args.email or "",
            now=utcnow(),
            is_admin=args.admin,
        )
        await session.commit()
        if user.is_admin:
            _print(f"created user {user.username}, an operator: the /admin pages are theirs")
        else:
            _print(f"created user {user.username}")
        _print(f"  give them a role: verbund role grant {user.username} ACTOR editor")

    run_in_session(args, run, errors=(accounts.AccountError,))


def cmd_user_list(args: argparse.Namespace) -> None:
    async def run(session: AsyncSession) -> None:
        users = await accounts.list_users(session)
        if not users:
            _print("no users yet: create one with `verbund user create NAME`")
        roles = await accounts.list_roles(session)
        for user in users:
            held = ", ".join(
                f"{r.actor_username} ({r.role})" for r in roles if r.user_id == user.id
            )
            _print(f"{user.username:<24} {user.email:<30} {held or '-'}")

    run_in_session(args, run, errors=(accounts.AccountError,))


def cmd_user_password(args: argparse.Namespace) -> None:
    password = _read_password(args)

    async def run(session: AsyncSession) -> None:
        user = await accounts.get_user(session, args.name)
        await accounts.set_password(session, user, password)
        await session.commit()
        _print(f"changed the password of {user.username}")

    run_in_session(args, run, errors=(accounts.AccountError,))


# --- roles ---------------------------------------------------------------------------------


def cmd_role_grant(args: argparse.Namespace) -> None:
    async def run(session: AsyncSession) -> None:
        user = await accounts.get_user(session, args.user)
        actor = await get_actor(session, args.actor)
        role = RoleName(args.role)
        await accounts.grant_role(
            session, user=user, actor=actor, role=role, now=utcnow(), keep_owner=False
        )
        await session.commit()
        _print(f"{user.username} is now {role.value} of {actor.username}")

    run_in_session(args, run, errors=(accounts.AccountError,))


def cmd_role_revoke(args: argparse.Namespace) -> None:
    async def run(session: AsyncSession) -> None:
        user = await accounts.get_user(session, args.user)
        actor = await get_actor(session, args.actor)
        await accounts.revoke_role(session, user=user, actor=actor, now=utcnow(), keep_owner=False)
        await session.commit()
        _print(
            f"{user.username} no longer acts for {actor.username}; their tokens for it are revoked"
        )

    run_in_session(args, run, errors=(accounts.AccountError,))


def cmd_role_list(args: argparse.Namespace) -> None:
    async def run(session: AsyncSession) -> None:
        actor_id = (await get_actor(session, args.actor)).id if args.actor else None
        roles = await accounts.list_roles(session, actor_id=actor_id)
        if not roles:
            _print("no roles granted yet: `verbund role grant USER ACTOR owner`")
        for r in roles:
            _print(f"{r.actor_username:<24} {r.username:<24} {r.role.value}")

    run_in_session(args, run, errors=(accounts.AccountError,))


# --- tokens --------------------------------------------------------------------------------


def cmd_token_create(args: argparse.Namespace) -> None:
    async def run(session: AsyncSession) -> None:
        user = await accounts.get_user(session, args.user)
        actor = await get_actor(session, args.actor)
        issued = await accounts.create_token(
            session,
            user=user,
            actor=actor,
            scopes=accounts.parse_scopes(args.scopes),
            name=args.name or "",
            now=utcnow(),
        )
        await session.commit()
        role = await accounts.role_of(session, user.id, actor.id)
        err(
            f"token {issued.id} for {user.username} acting for {actor.username} "
            f"({role.value if role else '?'}; scopes: {' '.join(issued.scopes)}).\n"
            "It is shown only now; use it as `Authorization: Bearer TOKEN`.\n"
        )
        _print(issued.token)

    run_in_session(args, run, errors=(accounts.AccountError,))


def cmd_token_list(args: argparse.Namespace) -> None:
    async def run(session: AsyncSession) -> None:
        user_id = (await accounts.get_user(session, args.user)).id if args.user else None
        views = await accounts.list_tokens(session, user_id=user_id, include_revoked=args.all)
        if not views:
            _print("no tokens")
        for v in views:
            used = f"{v.last_used_at:%Y-%m-%d %H:%M}" if v.last_used_at else "never used"
            state = f" revoked {v.revoked_at:%Y-%m-%d}" if v.revoked_at else ""
            who = f"{v.username or '(app)'} → {v.actor_username or '-'}"
            label = v.name or v.app_name or ""
            _print(f"{v.id:>6}  {who:<36} {' '.join(v.scopes):<24} {label:<20} {used}{state}")

    run_in_session(args, run, errors=(accounts.AccountError,))


def cmd_token_revoke(args: argparse.Namespace) -> None:
    async def run(session: AsyncSession) -> None:
        row = await accounts.revoke_token(session, args.id, now=utcnow())
        await session.commit()
        _print(f"revoked token {row.id}")

    run_in_session(args, run, errors=(accounts.AccountError,))


# --- parser --------------------------------------------------------------------------------


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser("user", help="people who log in and act for actors")
    usub = p.add_subparsers(dest="user_command", required=True, metavar="SUBCOMMAND")
    q = usub.add_parser("create", parents=[common], help="create a user (asks for a password)")
    q.add_argument("name", help="login name (letters, digits, _ . -)")
    q.add_argument("--email", help="contact address (optional)")
    q.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin (scripts)"
    )
    q.add_argument(
        "--admin",
        action="store_true",
        help="an operator of the instance (the /admin pages in the browser)",
    )
    q.set_defaults(func=cmd_user_create)
    q = usub.add_parser("list", parents=[common], help="list users and their roles")
    q.set_defaults(func=cmd_user_list)
    q = usub.add_parser("password", parents=[common], help="set a user's password")
    q.add_argument("name")
    q.add_argument("--password-stdin", action="store_true")
    q.set_defaults(func=cmd_user_password)

    p = sub.add_parser("role", help="who may act for which actor, and how")
    rsub = p.add_subparsers(dest="role_command", required=True, metavar="SUBCOMMAND")
    q = rsub.add_parser(
        "grant",
        parents=[common],
        help="give a user a role on an actor (owner: everything incl. staff; "
        "editor: publish and follow; moderator: delete posts, decide follow requests)",
    )
    q.add_argument("user")
    q.add_argument("actor")
    q.add_argument("role", choices=[r.value for r in RoleName])
    q.set_defaults(func=cmd_role_grant)
    q = rsub.add_parser("revoke", parents=[common], help="take a user's role on an actor away")
    q.add_argument("user")
    q.add_argument("actor")
    q.set_defaults(func=cmd_role_revoke)
    q = rsub.add_parser("list", parents=[common], help="list roles (of one actor)")
    q.add_argument("actor", nargs="?")
    q.set_defaults(func=cmd_role_list)

    p = sub.add_parser("token", help="API tokens: one user acting for one actor")
    tsub = p.add_subparsers(dest="token_command", required=True, metavar="SUBCOMMAND")
    q = tsub.add_parser("create", parents=[common], help="create a token (printed once)")
    q.add_argument("user")
    q.add_argument("actor", help="an actor the user holds a role on")
    q.add_argument("--name", help="a label, e.g. the script or device using it")
    q.add_argument(
        "--scopes",
        default=DEFAULT_TOKEN_SCOPES,
        help=f"OAuth scopes, space-separated (default: {DEFAULT_TOKEN_SCOPES})",
    )
    q.set_defaults(func=cmd_token_create)
    q = tsub.add_parser("list", parents=[common], help="list tokens (of one user)")
    q.add_argument("user", nargs="?")
    q.add_argument("--all", action="store_true", help="include revoked tokens")
    q.set_defaults(func=cmd_token_list)
    q = tsub.add_parser("revoke", parents=[common], help="revoke a token by number")
    q.add_argument("id", type=int)
    q.set_defaults(func=cmd_token_revoke)
