"""Sending a report (`Flag`) of a remote actor to its instance (issue 14).

As Mastodon does (`ReportService`), the report comes from our instance actor, not from
the person who reported, and goes to the reported actor's own inbox: for an anonymous
contact alias that is the one inbox that knows who stands behind it. Must not import
`inbox`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from actors.local import ensure_instance_actor
from actors.models import RemoteActor
from actors.uris import LocalUris
from federation.contacts import render_flag
from federation.policy import FederationPolicy
from outbox.publish import enqueue, new_activity_uri


async def send_report(
    session: AsyncSession,
    *,
    reported: RemoteActor,
    object_uris: list[str],
    comment: str,
    uris: LocalUris,
    now: datetime,
    policy: FederationPolicy,
) -> str:
    """Queue the Flag of `reported` (and the objects in question); returns its id."""
    instance = await ensure_instance_actor(session)
    flag_uri = new_activity_uri(uris.instance_actor, "reports")
    await enqueue(
        session,
        actor=instance,
        activity=render_flag(
            flag_uri=flag_uri,
            actor_uri=uris.instance_actor,
            reported_uri=reported.uri,
            object_uris=object_uris,
            comment=comment,
        ),
        inboxes=[reported.inbox_uri],
        now=now,
        policy=policy,
    )
    return flag_uri
