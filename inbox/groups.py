"""Receiving posts addressed to our working groups (FEP-1b12, issue 15).

After a run of Creates is stored, each one that names a local `Group` (in `to`, `cc`,
the post's `audience`, or a mention) and comes from a member of that group (an accepted
follower) is distributed by the group (`outbox.groups.announce_for_group`). Posts from
non-members are kept as any post addressed to a local actor is, and not distributed:
Lemmy's communities answer those with nothing either. Cheap when no local actor is
named: most Creates name only followers collections and as:Public.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from inbox.context import HandlerContext, Incoming
from inbox.posts import own_post
from inbox.rows import status_by_uri
from outbox.groups import addressed_groups, announce_for_group, is_member

log = logging.getLogger("verbund.inbox")


def _named(act: Incoming, prefix: str) -> list[str]:
    """Local actor URIs the Create names in `to`/`cc`, its object's `audience`, `to`, `cc`
    or mention tags, read from the wire without parsing the post (the hot path)."""
    activity = act.activity
    names: list[object] = [*activity.to, *activity.cc]
    obj = activity.objects[0] if activity.objects else None
    wire = obj.wire if obj is not None else None
    if wire is not None:
        for key in ("audience", "to", "cc"):
            value = wire.get(key)
            names.extend(value if isinstance(value, list) else [value])
        tags = wire.get("tag")
        for tag in tags if isinstance(tags, list) else [tags]:
            if isinstance(tag, dict):
                names.append(tag.get("href"))
    return [n for n in names if isinstance(n, str) and n.startswith(prefix)]


async def distribute_group_posts(
    ctx: HandlerContext, session: AsyncSession, acts: Sequence[Incoming]
) -> None:
    """Let each named local group announce the stored posts of its members. One query
    for the run tells whether any named local actor is a group at all."""
    prefix = ctx.uris.actor("")
    named = [(act, _named(act, prefix)) for act in acts]
    everyone = {uri for _, uris in named for uri in uris}
    if not everyone:
        return
    groups = {g.username_key: g for g in await addressed_groups(session, ctx.uris, everyone)}
    if not groups:
        return
    for act, uris in named:
        keys = {(ctx.uris.username_of(u) or "").lower() for u in uris}
        addressed = [groups[k] for k in keys if k in groups]
        if not addressed:
            continue
        post, _ = own_post(act)
        if post is None:
            continue
        status = await status_by_uri(session, post.id)
        if status is None:
            continue
        for group in addressed:
            if not await is_member(session, ctx.uris.actor(group.username), act.actor_uri):
                log.info(
                    "not distributing %s: %s is no member of %s",
                    post.id,
                    act.actor_uri,
                    group.username,
                )
                continue
            await announce_for_group(
                session,
                group=group,
                uris=ctx.uris,
                status=status,
                create=act.activity.body,
                now=ctx.now,
                policy=ctx.policy,
            )
