"""CLI commands for news: post, edit, delete, boost, unboost and the home timeline.

Mentions are resolved (WebFinger) before the transaction; the worker delivers what
these commands enqueue.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.accounts import Action, can, find_user, role_of
from actors.local import get_actor
from actors.models import Actor, RemoteActor
from actors.uris import LocalUris
from federation.content import plain_text
from outbox import content, posts
from outbox.context import PublishContext
from outbox.models import Status
from outbox.polls import PollDraft
from outbox.timelines import Page, home_timeline
from server.actions import ActionError
from server.cli.common import out as _print
from server.cli.common import run_with_services
from server.services import Services


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ActionError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ActionError(f"{path} is not UTF-8 text") from None


def _tags(values: list[str] | None) -> tuple[str, ...]:
    """`--tags a,b --tags c` → ("a", "b", "c")."""
    out: list[str] = []
    for value in values or []:
        out += [t.strip().lstrip("#") for t in value.replace(" ", ",").split(",") if t.strip()]
    return tuple(dict.fromkeys(out))


_DURATION = re.compile(r"^(\d{1,6})([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def _poll(args: argparse.Namespace) -> PollDraft | None:
    """`--poll A --poll B [--poll-expires 1d] [--poll-multiple]`; limits are checked when
    publishing (2 to 4 options, 5 minutes to 30 days)."""
    if not args.poll:
        return None
    m = _DURATION.match(args.poll_expires.strip().lower())
    if m is None:
        raise ActionError(
            f"--poll-expires {args.poll_expires!r}: use minutes, hours or days, e.g. 90m, 12h, 3d"
        )
    expires_in = timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    return PollDraft(
        options=tuple(args.poll),
        expires_in=expires_in,
        multiple=args.poll_multiple,
        hide_totals=args.poll_hide_totals,
    )


async def _author(session: AsyncSession, username: str | None, actor: Actor) -> int | None:
    """The person publishing (`--as`): must exist and may publish for the actor
    (owner or editor; instance admins always may)."""
    if username is None:
        return None
    user = await find_user(session, username)
    if user is None:
        raise ActionError(f"no person named {username!r} on this instance")
    if not user.is_admin and not can(await role_of(session, user.id, actor.id), Action.PUBLISH):
        raise ActionError(
            f"{username} may not publish for {actor.username} (needs the owner or editor role)"
        )
    return user.id


async def find_status(session: AsyncSession, ref: str) -> Status:
    """A post known here by id, by its ActivityPub id or by its page URL."""
    if ref.isdigit() and len(ref) <= 19:
        row = await session.get(Status, int(ref))
    else:
        row = await session.scalar(
            select(Status)
            .where(or_(Status.uri == ref, Status.url == ref))
            .order_by(Status.reblog_of_id.is_not(None))  # the post itself before boosts of it
        )
    if row is None:
        raise ActionError(
            f"no post {ref!r} on this instance (remote posts arrive here once an actor "
            "of ours follows their author)"
        )
    return row


async def _own_status(session: AsyncSession, ref: str, actor: Actor) -> Status:
    status = await find_status(session, ref)
    if status.local_actor_id != actor.id or status.reblog_of_id is not None:
        raise ActionError(f"post {ref} is not a post of {actor.username}")
    return status


async def _reply_target(session: AsyncSession, ref: str | None) -> str | None:
    """The ActivityPub id that `--reply-to` names: a post known here (local or remote, by
    number, id or page URL), else any http(s) URL as given; anything else is refused."""
    if ref is None:
        return None
    with contextlib.suppress(ActionError):
        return (await find_status(session, ref)).uri
    parts = urlsplit(ref)
    if parts.scheme in ("http", "https") and parts.netloc and not any(c.isspace() for c in ref):
        return ref
    raise ActionError(
        f"--reply-to {ref!r} names no post: give the number or URL of a post known here, "
        "or the http(s) URL of a remote post"
    )


def _text(svc: Services, path: str) -> str:
    """The post's text from a file (or stdin), without a BOM, within instance.max_post_chars."""
    try:
        return posts.post_text(_read(path), max_chars=svc.config.instance.max_post_chars)
    except posts.NewsError as exc:
        raise ActionError(f"{path}: {exc}; instance.max_post_chars is the limit") from None


def _context(svc: Services) -> PublishContext:
    """The same publishing context the API builds (no worker to wake: it polls)."""
    return svc.publish_context()


def cmd_post(args: argparse.Namespace) -> None:
    async def run(svc: Services) -> None:
        text = _text(svc, args.file)
        async with svc.sessionmaker() as session:
            in_reply_to = await _reply_target(session, args.reply_to)
        draft = posts.Draft(
            text=text,
            title=args.title,
            summary=args.summary,
            visibility=posts.parse_visibility(args.visibility),
            language=args.language,
            sensitive=args.sensitive,
            tags=_tags(args.tags),
            in_reply_to=in_reply_to,
            poll=_poll(args),
        )
        ctx = _context(svc)
        mentions = await ctx.resolve_mentions(text)
        async with svc.sessionmaker() as session:
            actor = await get_actor(session, args.actor)
            status = await posts.publish(
                session,
                ctx,
                actor=actor,
                draft=draft,
                mentions=mentions,
                author_user_id=await _author(session, args.as_user, actor),
            )
            await session.commit()
        _print(f"published {status.type} {status.id} ({status.visibility})")
        _print(f"  {status.url}")
        unresolved = set(content.find_mentions(text, local_host=svc.config.instance.host))
        for handle in sorted(unresolved - set(mentions)):
            _print(f"  note: @{handle} could not be resolved and stays plain text")

    run_with_services(args, run, errors=(posts.NewsError,))


def cmd_edit(args: argparse.Namespace) -> None:
    async def run(svc: Services) -> None:
        text = _text(svc, args.file) if args.file else None
        async with svc.sessionmaker() as session:
            actor = await get_actor(session, args.actor)
            previous = posts.draft_of(await _own_status(session, args.post, actor))
        draft = replace(
            previous,
            text=previous.text if text is None else text,
            title=previous.title if args.title is None else (args.title or None),
            summary=previous.summary if args.summary is None else (args.summary or None),
            language=previous.language if args.language is None else args.language,
            sensitive=previous.sensitive if args.sensitive is None else args.sensitive,
            tags=previous.tags if args.tags is None else _tags(args.tags),
        )
        ctx = _context(svc)
        mentions = await ctx.resolve_mentions(draft.text)
        async with svc.sessionmaker() as session:
            actor = await get_actor(session, args.actor)
            status = await _own_status(session, args.post, actor)
            await posts.edit(
                session, ctx, status=status, actor=actor, draft=draft, mentions=mentions
            )
            await session.commit()
        _print(f"updated {status.id}")
        _print(f"  {status.url}")

    run_with_services(args, run, errors=(posts.NewsError,))


def cmd_delete(args: argparse.Namespace) -> None:
    async def run(svc: Services) -> None:
        async with svc.sessionmaker() as session:
            actor = await get_actor(session, args.actor)
            status = await _own_status(session, args.post, actor)
            await posts.delete(session, _context(svc), status=status, actor=actor)
            await session.commit()
        _print(f"deleted {status.id}; its pages now answer 410 Gone")

    run_with_services(args, run, errors=(posts.NewsError,))


def _boost(undo: bool) -> Callable[[argparse.Namespace], None]:
    def cmd(args: argparse.Namespace) -> None:
        async def run(svc: Services) -> None:
            async with svc.sessionmaker() as session:
                actor = await get_actor(session, args.actor)
                target = await find_status(session, args.post)
                action = posts.unboost if undo else posts.boost
                await action(session, _context(svc), actor=actor, target=target)
                await session.commit()
            _print(f"{args.actor} {'no longer boosts' if undo else 'boosted'} {target.uri}")

        run_with_services(args, run, errors=(posts.NewsError,))

    return cmd


def _handle(
    uri: str, local_uris: LocalUris, acct_host: str, remotes: dict[str, RemoteActor]
) -> str:
    local = local_uris.username_of(uri)
    if local is not None:
        return f"{local}@{acct_host}"
    remote = remotes.get(uri)
    return f"{remote.username}@{remote.domain}" if remote else uri


def cmd_timeline(args: argparse.Namespace) -> None:
    async def run(svc: Services) -> None:
        host = svc.config.instance.host
        async with svc.sessionmaker() as session:
            actor = await get_actor(session, args.actor)
            rows = await home_timeline(session, actor.id, Page(limit=args.limit))
            boosted_ids = {r.reblog_of_id for r in rows if r.reblog_of_id is not None}
            boosted = {
                s.id: s
                for s in await session.scalars(select(Status).where(Status.id.in_(boosted_ids)))
            }
            uris = {r.actor_uri for r in rows} | {s.actor_uri for s in boosted.values()}
            remotes = {
                r.uri: r
                for r in await session.scalars(select(RemoteActor).where(RemoteActor.uri.in_(uris)))
            }
        if not rows:
            _print(f"{args.actor}'s home timeline is empty")
        for row in rows:
            shown = boosted.get(row.reblog_of_id) if row.reblog_of_id is not None else row
            if shown is None:
                continue
            who = _handle(shown.actor_uri, svc.uris, host, remotes)
            if shown is not row:
                who += f" (boosted by {_handle(row.actor_uri, svc.uris, host, remotes)})"
            title = shown.name or " ".join(plain_text(shown.content).split())
            if shown.type == "Note" and shown.summary:
                title = f"[CW: {shown.summary}]"
            if len(title) > 100:
                title = title[:99] + "…"
            _print(f"{row.id}  {row.published_at:%Y-%m-%d %H:%M}  {who}")
            _print(f"    {title}")
            _print(f"    {shown.url or shown.uri}")

    run_with_services(args, run, errors=(posts.NewsError,))


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    def content_options(p: argparse.ArgumentParser, *, editing: bool) -> None:
        p.add_argument(
            "--file",
            required=not editing,
            help="Markdown text of the post ('-' reads stdin)",
        )
        p.add_argument("--title", help="makes the post an Article with this title")
        p.add_argument(
            "--summary",
            help="a Note's content warning, or an Article's short summary "
            "(default: the start of its text)",
        )
        p.add_argument("--language", help="language code, such as de or en")
        p.add_argument(
            "--tags", action="append", help="extra hashtags, comma-separated (repeatable)"
        )

    p = sub.add_parser("post", parents=[common], help="publish news as an actor")
    p.add_argument("actor", help="local actor name")
    content_options(p, editing=False)
    p.add_argument(
        "--visibility",
        choices=["public", "unlisted", "followers", "private", "direct"],
        default="public",
        help="public (default), unlisted, followers (only) or direct (only mentioned actors)",
    )
    p.add_argument("--sensitive", action="store_true", help="mark the post sensitive")
    p.add_argument("--reply-to", metavar="URI", help="the post this one answers")
    p.add_argument("--as", dest="as_user", metavar="USER", help="the person writing it")
    p.add_argument(
        "--poll",
        action="append",
        metavar="OPTION",
        help="a poll option (repeat for 2 to 4 options): makes the post a poll (Question)",
    )
    p.add_argument(
        "--poll-expires",
        default="1d",
        metavar="DURATION",
        help="how long the poll runs: 90m, 12h, 3d (default 1d; 5 minutes to 30 days)",
    )
    p.add_argument("--poll-multiple", action="store_true", help="voters may pick several options")
    p.add_argument(
        "--poll-hide-totals", action="store_true", help="show counts only once the poll ends"
    )
    p.set_defaults(func=cmd_post)

    p = sub.add_parser("edit", parents=[common], help="change a post (sends Update)")
    p.add_argument("actor")
    p.add_argument("post", help="post id or URL")
    content_options(p, editing=True)
    p.add_argument("--sensitive", action=argparse.BooleanOptionalAction, default=None)
    p.set_defaults(func=cmd_edit)

    p = sub.add_parser("delete", parents=[common], help="delete a post (sends Delete)")
    p.add_argument("actor")
    p.add_argument("post", help="post id or URL")
    p.set_defaults(func=cmd_delete)

    for name, undo in (("boost", False), ("unboost", True)):
        p = sub.add_parser(
            name,
            parents=[common],
            help="undo a boost" if undo else "boost (Announce) a post to the actor's followers",
        )
        p.add_argument("actor")
        p.add_argument("post", help="post id, or its URL or ActivityPub id")
        p.set_defaults(func=_boost(undo))

    p = sub.add_parser("timeline", parents=[common], help="show an actor's home timeline")
    p.add_argument("actor")
    p.add_argument("--limit", type=int, default=20, help="how many posts (at most 40)")
    p.set_defaults(func=cmd_timeline)
