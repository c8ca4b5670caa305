"""What the timeline, compose and notifications pages share (issue 16): the actor a
person acts as on a page (their own person actor, or an organisation or group they hold
a role on, checked with `actors.accounts.can`), and timeline entries with their authors.

A page names the actor in `?actor=NAME` (forms: an `actor` field); without it, the person's
own person actor is meant. A name the person has no role on, or a role that does not
allow the page's action, is refused with 403 and nothing happens.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.accounts import Action, actors_of, can
from actors.models import Actor, ActorType, RemoteActor, RoleName
from actors.uris import LocalUris
from outbox.models import Status
from server.web.i18n import translate
from server.web.views import PostView, post_view

__all__ = [
    "AuthorView",
    "TimelineItem",
    "acting_actor",
    "author_views",
    "choices_for",
    "timeline_items",
]


async def choices_for(
    session: AsyncSession, user_id: int, action: Action
) -> list[tuple[Actor, RoleName]]:
    """The actors this person may do `action` for: their own person actor first."""
    found = [
        (actor, role)
        for actor, role in await actors_of(session, user_id)
        if can(role, action) and not actor.is_alias and not actor.is_instance
    ]
    found.sort(key=lambda pair: pair[0].type != ActorType.PERSON)
    return found


async def acting_actor(
    request: web.Request, session: AsyncSession, user_id: int, action: Action, name: str | None
) -> tuple[Actor, list[tuple[Actor, RoleName]]]:
    """The actor named `name` (default: the first choice) and every choice; 403 when the
    person may not do `action` for it, or for anyone."""
    choices = await choices_for(session, user_id, action)
    if name:
        chosen = next((a for a, _ in choices if a.username_key == name.lower()), None)
    else:
        chosen = choices[0][0] if choices else None
    if chosen is None:
        raise web.HTTPForbidden(
            text=translate(request, "You may not do this for that organisation or person.")
        )
    return chosen, choices


@dataclass(frozen=True, slots=True)
class AuthorView:
    name: str
    handle: str
    url: str
    icon_url: str | None


@dataclass(frozen=True, slots=True)
class TimelineItem:
    """One entry of a home timeline: the post (a boost shows the boosted post) and who
    wrote it, and who boosted it."""

    id: int  # the timeline's own id (a boost's wrapper id): what `since` pages by
    post: PostView
    author: AuthorView
    boosted_by: AuthorView | None


async def author_views(
    session: AsyncSession, uris: LocalUris, acct_host: str, actor_uris: Iterable[str]
) -> dict[str, AuthorView]:
    """Names, handles and links of local and remote actors by URI (two queries)."""
    wanted = set(actor_uris)
    local = {name.lower(): uri for uri in wanted if (name := uris.username_of(uri))}
    out: dict[str, AuthorView] = {}
    if local:
        for actor in await session.scalars(
            select(Actor).where(Actor.username_key.in_(list(local)))
        ):
            out[local[actor.username_key]] = AuthorView(
                name=actor.display_name or actor.username,
                handle=f"@{actor.username}@{acct_host}",
                url=uris.profile_page(actor.username),
                icon_url=actor.icon_url,
            )
    remote = [uri for uri in wanted if uri not in out]
    if remote:
        for ra in await session.scalars(select(RemoteActor).where(RemoteActor.uri.in_(remote))):
            out[ra.uri] = AuthorView(
                name=ra.display_name or ra.username,
                handle=f"@{ra.username}@{ra.domain}",
                url=ra.url or ra.uri,
                icon_url=ra.icon_url,
            )
    for uri in wanted - set(out):
        out[uri] = AuthorView(name=uri, handle="", url=uri, icon_url=None)
    return out


async def timeline_items(
    session: AsyncSession, uris: LocalUris, acct_host: str, rows: Sequence[Status]
) -> list[TimelineItem]:
    """Timeline rows (posts and boost wrappers) as pages show them."""
    boosted_ids = [r.reblog_of_id for r in rows if r.reblog_of_id is not None]
    boosted = (
        {s.id: s for s in await session.scalars(select(Status).where(Status.id.in_(boosted_ids)))}
        if boosted_ids
        else {}
    )
    shown: list[tuple[Status, Status, Status | None]] = []
    for row in rows:
        if row.reblog_of_id is None:
            shown.append((row, row, None))
        elif (target := boosted.get(row.reblog_of_id)) is not None and target.deleted_at is None:
            shown.append((row, target, row))
    authors = await author_views(
        session,
        uris,
        acct_host,
        {s.actor_uri for _, s, _ in shown} | {w.actor_uri for _, _, w in shown if w is not None},
    )
    return [
        TimelineItem(
            id=row.id,
            post=post_view(status),
            author=authors[status.actor_uri],
            boosted_by=authors[wrapper.actor_uri] if wrapper is not None else None,
        )
        for row, status, wrapper in shown
    ]
