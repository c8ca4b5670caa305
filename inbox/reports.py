"""Receiving reports (`Flag`, issue 14): a report of one of our actors is kept for our
operators (`actors.reports`); of an anonymous contact alias, with the real actor behind it.

Mastodon's shape (`ActivityPub::Activity::Flag`): the actor is the reporting server's
instance actor, `object` the reported accounts and posts, `content` the comment. Objects
that are not our actors are kept with the report as what it is about; a Flag that names
none of our actors is ignored (after the 202).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.aliases import reported_actor_of
from actors.models import Actor
from actors.reports import record_report
from federation.contacts import parse_flag
from inbox.context import HandlerContext, Incoming, ignore


async def on_flag(ctx: HandlerContext, session: AsyncSession, act: Incoming) -> None:
    flagged = parse_flag(act.activity)
    names = {
        uri: name.lower() for uri in flagged.object_uris if (name := ctx.uris.username_of(uri))
    }
    actors = {
        a.username_key: a
        for a in await session.scalars(
            select(Actor).where(
                Actor.username_key.in_(set(names.values())), Actor.is_instance.is_(False)
            )
        )
    }
    reported = {name: actors[name] for name in names.values() if name in actors}
    if not reported:
        ignore(act, "it reports none of our actors")
        return
    others = [u for u in flagged.object_uris if u not in names]
    for actor in reported.values():
        real = await reported_actor_of(session, actor)
        await record_report(
            session,
            flag_uri=act.id,
            reporter_uri=act.actor_uri,
            reported_uri=ctx.uris.actor(actor.username),
            real_actor_uri=ctx.uris.actor(real.username) if real is not None else None,
            object_uris=others,
            comment=flagged.comment,
            now=ctx.now,
        )
